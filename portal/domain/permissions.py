"""Who may do what to which ticket: `can(actor, action, ticket)` and the visibility rule.

R20 (confidentiality): responders and leads see their department's tickets and the ones they
own; managers see all; administrators configure the portal but do not read complaints.
R10 (recusal): the staff member a complaint is about never sees it, whatever their role.
Imports nothing from Flask or SQLAlchemy; `visibility.visible_tickets()` is the SQL twin of
`can_view()` and the tests hold the two to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from portal.domain import workflow
from portal.domain.errors import NotPermitted
from portal.domain.workflow import Action


class Role(StrEnum):
    RESPONDER = "responder"
    LEAD = "lead"
    MANAGER = "manager"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.RESPONDER, Role.LEAD, Role.MANAGER})


class ActorLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def department_id(self) -> int | None: ...


class TicketLike(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def department_id(self) -> int: ...
    @property
    def owner_id(self) -> int | None: ...
    @property
    def concerns_user_id(self) -> int | None: ...


@dataclass(frozen=True)
class Actor:
    id: int
    role: str
    department_id: int | None


@dataclass(frozen=True)
class TicketFacts:
    status: str
    department_id: int
    owner_id: int | None = None
    concerns_user_id: int | None = None


def is_staff(actor: ActorLike) -> bool:
    return actor.role in STAFF_ROLES


def can_view(actor: ActorLike, ticket: TicketLike) -> bool:
    """Decide whether the actor may see the ticket at all (R10, R20)."""
    if not is_staff(actor):
        return False  # admins configure, they do not read complaints (domain.md, R20)
    if ticket.concerns_user_id == actor.id:
        return False  # R10: the person complained about never sees the handling
    if actor.role == Role.MANAGER:
        return True
    return ticket.department_id == actor.department_id or ticket.owner_id == actor.id


def _is_owner(actor: ActorLike, ticket: TicketLike) -> bool:
    return ticket.owner_id is not None and ticket.owner_id == actor.id


def _leads_department(actor: ActorLike, ticket: TicketLike) -> bool:
    return actor.role == Role.LEAD and actor.department_id == ticket.department_id


def _directs(actor: ActorLike, ticket: TicketLike) -> bool:
    """Owner, the lead of the ticket's department, or a manager: those who steer the case."""
    return _is_owner(actor, ticket) or _leads_department(actor, ticket) or actor.role == Role.MANAGER


def can(actor: ActorLike, action: Action, ticket: TicketLike) -> bool:
    """Decide whether `actor` may perform `action` on `ticket` (ignoring its status and tier)."""
    if not can_view(actor, ticket):
        return False
    if action in (
        Action.VIEW,
        Action.NOTE,
        Action.REPLY,
        Action.ACKNOWLEDGE,
        Action.PROMISE,
        Action.MARK_SERIOUS,  # R6: nobody may sit on a serious problem
    ):
        return True
    if action == Action.CLAIM:
        return ticket.owner_id is None  # R6: the first claim wins and ownership never moves
    if action in (Action.RESOLVE, Action.PROPOSE):
        # R4: whoever first answers an unowned small problem may resolve it (and so owns it).
        return ticket.owner_id is None or _directs(actor, ticket)
    if action in (Action.APPROVE, Action.REJECT):
        return actor.role == Role.MANAGER  # four-eyes is checked against the proposal (approval.py)
    if action == Action.EXTEND:
        # R7: the special-case deadline is approved above the owner.
        return not _is_owner(actor, ticket) and (
            _leads_department(actor, ticket) or actor.role == Role.MANAGER
        )
    if action == Action.SEND_BACK:
        return _leads_department(actor, ticket) or actor.role == Role.MANAGER
    if action == Action.REPORT_NONCOOPERATION:
        return _is_owner(actor, ticket)  # R6: the owner may report an uncooperative department
    if action in (
        Action.RECATEGORISE,
        Action.REPRIORITISE,
        Action.TRANSFER,
        Action.ESCALATE,
        Action.PAUSE,
        Action.RESUME,
        Action.LINK_STAFF,
        Action.RECORD_CALLBACK,
        Action.REOPEN,
        Action.CLOSE,
    ):
        return _directs(actor, ticket)
    return False  # customer and system actions are never a staff member's


def can_act(actor: ActorLike, action: Action, ticket: TicketLike) -> bool:
    """Both questions at once: may this actor, and does the status allow it now."""
    return can(actor, action, ticket) and workflow.is_allowed(workflow.Status(ticket.status), action)


def available_actions(actor: ActorLike, ticket: TicketLike) -> frozenset[Action]:
    """Return every action the actor could take on the ticket now (for showing buttons)."""
    return frozenset(a for a in Action if can_act(actor, a, ticket))


def report_department(actor: ActorLike, requested: int | None) -> int | None:
    """Which department's figures the actor may see (R20); None means the whole organisation.

    Managers see every department or the one they pick; a lead sees only their own department,
    and asking for another is refused rather than quietly answered with their own.
    """
    if actor.role == Role.MANAGER:
        return requested
    if actor.role == Role.LEAD:
        if requested is not None and requested != actor.department_id:
            raise NotPermitted("a lead sees only their own department's figures")
        return actor.department_id
    raise NotPermitted("reports are for leads and managers")


def can_manage_improvements(actor: ActorLike, department_id: int) -> bool:
    """R21: managers steer every improvement action; a lead those of their own department."""
    return actor.role == Role.MANAGER or (actor.role == Role.LEAD and actor.department_id == department_id)
