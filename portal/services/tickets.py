"""Ticket use-cases: filing, claiming, replying, routing, resolving, closing.

Every function checks `permissions.can()` and the transition table itself, even though views
check visibility first: the rule is enforced where the change happens (ASVS 1.4.1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.domain import permissions, sla, workflow
from portal.domain.calendar import WorkingCalendar
from portal.domain.errors import Conflict, NotPermitted
from portal.domain.permissions import ActorLike, Role
from portal.domain.workflow import Action, Status
from portal.models import Attachment, Category, Department, Promise, Ticket, TicketEvent, User
from portal.services import attachments as attachment_store
from portal.services import outbox
from portal.services.attachments import CheckedFile

PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("web", "phone", "letter", "visit", "transfer")


@dataclass(frozen=True)
class Rules:
    """What the services need to know about the organisation's clocks and thresholds."""

    policy: sla.SlaPolicy
    calendar: WorkingCalendar
    upload_dir: str
    reference_prefix: str = "CP"
    # (category id or None, customer tier) → targets (R23); falls back to `policy`.
    targets: Mapping[tuple[int | None, str], sla.SlaPolicy] = field(default_factory=dict)
    # Signs tracking links (the app's SECRET_KEY); changing it invalidates every link.
    link_secret: str = ""
    approval_threshold_minor: int = 50_000
    feedback_window_days: int = 7
    callback_within_hours: int = 24

    def policy_for(self, category_id: int | None, customer_tier: str = "regular") -> sla.SlaPolicy:
        return (
            self.targets.get((category_id, customer_tier))
            or self.targets.get((None, customer_tier))
            or self.policy
        )


@dataclass(frozen=True)
class Intake:
    """What a customer (or staff on their behalf, R1) tells us; shape already validated."""

    customer_name: str
    subject: str
    description: str
    kind: str = "complaint"
    channel: str = "web"
    category_id: int | None = None
    customer_email: str | None = None
    customer_phone: str | None = None
    customer_address: str | None = None
    preferred_contact: str | None = None
    about: str | None = None
    order_number: str | None = None
    feedback_kind: str | None = None
    rating: int | None = None
    consent: bool = False
    idempotency_key: str | None = None
    locale: str = "en"


@dataclass(frozen=True)
class Filed:
    ticket: Ticket
    tracking_token: str
    replayed: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tracking_token(ticket: Ticket, secret: str) -> str:
    """The customer's private link token: HMAC-SHA256 over the ticket id and its nonce (I1).

    256 bits, unrelated to the reference, recomputable by the server alone, so every message can
    carry the link while the database keeps only its hash.
    """
    if ticket.tracking_nonce is None or not secret:
        raise ValueError("a tracking link needs the ticket's nonce and the app's secret")
    digest = hmac.new(
        secret.encode("utf-8"), f"{ticket.id}:{ticket.tracking_nonce}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issue_tracking_link(ticket: Ticket, secret: str) -> str:
    """Give the ticket a new nonce (revoking any earlier link) and return its token."""
    ticket.tracking_nonce = secrets.token_hex(16)
    token = tracking_token(ticket, secret)
    ticket.tracking_token_hash = hash_token(token)
    return token


def normalise_text(value: str | None) -> str | None:
    """NFC-normalise and drop control characters other than newlines and tabs (A4, A5)."""
    if value is None:
        return None
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n")
    return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))


def _route(session: Session, intake: Intake) -> tuple[int | None, int]:
    """R5: a complaint's category decides its department; feedback goes to the feedback desk."""
    if intake.category_id is not None:
        category = session.get(Category, intake.category_id)
        if category is None or not category.active:
            raise ValueError("unknown category")
        return category.id, category.department_id
    desk = session.scalars(
        select(Department).order_by(Department.handles_feedback.desc(), Department.id).limit(1)
    ).first()
    if desk is None:
        raise ValueError("no department configured")
    return None, desk.id


def find_by_idempotency_key(session: Session, key: str) -> Ticket | None:
    return session.scalars(select(Ticket).where(Ticket.idempotency_key == key)).first()


def _replay(session: Session, ticket: Ticket, rules: Rules) -> Filed:
    """A resubmitted form returns the complaint it already created, never a second one."""
    if ticket.tracking_nonce is None:
        token = issue_tracking_link(ticket, rules.link_secret)
        session.commit()
    else:
        token = tracking_token(ticket, rules.link_secret)
    return Filed(ticket=ticket, tracking_token=token, replayed=True)


def file_ticket(
    session: Session,
    intake: Intake,
    files: list[CheckedFile],
    *,
    now: datetime,
    rules: Rules,
    registered_by: User | None = None,
) -> Filed:
    """Register a complaint or feedback with its attachments in one transaction (R1–R3).

    The reference and tracking link exist only once this commits; files are written first and
    removed again if anything fails, so nothing is ever half-stored.
    """
    if intake.idempotency_key:
        existing = find_by_idempotency_key(session, intake.idempotency_key)
        if existing is not None:
            return _replay(session, existing, rules)
    category_id, department_id = _route(session, intake)
    policy = rules.policy_for(category_id)
    ack_due = sla.acknowledge_due(now, policy)
    stored_names = attachment_store.write_files(files, rules.upload_dir)
    try:
        ticket = Ticket(
            reference=f"PENDING-{secrets.token_hex(8)}",
            kind=intake.kind,
            channel=intake.channel,
            status=Status.NEW.value,
            priority="normal",
            category_id=category_id,
            department_id=department_id,
            registered_by_id=registered_by.id if registered_by else None,
            customer_name=normalise_text(intake.customer_name) or "",
            customer_email=intake.customer_email,
            customer_phone=intake.customer_phone,
            customer_address=normalise_text(intake.customer_address),
            preferred_contact=intake.preferred_contact,
            about=normalise_text(intake.about),
            order_number=normalise_text(intake.order_number),
            subject=normalise_text(intake.subject) or "",
            description=normalise_text(intake.description) or "",
            feedback_kind=intake.feedback_kind,
            rating=intake.rating,
            received_at=now,
            consent_at=now if intake.consent else None,
            updated_at=now,
            due_at=ack_due,
            ack_due_at=ack_due,
            resolve_due_at=sla.resolve_due(now, policy, rules.calendar),
            tier=1,
            serious=False,
            customer_tier="regular",
            tracking_token_hash=hash_token(secrets.token_hex(32)),  # replaced once the id exists
            locale=intake.locale,
            idempotency_key=intake.idempotency_key,
        )
        session.add(ticket)
        session.flush()
        prefix = rules.reference_prefix if intake.kind == "complaint" else "FB"
        ticket.reference = f"{prefix}-{now.year}-{ticket.id:06d}"
        token = issue_tracking_link(ticket, rules.link_secret)
        filed_event = TicketEvent(
            ticket_id=ticket.id,
            at=now,
            actor_id=registered_by.id if registered_by else None,
            actor_kind="staff" if registered_by else "customer",
            kind="filed",
            is_public=True,
            new_value=intake.channel,
        )
        session.add(filed_event)
        outbox.notify_customer(session, ticket, "filed", now=now, ticket_event=filed_event)  # R3
        outbox.notify_staff(
            session,
            outbox.department_staff(session, department_id, (Role.LEAD,)),
            "new_ticket",
            ticket,
            now=now,
        )
        session.flush()
        for checked, stored_name in zip(files, stored_names, strict=True):
            session.add(_attachment_row(ticket, filed_event, checked, stored_name, "customer", now))
        session.commit()
    except IntegrityError:
        session.rollback()
        attachment_store.remove_files(stored_names, rules.upload_dir)
        # Two submissions of one form raced; the other one won. Answer with its complaint.
        if intake.idempotency_key:
            existing = find_by_idempotency_key(session, intake.idempotency_key)
            if existing is not None:
                return _replay(session, existing, rules)
        raise
    except BaseException:
        session.rollback()
        attachment_store.remove_files(stored_names, rules.upload_dir)
        raise
    return Filed(ticket=ticket, tracking_token=token, replayed=False)


def _attachment_row(
    ticket: Ticket,
    event: TicketEvent,
    checked: CheckedFile,
    stored_name: str,
    uploaded_by: str,
    now: datetime,
) -> Attachment:
    return Attachment(
        ticket_id=ticket.id,
        event_id=event.id,
        original_name=checked.original_name,
        stored_name=stored_name,
        content_type=checked.content_type,
        size_bytes=len(checked.data),
        sha256=checked.sha256,
        uploaded_by=uploaded_by,
        uploaded_at=now,
    )


def find_by_token(session: Session, token: str) -> Ticket | None:
    """Look a case up by its tracking token; the reference alone never opens a case (I1)."""
    if not token or len(token) > 128:
        return None
    return session.scalars(select(Ticket).where(Ticket.tracking_token_hash == hash_token(token))).first()


# --- staff actions -------------------------------------------------------------------------


def authorise(actor: ActorLike, action: Action, ticket: Ticket) -> Status:
    """Ask both rules — who may, and whether the status allows — and return the next status."""
    if not permissions.can(actor, action, ticket):
        raise NotPermitted(f"not permitted to {action.value} this ticket")
    return workflow.next_status(Status(ticket.status), action)


def check_version(ticket: Ticket, expected_version: int | None) -> None:
    if expected_version is not None and ticket.version != expected_version:
        raise Conflict("the ticket changed since you opened it")


# What counts as answering the customer in writing (R13): not a claim or an acknowledgement.
FIRST_RESPONSE_KINDS = frozenset({"reply", "promised", "resolved"})


def record_event(
    session: Session,
    ticket: Ticket,
    actor: ActorLike | None,
    now: datetime,
    kind: str,
    *,
    public: bool = False,
    body: str | None = None,
    old: str | None = None,
    new: str | None = None,
    system: bool = False,
) -> TicketEvent:
    """Append one line to the ticket's history; with no actor it is the customer's or the system's."""
    if actor is not None and public and kind in FIRST_RESPONSE_KINDS and ticket.first_response_at is None:
        ticket.first_response_at = now  # R21: reported as "time to first response"
    event = TicketEvent(
        ticket_id=ticket.id,
        at=now,
        actor_id=actor.id if actor else None,
        actor_kind="staff" if actor else ("system" if system else "customer"),
        kind=kind,
        is_public=public,
        body=body,
        old_value=old,
        new_value=new,
    )
    session.add(event)
    return event


def _acknowledge_if_new(ticket: Ticket, now: datetime) -> None:
    """R3 met: the acknowledgement clock stops and the resolution clock (R7) becomes the due."""
    if ticket.acknowledged_at is None:
        ticket.acknowledged_at = now
        ticket.due_at = ticket.resolve_due_at


def claim(session: Session, actor: ActorLike, ticket: Ticket, *, now: datetime, rules: Rules) -> None:
    """R6: the first to claim owns the case; a second claim — stale page or race — is a Conflict."""
    if ticket.owner_id is not None and permissions.can_view(actor, ticket):
        raise Conflict("someone else claimed this ticket first")
    new_status = authorise(actor, Action.CLAIM, ticket)
    was_new = ticket.acknowledged_at is None
    values: dict[str, object] = {
        "owner_id": actor.id,
        "status": new_status.value,
        "updated_at": now,
        "version": Ticket.version + 1,
    }
    if was_new:
        values["acknowledged_at"] = now
        values["due_at"] = ticket.resolve_due_at
    result = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.owner_id.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict("someone else claimed this ticket first")
    record_event(session, ticket, actor, now, "claimed", public=True, new=str(actor.id))
    session.commit()
    session.refresh(ticket)


def acknowledge(session: Session, actor: ActorLike, ticket: Ticket, *, now: datetime, rules: Rules) -> None:
    ticket.status = authorise(actor, Action.ACKNOWLEDGE, ticket).value
    _acknowledge_if_new(ticket, now)
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "acknowledged", public=True)
    session.commit()


def reply(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    body: str,
    *,
    now: datetime,
    rules: Rules,
    promise_due: datetime | None = None,
) -> None:
    """A public reply the customer reads on the tracking page (R13); the first one acknowledges.

    Any public update keeps the promises that are still open (R8); a new promise may be given.
    """
    ticket.status = authorise(actor, Action.REPLY, ticket).value
    if promise_due is not None:
        authorise(actor, Action.PROMISE, ticket)
        if promise_due <= now:
            raise ValueError("a promised update must be in the future")
    _acknowledge_if_new(ticket, now)
    ticket.updated_at = now
    reply_event = record_event(session, ticket, actor, now, "reply", public=True, body=normalise_text(body))
    outbox.notify_customer(session, ticket, "reply", now=now, ticket_event=reply_event)  # R13
    keep_promises(session, ticket, now)
    if promise_due is not None:
        session.add(Promise(ticket_id=ticket.id, made_by_id=actor.id, made_at=now, due_at=promise_due))
        record_event(session, ticket, actor, now, "promised", public=True, new=promise_due.isoformat())
        session.flush()
        refresh_promise_due(session, ticket)
    session.commit()


def keep_promises(session: Session, ticket: Ticket, now: datetime) -> None:
    """R8: a public update given in time keeps every open promise on the ticket."""
    session.execute(
        update(Promise)
        .where(
            Promise.ticket_id == ticket.id,
            Promise.kept_at.is_(None),
            Promise.missed_at.is_(None),
            Promise.due_at >= now,
        )
        .values(kept_at=now)
        .execution_options(synchronize_session=False)
    )
    refresh_promise_due(session, ticket)


def refresh_promise_due(session: Session, ticket: Ticket) -> None:
    ticket.promise_due_at = session.scalar(
        select(func.min(Promise.due_at)).where(
            Promise.ticket_id == ticket.id, Promise.kept_at.is_(None), Promise.missed_at.is_(None)
        )
    )


def add_note(session: Session, actor: ActorLike, ticket: Ticket, body: str, *, now: datetime) -> None:
    """An internal note: staff only, never on the customer's page."""
    authorise(actor, Action.NOTE, ticket)
    record_event(session, ticket, actor, now, "note", body=normalise_text(body))
    session.commit()


def recategorise(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    category_id: int,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    authorise(actor, Action.RECATEGORISE, ticket)
    check_version(ticket, expected_version)
    category = session.get(Category, category_id)
    if category is None or not category.active:
        raise ValueError("unknown category")
    old = ticket.category.name if ticket.category else None
    ticket.category_id = category.id
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "recategorised", old=old, new=category.name)
    session.commit()


def reprioritise(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    priority: str,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    authorise(actor, Action.REPRIORITISE, ticket)
    check_version(ticket, expected_version)
    if priority not in PRIORITIES:
        raise ValueError("unknown priority")
    old = ticket.priority
    ticket.priority = priority
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "reprioritised", old=old, new=priority)
    session.commit()


def transfer(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    department_id: int,
    note: str,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    """Hand the work to another department; R6: ownership does not move with the work."""
    authorise(actor, Action.TRANSFER, ticket)
    check_version(ticket, expected_version)
    department = session.get(Department, department_id)
    if department is None:
        raise ValueError("unknown department")
    if department.id == ticket.department_id:
        raise ValueError("the ticket is already with that department")
    old = ticket.department.name
    ticket.department_id = department.id
    ticket.updated_at = now
    record_event(
        session,
        ticket,
        actor,
        now,
        "transferred",
        body=normalise_text(note),
        old=old,
        new=department.name,
    )
    outbox.notify_staff(
        session,
        outbox.department_staff(session, department.id, (Role.RESPONDER, Role.LEAD)),
        "transferred",
        ticket,
        now=now,
    )
    session.commit()


def reopen(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    reason: str,
    *,
    now: datetime,
    rules: Rules,
    expected_version: int | None = None,
) -> None:
    """R16: not resolved for the customer means not done; the resolution clock restarts."""
    new_status = authorise(actor, Action.REOPEN, ticket)
    check_version(ticket, expected_version)
    restart_resolution_clock(ticket, now, rules)
    ticket.status = new_status.value
    ticket.updated_at = now
    event = record_event(session, ticket, actor, now, "reopened", public=True, body=normalise_text(reason))
    outbox.notify_customer(session, ticket, "reopened", now=now, ticket_event=event)
    session.commit()


def resume_clock(
    session: Session, ticket: Ticket, actor: ActorLike | None, now: datetime, rules: Rules
) -> None:
    """A paused clock keeps the working days it had left; the caller commits."""
    if ticket.paused_at is None:
        return
    ticket.resolve_due_at = sla.resumed_due(ticket.paused_at, ticket.resolve_due_at, now, rules.calendar)
    if ticket.acknowledged_at is not None:
        ticket.due_at = ticket.resolve_due_at
    ticket.paused_at = None
    ticket.pause_reason = None
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "clock_resumed", system=actor is None)


def restart_resolution_clock(ticket: Ticket, now: datetime, rules: Rules) -> None:
    """R16: a reopened case gets a fresh resolution clock from the moment it reopens."""
    policy = rules.policy_for(ticket.category_id, ticket.customer_tier)
    ticket.reopen_count = (ticket.reopen_count or 0) + 1  # R16, counted for the reopen rate (R21)
    ticket.resolved_at = None
    ticket.resolve_breached_at = None
    ticket.extended_at = None
    ticket.resolve_due_at = sla.resolve_due(now, policy, rules.calendar)
    ticket.due_at = ticket.resolve_due_at


def close(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    new_status = authorise(actor, Action.CLOSE, ticket)
    check_version(ticket, expected_version)
    ticket.status = new_status.value
    ticket.closed_at = now
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "closed", public=True)
    session.commit()


def add_customer_message(
    session: Session,
    ticket: Ticket,
    body: str,
    files: list[CheckedFile],
    *,
    now: datetime,
    rules: Rules,
) -> None:
    """The customer writes again or adds material through their tracking link (R13)."""
    workflow.next_status(Status(ticket.status), Action.CUSTOMER_MESSAGE)
    stored_names = attachment_store.write_files(files, rules.upload_dir)
    try:
        event = record_event(
            session, ticket, None, now, "customer_message", public=True, body=normalise_text(body)
        )
        ticket.updated_at = now
        resume_clock(session, ticket, None, now, rules)  # the wait for the customer is over
        session.flush()
        for checked, stored_name in zip(files, stored_names, strict=True):
            session.add(_attachment_row(ticket, event, checked, stored_name, "customer", now))
        session.commit()
    except BaseException:
        session.rollback()
        attachment_store.remove_files(stored_names, rules.upload_dir)
        raise


def resend_tracking_link(
    session: Session, reference: str, contact: str, *, now: datetime, rules: Rules
) -> bool:
    """ "Lost my link": if the reference and contact match, send a new link to the contact on file.

    The caller shows the same answer whatever this returns, so nobody learns whether a pair
    exists (security.md I8); the old link stops working (I5).
    """
    ticket = session.scalars(select(Ticket).where(Ticket.reference == reference.strip().upper())).first()
    if ticket is None or ticket.status == Status.CLOSED.value:
        return False
    given = contact.strip().lower()
    matches = bool(given) and given in {
        (ticket.customer_email or "").lower(),
        (ticket.customer_phone or "").lower(),
    }
    if not matches:
        return False
    issue_tracking_link(ticket, rules.link_secret)
    outbox.notify_customer(session, ticket, "link_resent", now=now)
    session.commit()
    return True
