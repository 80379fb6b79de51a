"""In-app notifications for staff: a count in the header, a list, mark as read (R13)."""

from __future__ import annotations

from flask import render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.extensions import db
from portal.notifications.render import in_app_text
from portal.queries import notices as notice_queries
from portal.services import notices
from portal.staff import bp
from portal.web.answers import Answers, invalid_form, run_service
from portal.web.context import now
from portal.web.forms import ActionForm
from portal.web.htmx import render_page_or_fragment
from portal.web.navigation import redirect_after_post


def _render_inbox(status: int = 200) -> ResponseReturnValue:
    rows = notice_queries.latest(db.session, current_user)
    return render_template(
        "staff/notifications.html", notices=rows, text_for=in_app_text, action_form=ActionForm()
    ), status


def _to_inbox(_result: object = None) -> ResponseReturnValue:
    return redirect_after_post(url_for("staff.notifications"))


@bp.route("/notifications")
def notifications() -> ResponseReturnValue:
    return _render_inbox()


@bp.route("/notifications/count")
def notification_count() -> ResponseReturnValue:
    return render_page_or_fragment(
        "staff/_notification_count.html",
        "staff/_notification_count.html",
        "notification-count",
        unread=notice_queries.unread_count(db.session, current_user),
    )


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
def read_notification(notification_id: int) -> ResponseReturnValue:
    def open_its_ticket(_result: object) -> ResponseReturnValue:
        # Only my own notice leads to its ticket; anyone else's gives no hint of it (G1).
        ticket_id = notice_queries.ticket_of(db.session, current_user, notification_id)
        if ticket_id:
            return redirect_after_post(url_for("staff.ticket", ticket_id=ticket_id))
        return _to_inbox()

    answers = Answers(target=f"notification:{notification_id}", done=open_its_ticket, again=_render_inbox)
    if not ActionForm().validate_on_submit():
        return invalid_form(answers)
    return run_service(
        lambda: notices.mark_read(db.session, current_user, notification_id, now=now()), answers
    )


@bp.route("/notifications/read-all", methods=["POST"])
def read_all_notifications() -> ResponseReturnValue:
    answers = Answers(target="notifications", done=_to_inbox, again=_render_inbox)
    if not ActionForm().validate_on_submit():
        return invalid_form(answers)
    return run_service(
        lambda: notices.mark_all_read(db.session, current_user, now=now()),
        answers,
        success=_l("All notifications marked as read."),
    )
