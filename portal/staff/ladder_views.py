"""Ticket actions of the escalation ladder (R6, R9, R10) and of the service clocks (R7, R23).

Each is a body under `@ticket_action` (portal/staff/actions.py), which gives it the view, the
answers and the audit every ticket action shares.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.extensions import db
from portal.models import Ticket
from portal.services import clocks, ladder
from portal.staff.actions import ticket_action
from portal.staff.forms import (
    CustomerTierForm,
    EscalateForm,
    ExtendForm,
    LinkStaffForm,
    NoncooperationForm,
    PauseForm,
    SendBackForm,
    SeriousForm,
)
from portal.staff.ticket_screen import department_choices, extension_choices, staff_choices
from portal.web.context import now, rules
from portal.web.forms import ActionForm

# --- the ladder ----------------------------------------------------------------------------


@ticket_action(
    "escalate",
    EscalateForm,
    "escalate_form",
    _l("Escalated. The next tier has been told; you remain the owner."),
)
def escalate(ticket: Ticket, form: EscalateForm) -> None:
    ladder.escalate(
        db.session,
        current_user,
        ticket,
        form.reason.data,
        now=now(),
        expected_version=form.expected_version(),
    )


@ticket_action("send-back", SendBackForm, "send_back_form", _l("Sent back down the ladder with your note."))
def send_back(ticket: Ticket, form: SendBackForm) -> None:
    ladder.send_back(
        db.session, current_user, ticket, form.note.data, now=now(), expected_version=form.expected_version()
    )


@ticket_action("serious", SeriousForm, "serious_form", _l("Marked serious. The managers now handle it."))
def mark_serious(ticket: Ticket, form: SeriousForm) -> None:
    ladder.mark_serious(db.session, current_user, ticket, form.reason.data, now=now())


@ticket_action(
    "noncooperation",
    NoncooperationForm,
    "noncooperation_form",
    _l("Reported. The managers will see it."),
    choices={"department": department_choices},
)
def report_noncooperation(ticket: Ticket, form: NoncooperationForm) -> None:
    ladder.report_noncooperation(
        db.session, current_user, ticket, form.department.data, form.note.data, now=now()
    )


@ticket_action(
    "concerns",
    LinkStaffForm,
    "link_staff_form",
    _l("Saved. The person named can no longer see this complaint."),
    choices={"user": staff_choices},
)
def link_staff(ticket: Ticket, form: LinkStaffForm) -> None:
    """R10: 0 ("Nobody") unlinks."""
    ladder.link_staff(db.session, current_user, ticket, form.user.data or None, now=now())


# --- the clocks ----------------------------------------------------------------------------


@ticket_action(
    "extend", ExtendForm, "extend_form", _l("Deadline extended."), choices={"working_days": extension_choices}
)
def extend(ticket: Ticket, form: ExtendForm) -> None:
    clocks.extend(
        db.session,
        current_user,
        ticket,
        form.working_days.data,
        form.reason.data,
        now=now(),
        rules=rules(),
        expected_version=form.expected_version(),
    )


@ticket_action("pause", PauseForm, "pause_form", _l("Clock paused while we wait for the customer."))
def pause(ticket: Ticket, form: PauseForm) -> None:
    clocks.pause(db.session, current_user, ticket, form.reason.data, now=now())


@ticket_action("resume", ActionForm, "action_form", _l("Clock running again."))
def resume(ticket: Ticket, form: ActionForm) -> None:
    clocks.resume(db.session, current_user, ticket, now=now(), rules=rules())


@ticket_action(
    "customer-tier",
    CustomerTierForm,
    "customer_tier_form",
    _l("Customer tier saved; the service targets follow it."),
)
def customer_tier(ticket: Ticket, form: CustomerTierForm) -> None:
    clocks.set_customer_tier(
        db.session, current_user, ticket, form.customer_tier.data, now=now(), rules=rules()
    )
