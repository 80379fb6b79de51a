"""What customers send: a new complaint or feedback (R1–R3, R5), and a later message on their case.

Files are written under temporary names before the rows commit, removed again if the commit
fails, and given their final names once it succeeded (`attachments.write_files` / `publish_files`),
so nothing a customer sent is ever half-stored, and a process killed before the commit leaves no
file that looks like an attachment; a resubmitted form answers with the complaint it created.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.domain import permissions, sla, workflow
from portal.domain.permissions import Role
from portal.domain.text import normalise_text
from portal.domain.workflow import Action, Status
from portal.models import Attachment, Category, Department, Ticket, TicketEvent, User
from portal.services import attachments as attachment_store
from portal.services import outbox
from portal.services.attachments import CheckedFile
from portal.services.events import record_event
from portal.services.settings import Rules
from portal.services.tickets import resume_clock
from portal.services.tracking import hash_token, issue_tracking_link, tracking_token


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
    resolve_due = sla.resolve_due(now, policy, rules.calendar)
    # R6: staff who register a complaint took it first, so they own it, whichever department
    # handles it (the visibility rule then lets them see it: the confirmation, the case).
    owner = registered_by if registered_by is not None and permissions.is_staff(registered_by) else None
    # R2: a letter or visit may give only a postal address; then the post is the way to answer.
    postal_only = not intake.customer_email and not intake.customer_phone and bool(intake.customer_address)
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
            preferred_contact="post" if postal_only else intake.preferred_contact,
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
            resolve_due_at=resolve_due,
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
        if owner is not None:
            _claim_at_registration(session, ticket, owner, now)
        # With only a postal address there is nobody to mail: notify_customer adds no row (R2).
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
    attachment_store.publish_files(stored_names, rules.upload_dir)  # the rows exist: now the names
    return Filed(ticket=ticket, tracking_token=token, replayed=False)


def _claim_at_registration(session: Session, ticket: Ticket, owner: User, now: datetime) -> None:
    """R6: what `tickets.claim` sets — owner, status, acknowledgement — and its "claimed" line."""
    ticket.owner_id = owner.id
    ticket.status = workflow.next_status(Status(ticket.status), Action.CLAIM).value
    ticket.acknowledged_at = now
    ticket.due_at = ticket.resolve_due_at
    record_event(session, ticket, owner, now, "claimed", public=True, new=str(owner.id))


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
    attachment_store.publish_files(stored_names, rules.upload_dir)
