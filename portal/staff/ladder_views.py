"""Ticket actions of the escalation ladder and the service clocks (R6–R10, R23), and callbacks (R17)."""

from __future__ import annotations

from flask import abort, flash, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.domain.errors import Conflict
from portal.extensions import db
from portal.models import Callback
from portal.queries import choices, visibility
from portal.services import aftercare, clocks, ladder
from portal.staff import bp
from portal.staff.forms import (
    CallbackForm,
    CustomerTierForm,
    EscalateForm,
    ExtendForm,
    LinkStaffForm,
    NoncooperationForm,
    PauseForm,
    RescheduleForm,
    SendBackForm,
    SeriousForm,
)
from portal.staff.views import extension_choices, invalid_form, run_action, staff_choices
from portal.web.access import deny, ticket_or_404
from portal.web.context import now, rules
from portal.web.forms import ActionForm
from portal.web.navigation import redirect_after_post
from portal.web.presentation import from_local


@bp.route("/tickets/<int:ticket_id>/escalate", methods=["POST"])
def escalate(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = EscalateForm()
    if not form.validate_on_submit():
        return invalid_form(ticket, "escalate_form", form)
    return run_action(
        ticket,
        lambda: ladder.escalate(
            db.session,
            current_user,
            ticket,
            form.reason.data,
            now=now(),
            expected_version=form.expected_version(),
        ),
        _("Escalated. The next tier has been told; you remain the owner."),
        "escalate_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/send-back", methods=["POST"])
def send_back(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = SendBackForm()
    if not form.validate_on_submit():
        return invalid_form(ticket, "send_back_form", form)
    return run_action(
        ticket,
        lambda: ladder.send_back(
            db.session,
            current_user,
            ticket,
            form.note.data,
            now=now(),
            expected_version=form.expected_version(),
        ),
        _("Sent back down the ladder with your note."),
        "send_back_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/serious", methods=["POST"])
def mark_serious(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = SeriousForm()
    if not form.validate_on_submit():
        return invalid_form(ticket, "serious_form", form)
    return run_action(
        ticket,
        lambda: ladder.mark_serious(db.session, current_user, ticket, form.reason.data, now=now()),
        _("Marked serious. The managers now handle it."),
        "serious_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/noncooperation", methods=["POST"])
def report_noncooperation(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = NoncooperationForm()
    form.department.choices = [(d.id, d.name) for d in choices.departments(db.session)]
    if not form.validate_on_submit():
        return invalid_form(ticket, "noncooperation_form", form)
    return run_action(
        ticket,
        lambda: ladder.report_noncooperation(
            db.session, current_user, ticket, form.department.data, form.note.data, now=now()
        ),
        _("Reported. The managers will see it."),
        "noncooperation_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/concerns", methods=["POST"])
def link_staff(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = LinkStaffForm()
    form.user.choices = staff_choices()
    if not form.validate_on_submit():
        return invalid_form(ticket, "link_staff_form", form)
    return run_action(
        ticket,
        lambda: ladder.link_staff(db.session, current_user, ticket, form.user.data or None, now=now()),
        _("Saved. The person named can no longer see this complaint."),
        "link_staff_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/extend", methods=["POST"])
def extend(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = ExtendForm()
    form.working_days.choices = extension_choices()
    if not form.validate_on_submit():
        return invalid_form(ticket, "extend_form", form)
    return run_action(
        ticket,
        lambda: clocks.extend(
            db.session,
            current_user,
            ticket,
            form.working_days.data,
            form.reason.data,
            now=now(),
            rules=rules(),
            expected_version=form.expected_version(),
        ),
        _("Deadline extended."),
        "extend_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/pause", methods=["POST"])
def pause(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = PauseForm()
    if not form.validate_on_submit():
        return invalid_form(ticket, "pause_form", form)
    return run_action(
        ticket,
        lambda: clocks.pause(db.session, current_user, ticket, form.reason.data, now=now()),
        _("Clock paused while we wait for the customer."),
        "pause_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/resume", methods=["POST"])
def resume(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    if not ActionForm().validate_on_submit():
        return invalid_form(ticket, "action_form", ActionForm())
    return run_action(
        ticket,
        lambda: clocks.resume(db.session, current_user, ticket, now=now(), rules=rules()),
        _("Clock running again."),
    )


@bp.route("/tickets/<int:ticket_id>/customer-tier", methods=["POST"])
def customer_tier(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = CustomerTierForm()
    if not form.validate_on_submit():
        return invalid_form(ticket, "customer_tier_form", form)
    return run_action(
        ticket,
        lambda: clocks.set_customer_tier(
            db.session, current_user, ticket, form.customer_tier.data, now=now(), rules=rules()
        ),
        _("Customer tier saved; the service targets follow it."),
        "customer_tier_form",
        form,
    )


# --- callbacks (R17) -----------------------------------------------------------------------


def _my_callbacks() -> list[Callback]:
    """The signed-in owner's open callbacks, soonest first, on tickets they may still see."""
    query = (
        select(Callback)
        .join(Callback.ticket)
        .where(Callback.owner_id == current_user.id, Callback.completed_at.is_(None))
        .where(visibility.visibility_clause(current_user))
        .order_by(Callback.due_at)
        .limit(200)
    )
    return list(db.session.scalars(query))


def _render_callbacks(failed: dict[int, object] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    """One pair of forms per callback (prefixed by id), so a failed one keeps its input and errors."""
    rows = _my_callbacks()
    forms = {
        c.id: {
            "record": CallbackForm(prefix=f"cb{c.id}", formdata=None),
            "reschedule": RescheduleForm(prefix=f"rs{c.id}", formdata=None),
        }
        for c in rows
    }
    for callback_id, form in (failed or {}).items():
        if callback_id in forms:
            kind = "record" if isinstance(form, CallbackForm) else "reschedule"
            forms[callback_id][kind] = form
    return render_template("staff/callbacks.html", callbacks=rows, forms=forms, now=now()), status


@bp.route("/callbacks")
def callbacks():
    return _render_callbacks()


def _callback_or_404(callback_id: int) -> Callback:
    callback = db.session.get(Callback, callback_id)
    if callback is None:
        abort(404)
    ticket_or_404(callback.ticket_id)  # the same visibility rule as everywhere (R10, R20)
    if callback.owner_id != current_user.id and current_user.role not in ("lead", "manager"):
        deny("action_denied", f"callback:{callback_id}", status=403)
    return callback


@bp.route("/callbacks/<int:callback_id>", methods=["POST"])
def record_callback(callback_id: int):
    callback = _callback_or_404(callback_id)
    form = CallbackForm(prefix=f"cb{callback_id}")
    if not form.validate_on_submit():
        return _render_callbacks({callback_id: form}, 422)
    try:
        aftercare.record_callback(
            db.session,
            current_user,
            callback,
            reached=form.reached.data == "yes",
            satisfied={"yes": True, "no": False}.get(form.satisfied.data),
            notes=form.notes.data or "",
            now=now(),
        )
        flash(_("Callback recorded."), "success")
    except Conflict:
        db.session.rollback()
        flash(_("This callback was already recorded."), "warning")
    return redirect_after_post(url_for("staff.callbacks"))


@bp.route("/callbacks/<int:callback_id>/reschedule", methods=["POST"])
def reschedule_callback(callback_id: int):
    callback = _callback_or_404(callback_id)
    form = RescheduleForm(prefix=f"rs{callback_id}")
    if form.validate_on_submit():
        try:
            aftercare.reschedule_callback(
                db.session, current_user, callback, from_local(form.due_at.data), now=now()
            )
            flash(_("Callback rescheduled."), "success")
            return redirect_after_post(url_for("staff.callbacks"))
        except ValueError:
            db.session.rollback()
            form.due_at.errors = [_("Choose a time in the future.")]
    return _render_callbacks({callback_id: form}, 422)
