"""The owner's follow-up calls after a decision (R17): the list, recording one, moving one.

One pair of forms per callback, prefixed by its id, so a failed one comes back with its input and
errors beside the right callback.
"""

from __future__ import annotations

from dataclasses import replace

from flask import abort, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.extensions import db
from portal.models import Callback
from portal.queries import callbacks as callback_queries
from portal.services import aftercare
from portal.staff import bp
from portal.staff.forms import CallbackForm, RescheduleForm
from portal.web.access import deny, ticket_or_404
from portal.web.answers import Answers, beside, submitted
from portal.web.context import now
from portal.web.navigation import redirect_after_post
from portal.web.presentation import from_local

ALREADY_RECORDED = _l("This callback was already recorded.")


def _render_callbacks(failed: dict[int, FlaskForm] | None = None, status: int = 200) -> ResponseReturnValue:
    rows = callback_queries.open_callbacks(db.session, current_user)
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
def callbacks() -> ResponseReturnValue:
    return _render_callbacks()


def _callback_or_404(callback_id: int) -> Callback:
    callback = callback_queries.callback(db.session, callback_id)
    if callback is None:
        abort(404)
    ticket_or_404(callback.ticket_id)  # the same visibility rule as everywhere (R10, R20)
    if callback.owner_id != current_user.id and current_user.role not in ("lead", "manager"):
        deny("action_denied", f"callback:{callback_id}", status=403)
    return callback


def _callback_answers(callback_id: int, form: FlaskForm) -> Answers:
    def again(status: int) -> ResponseReturnValue:
        # Already recorded: the list no longer offers this callback, so back to the list, with why.
        if status == 409:
            return redirect_after_post(url_for("staff.callbacks"))
        return _render_callbacks({callback_id: form}, status)

    return Answers(
        target=f"callback:{callback_id}",
        done=lambda _result: redirect_after_post(url_for("staff.callbacks")),
        again=again,
        conflict=ALREADY_RECORDED,
    )


@bp.route("/callbacks/<int:callback_id>", methods=["POST"])
def record_callback(callback_id: int) -> ResponseReturnValue:
    callback = _callback_or_404(callback_id)
    form = CallbackForm(prefix=f"cb{callback_id}")
    answers = _callback_answers(callback_id, form)
    return submitted(
        form,
        lambda: aftercare.record_callback(
            db.session,
            current_user,
            callback,
            reached=form.reached.data == "yes",
            satisfied={"yes": True, "no": False}.get(form.satisfied.data),
            notes=form.notes.data or "",
            now=now(),
        ),
        answers,
        success=_l("Callback recorded."),
    )


@bp.route("/callbacks/<int:callback_id>/reschedule", methods=["POST"])
def reschedule_callback(callback_id: int) -> ResponseReturnValue:
    callback = _callback_or_404(callback_id)
    form = RescheduleForm(prefix=f"rs{callback_id}")
    # The service refuses a time that has passed (ValueError): said beside the field, not flashed.
    answers = replace(
        _callback_answers(callback_id, form),
        invalid={ValueError: beside(form.due_at, _l("Choose a time in the future."))},
    )
    return submitted(
        form,
        lambda: aftercare.reschedule_callback(
            db.session, current_user, callback, from_local(form.due_at.data), now=now()
        ),
        answers,
        success=_l("Callback rescheduled."),
    )
