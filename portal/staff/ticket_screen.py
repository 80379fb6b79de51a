"""The staff ticket page: what it shows, the choices its forms offer, and rendering it again.

The GET view and every ticket action answer with `render_ticket()`: after a refused or invalid
action the same page comes back, with the failed form (its input and errors) in place of the fresh
one of that name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from portal.domain import ladder as ladder_rules
from portal.domain import sla
from portal.extensions import db
from portal.models import Ticket
from portal.queries import choices, ticket_page
from portal.services import spot_checks
from portal.staff.forms import (
    CategoryForm,
    CloseForm,
    CustomerTierForm,
    EscalateForm,
    ExtendForm,
    LinkStaffForm,
    NoncooperationForm,
    NoteForm,
    PauseForm,
    PriorityForm,
    ReopenForm,
    ReplyForm,
    ResolveForm,
    SendBackForm,
    SeriousForm,
    TransferForm,
)
from portal.web.context import now, rules
from portal.web.forms import ActionForm

Choices = list[tuple[int, str]]


def category_choices() -> Choices:
    return [(c.id, c.name) for c in choices.active_categories(db.session)]


def department_choices() -> Choices:
    return [(d.id, d.name) for d in choices.departments(db.session)]


def staff_choices() -> Choices:
    """Staff who can be named as the subject of a complaint (R10); 0 means nobody."""
    people = [(u.id, u.name) for u in choices.staff_users(db.session) if u.role != "admin"]
    return [(0, _("Nobody")), *people]


def root_cause_choices() -> Choices:
    return [(0, _("Not recorded")), *((c.id, c.name) for c in choices.active_root_causes(db.session))]


def extension_choices() -> Choices:
    """R7: more than the normal limit and at most the maximum, in working days from receipt."""
    policy = rules().policy
    return [
        (days, _("%(days)d working days", days=days))
        for days in range(policy.resolve_working_days + 1, policy.max_working_days + 1)
    ]


def clock_view(ticket: Ticket, current: datetime) -> dict[str, Any]:
    """The two service clocks as the ticket page shows them (R3, R7)."""
    acknowledgement = sla.clock_state(
        current, started_at=ticket.received_at, due_at=ticket.ack_due_at, stopped_at=ticket.acknowledged_at
    )
    resolution = sla.clock_state(
        current,
        started_at=ticket.received_at,
        due_at=ticket.resolve_due_at,
        stopped_at=ticket.resolved_at,
        paused_at=ticket.paused_at,
    )
    return {"acknowledgement": acknowledgement, "resolution": resolution}


def ticket_context(ticket: Ticket, **forms: Any) -> dict[str, Any]:
    """Everything the page shows; `forms` (a failed form by its name) replace the fresh ones."""
    current = now()
    context: dict[str, Any] = {
        "ticket": ticket,
        "events": ticket_page.timeline(db.session, ticket.id, public_only=False),
        "attachments": ticket_page.attachments(db.session, ticket.id),
        "history": ticket_page.ticket_history(db.session, ticket.id),
        "clocks": clock_view(ticket, current),
        "action_form": ActionForm(),
        "reply_form": ReplyForm(),
        "note_form": NoteForm(),
        "category_form": CategoryForm(category=ticket.category_id, version=ticket.version),
        "priority_form": PriorityForm(priority=ticket.priority, version=ticket.version),
        "customer_tier_form": CustomerTierForm(customer_tier=ticket.customer_tier),
        "transfer_form": TransferForm(version=ticket.version),
        "resolve_form": ResolveForm(version=ticket.version),
        "reopen_form": ReopenForm(version=ticket.version),
        "close_form": CloseForm(version=ticket.version),
        "escalate_form": EscalateForm(version=ticket.version),
        "send_back_form": SendBackForm(version=ticket.version),
        "serious_form": SeriousForm(),
        "noncooperation_form": NoncooperationForm(),
        "link_staff_form": LinkStaffForm(user=ticket.concerns_user_id or 0),
        "extend_form": ExtendForm(version=ticket.version),
        "pause_form": PauseForm(),
        "now": current,
        "can_send_back": ladder_rules.can_send_back(current_user.role, ticket.tier),
        "my_recheck": spot_checks.open_recheck(db.session, current_user, ticket.id),
    }
    context.update(forms)
    # The page offers only the other departments: a ticket is not transferred to where it is.
    departments = department_choices()
    other_departments = [(i, name) for i, name in departments if i != ticket.department_id]
    context["category_form"].category.choices = category_choices()
    context["transfer_form"].department.choices = other_departments
    # R6: the owner reports another department for not cooperating — the one the work went to
    # too, after a transfer: every department but the owner's own.
    owners_department = ticket.owner.department_id if ticket.owner is not None else ticket.department_id
    context["noncooperation_form"].department.choices = [
        (i, name) for i, name in departments if i != owners_department
    ]
    context["link_staff_form"].user.choices = staff_choices()
    context["extend_form"].working_days.choices = extension_choices()
    context["resolve_form"].root_cause.choices = root_cause_choices()
    return context


def render_ticket(ticket: Ticket, status: int = 200, **forms: Any) -> ResponseReturnValue:
    return render_template("staff/ticket.html", **ticket_context(ticket, **forms)), status
