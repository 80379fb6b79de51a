"""Database tables. Columns are typed with Mapped[...]; models hold data and never commit.

Times are stored as UTC and always come back timezone-aware (UTCDateTime), on SQLite and
PostgreSQL alike. The indexes are chosen for the queue (department/owner/status then due time)
so that the first page stays as fast at a million tickets as at a thousand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import ClassVar

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator
from werkzeug.security import check_password_hash, generate_password_hash

from portal.domain.permissions import Role
from portal.domain.workflow import Status
from portal.extensions import db


class UTCDateTime(TypeDecorator[datetime]):
    """Store naive UTC, hand back aware UTC, refuse naive input (a naive time is a bug)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Department(db.Model):
    __tablename__ = "department"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Feedback (suggestions, praise, questions) has no category; it goes to this department.
    handles_feedback: Mapped[bool] = mapped_column(Boolean, default=False)


class Category(db.Model):
    __tablename__ = "category"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # R5: the category decides the department that handles the complaint.
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    department: Mapped[Department] = relationship()


class User(UserMixin, db.Model):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.RESPONDER.value)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on password change or deactivation: every existing session stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Two-step sign-in (TOTP, RFC 6238), sealed by services/two_factor.py with a key derived from
    # SECRET_KEY: on once `totp_secret` is set. `totp_pending_secret` is the one being set up until
    # a current code confirms it (never in the session cookie); `totp_last_step` is the last time
    # step a code was accepted for, so no code is accepted twice (ASVS 2.8.4).
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(255))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    department: Mapped[Department] = relationship()

    @property
    def two_factor_on(self) -> bool:
        return self.totp_secret is not None

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return bool(self.active)


class RecoveryCode(db.Model):
    """A single-use code that stands in for the authenticator app (ASVS 2.6.1, 2.6.2).

    Shown once when two-step sign-in is turned on; only a SHA-256 of it with a random per-code salt
    is kept. Using one stamps `used_at`, by a conditional UPDATE, so it opens one session only.
    """

    __tablename__ = "recovery_code"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Ticket(db.Model):
    __tablename__ = "ticket"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="complaint")  # complaint | feedback
    channel: Mapped[str] = mapped_column(String(20), default="web")  # R1
    status: Mapped[str] = mapped_column(String(20), default=Status.NEW.value)
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # R10: the staff member the complaint is about; they never see it.
    concerns_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    customer_name: Mapped[str] = mapped_column(String(100))
    customer_email: Mapped[str | None] = mapped_column(String(254))
    customer_phone: Mapped[str | None] = mapped_column(String(32))
    customer_address: Mapped[str | None] = mapped_column(String(300))
    preferred_contact: Mapped[str | None] = mapped_column(String(10))
    about: Mapped[str | None] = mapped_column(String(200))
    order_number: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    feedback_kind: Mapped[str | None] = mapped_column(String(20))
    rating: Mapped[int | None] = mapped_column(Integer)
    resolution_summary: Mapped[str | None] = mapped_column(Text)

    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The next deadline on the ticket's clock: acknowledgement while new, resolution after.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # R3 / R7 clocks. A breach is stamped once, by the sweep, which is what makes it idempotent.
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolve_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ack_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    extension_reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pause_reason: Mapped[str | None] = mapped_column(String(300))
    # R8: the earliest promised update still open, kept here so the queue needs no join.
    promise_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # R9: 1 responder, 2 department lead, 3 manager. The owner stays the owner (R6).
    tier: Mapped[int] = mapped_column(Integer, default=1)
    serious: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_tier: Mapped[str] = mapped_column(String(10), default="regular")  # R23
    # R15/R16: the customer's answer to the outcome.
    customer_satisfied: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    customer_feedback: Mapped[str | None] = mapped_column(Text)
    customer_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first written answer to the customer (a reply, a promise or the outcome): the
    # dashboard's "time to first response" (R13, R21), kept here so reports need no event scan.
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # R16: how often the case was reopened because it was not done for the customer.
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # R21: why it happened, recorded with the resolution that takes effect.
    root_cause_id: Mapped[int | None] = mapped_column(ForeignKey("root_cause.id"))
    # The customer's language when filing: their notifications are written in it (R13).
    locale: Mapped[str] = mapped_column(String(10), default="en")

    # The tracking link is a bearer secret: HMAC(SECRET_KEY, id:nonce). Only its SHA-256 is kept
    # for look-up, so a database dump alone reveals no working link; rotating the nonce revokes it.
    tracking_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tracking_nonce: Mapped[str | None] = mapped_column(String(32))
    # One complaint per rendered form, however often it is submitted (security.md §3.4).
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    category: Mapped[Category | None] = relationship()
    department: Mapped[Department] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    registered_by: Mapped[User | None] = relationship(foreign_keys=[registered_by_id])
    concerns_user: Mapped[User | None] = relationship(foreign_keys=[concerns_user_id])
    extended_by: Mapped[User | None] = relationship(foreign_keys=[extended_by_id])

    __mapper_args__: ClassVar[dict[str, object]] = {"version_id_col": version}
    __table_args__ = (
        Index("ix_ticket_department_status_due", "department_id", "status", "due_at", "id"),
        Index("ix_ticket_owner_status_due", "owner_id", "status", "due_at", "id"),
        Index("ix_ticket_status_due", "status", "due_at", "id"),
        Index("ix_ticket_received_at", "received_at"),
        Index("ix_ticket_status_ack_due", "status", "ack_due_at"),
        Index("ix_ticket_status_resolve_due", "status", "resolve_due_at"),
        Index("ix_ticket_status_resolved_at", "status", "resolved_at"),
        Index("ix_ticket_promise_due", "promise_due_at"),
        # Reports (R21) select by when a case was resolved, whatever its status is now.
        Index("ix_ticket_resolved_at", "resolved_at"),
    )


class TicketEvent(db.Model):
    """One append-only line of a ticket's history; the timeline is built from these alone."""

    __tablename__ = "ticket_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_kind: Mapped[str] = mapped_column(String(10))  # staff | customer | system
    kind: Mapped[str] = mapped_column(String(30))
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str | None] = mapped_column(Text)
    old_value: Mapped[str | None] = mapped_column(String(200))
    new_value: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_ticket_event_ticket_at", "ticket_id", "at", "id"),)


class Attachment(db.Model):
    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_event.id"))
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))  # R2: originals are kept unaltered
    uploaded_by: Mapped[str] = mapped_column(String(10))  # customer | staff
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RootCause(db.Model):
    """A managed list of causes (R21), recorded with each resolution."""

    __tablename__ = "root_cause"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


improvement_action_ticket = db.Table(
    "improvement_action_ticket",
    db.Column("action_id", ForeignKey("improvement_action.id", ondelete="CASCADE"), primary_key=True),
    db.Column("ticket_id", ForeignKey("ticket.id"), primary_key=True, index=True),
)


class ImprovementAction(db.Model):
    """R21: a change made because of a pattern in complaints, and a review of whether it worked."""

    __tablename__ = "improvement_action"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    root_cause_id: Mapped[int | None] = mapped_column(ForeignKey("root_cause.id"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="planned")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    effect_review: Mapped[str | None] = mapped_column(Text)
    effective: Mapped[bool | None] = mapped_column(Boolean)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    department: Mapped[Department] = relationship()
    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    root_cause: Mapped[RootCause | None] = relationship()
    category: Mapped[Category | None] = relationship()


class SpotCheck(db.Model):
    """R18: one quarter's random re-check of resolved complaints, reproducible from its seed."""

    __tablename__ = "spot_check"
    id: Mapped[int] = mapped_column(primary_key=True)
    quarter: Mapped[str] = mapped_column(String(7), unique=True)  # "2026-Q3": one draw a quarter
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    percent: Mapped[int] = mapped_column(Integer)
    seed: Mapped[str] = mapped_column(String(64))
    population_size: Mapped[int] = mapped_column(Integer)
    # SHA-256 of the population's ticket ids: a later re-draw can prove it saw the same set.
    population_digest: Mapped[str] = mapped_column(String(64))
    drawn_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime)
    drawn_by: Mapped[User] = relationship()


class SpotCheckItem(db.Model):
    """One sampled complaint: who re-checks it and what they found (R18)."""

    __tablename__ = "spot_check_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    spot_check_id: Mapped[int] = mapped_column(ForeignKey("spot_check.id"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recontacted: Mapped[bool | None] = mapped_column(Boolean)
    outcome_held: Mapped[bool | None] = mapped_column(Boolean)
    findings: Mapped[str | None] = mapped_column(Text)
    spot_check: Mapped[SpotCheck] = relationship()
    ticket: Mapped[Ticket] = relationship()
    reviewer: Mapped[User | None] = relationship()

    __table_args__ = (UniqueConstraint("spot_check_id", "ticket_id", name="uq_spot_check_item_ticket"),)


class Notification(db.Model):
    """The outbox (R13): a row is written in the same transaction as the change that causes it.

    A rolled-back change leaves no row, so nobody hears of it; a committed one always has its row,
    so nobody is forgotten. The dispatcher renders and sends it later, with retries; the rendered
    subject and text are kept so administrators can see what went out. Staff in-app notifications
    are rows with channel "in_app" that are never sent, only read.
    """

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))  # email | sms | in_app
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    ticket_event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_event.id"))
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    to_address: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(10), default="en")
    # pending | sending | sent | failed | dead | dropped (withheld: recipient may not see it, R10)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(250))
    body_text: Mapped[str | None] = mapped_column(Text)
    ticket: Mapped[Ticket | None] = relationship()
    ticket_event: Mapped[TicketEvent | None] = relationship()

    __table_args__ = (
        Index("ix_notification_status_next", "status", "next_attempt_at"),
        Index("ix_notification_recipient_read", "recipient_user_id", "read_at", "id"),
    )


class Escalation(db.Model):
    """One move on the ladder (R9): who moved it, why, and who was told."""

    __tablename__ = "escalation"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    from_tier: Mapped[int] = mapped_column(Integer)
    to_tier: Mapped[int] = mapped_column(Integer)
    cause: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    notified: Mapped[str | None] = mapped_column(Text)  # names of the people now handling it
    actor: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_escalation_at", "at"),)


class Promise(db.Model):
    """A time by which the customer was promised an update (R8)."""

    __tablename__ = "promise"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    made_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kept_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    missed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # "coming due" sent once
    made_by: Mapped[User] = relationship()

    __table_args__ = (Index("ix_promise_open_due", "kept_at", "missed_at", "due_at"),)


class ResolutionProposal(db.Model):
    """A proposed resolution (R11, R12): the customer sees nothing of it until it is approved."""

    __tablename__ = "resolution_proposal"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    summary: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(30))
    amount_minor: Mapped[int | None] = mapped_column(Integer)  # money in minor units, never float
    customer_reply: Mapped[str] = mapped_column(Text)
    root_cause_id: Mapped[int | None] = mapped_column(ForeignKey("root_cause.id"))
    approval_reasons: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    proposed_by: Mapped[User] = relationship(foreign_keys=[proposed_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    ticket: Mapped[Ticket] = relationship()


class Callback(db.Model):
    """The owner's follow-up call after resolution (R17)."""

    __tablename__ = "callback"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reached: Mapped[bool | None] = mapped_column(Boolean)
    satisfied: Mapped[bool | None] = mapped_column(Boolean)
    notes: Mapped[str | None] = mapped_column(Text)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # "coming due" sent once
    ticket: Mapped[Ticket] = relationship()

    __table_args__ = (
        Index("ix_callback_owner_open_due", "owner_id", "completed_at", "due_at"),
        Index("ix_callback_due", "due_at"),  # the monthly callback summary (R17)
    )


class CooperationReport(db.Model):
    """The owner reports that another department is not cooperating (R6); managers see it."""

    __tablename__ = "cooperation_report"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    department: Mapped[Department] = relationship()
    reported_by: Mapped[User] = relationship()
    ticket: Mapped[Ticket] = relationship()


class ServiceTarget(db.Model):
    """Targets per category and customer tier (R3, R7, R23); no category means the default."""

    __tablename__ = "service_target"
    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    customer_tier: Mapped[str] = mapped_column(String(10), default="regular")
    acknowledge_hours: Mapped[int] = mapped_column(Integer, default=24)
    resolve_working_days: Mapped[int] = mapped_column(Integer, default=3)
    max_working_days: Mapped[int] = mapped_column(Integer, default=7)
    category: Mapped[Category | None] = relationship()

    __table_args__ = (UniqueConstraint("category_id", "customer_tier", name="uq_service_target_scope"),)


class ClosureDay(db.Model):
    """A day the organisation is shut beyond public holidays; clocks skip it (R7)."""

    __tablename__ = "closure_day"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    reason: Mapped[str] = mapped_column(String(200))


class Setting(db.Model):
    """Organisation settings an administrator changes at run time (holiday country, thresholds)."""

    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class AuditLog(db.Model):
    """Who did what (R12, R20): sign-ins, refused access, every decision. Append-only.

    Database triggers refuse UPDATE and DELETE (migration 0005); each row also carries the SHA-256
    of the row before it and of itself, so a rewrite shows even where a trigger was dropped
    (`flask audit-verify`).
    """

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    row_hash: Mapped[str] = mapped_column(String(64), default="")
    actor: Mapped[User | None] = relationship()

    # The audit screen filters by person or by kind, newest first (keyset on id).
    __table_args__ = (
        Index("ix_audit_log_actor_id", "actor_id", "id"),
        Index("ix_audit_log_action_id", "action", "id"),
    )


class AuditChain(db.Model):
    """The head of the audit chain: one row, locked by every audit write so the chain never forks."""

    __tablename__ = "audit_chain"
    id: Mapped[int] = mapped_column(primary_key=True)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="")


class EventRedaction(db.Model):
    """The one sanctioned rewrite of a ticket event (retention's anonymisation, R19): the trigger on
    `ticket_event` lets an UPDATE through only for an event named here, and only of its texts."""

    __tablename__ = "event_redaction"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("ticket_event.id"), unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(String(200))


@event.listens_for(TicketEvent, "before_update")
@event.listens_for(TicketEvent, "before_delete")
@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
@event.listens_for(EventRedaction, "before_update")
@event.listens_for(EventRedaction, "before_delete")
def _refuse_rewriting_history(mapper: object, connection: object, target: object) -> None:
    raise RuntimeError("ticket events and audit rows are append-only")
