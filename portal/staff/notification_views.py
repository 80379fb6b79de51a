"""In-app notifications for staff: a count in the header, a list, mark as read (R13)."""

from __future__ import annotations

from flask import flash, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import Notification
from portal.notifications.render import in_app_text
from portal.queries import visibility
from portal.staff import bp
from portal.web.context import now
from portal.web.forms import ActionForm
from portal.web.htmx import render_page_or_fragment
from portal.web.navigation import redirect_after_post


def _mine():  # type: ignore[no-untyped-def]
    """My in-app notices on tickets I may still see (R10: never one about myself)."""
    return (
        select(Notification)
        .outerjoin(Notification.ticket)
        .where(Notification.recipient_user_id == current_user.id, Notification.channel == "in_app")
        .where(or_(Notification.ticket_id.is_(None), visibility.visibility_clause(current_user)))
    )


def unread_count() -> int:
    query = _mine().where(Notification.read_at.is_(None)).with_only_columns(func.count(Notification.id))
    return int(db.session.scalar(query) or 0)


@bp.route("/notifications")
def notifications():
    rows = db.session.scalars(
        _mine().options(joinedload(Notification.ticket)).order_by(Notification.id.desc()).limit(100)
    ).all()
    return render_template(
        "staff/notifications.html", notices=rows, text_for=in_app_text, action_form=ActionForm()
    )


@bp.route("/notifications/count")
def notification_count():
    return render_page_or_fragment(
        "staff/_notification_count.html",
        "staff/_notification_count.html",
        "notification-count",
        unread=unread_count(),
    )


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
def read_notification(notification_id: int):
    if ActionForm().validate_on_submit():
        db.session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.recipient_user_id == current_user.id)
            .values(read_at=now())
        )
        db.session.commit()
    notice = db.session.get(Notification, notification_id)
    if notice is not None and notice.recipient_user_id == current_user.id and notice.ticket_id:
        return redirect_after_post(url_for("staff.ticket", ticket_id=notice.ticket_id))
    return redirect_after_post(url_for("staff.notifications"))


@bp.route("/notifications/read-all", methods=["POST"])
def read_all_notifications():
    if ActionForm().validate_on_submit():
        db.session.execute(
            update(Notification)
            .where(Notification.recipient_user_id == current_user.id, Notification.read_at.is_(None))
            .values(read_at=now())
        )
        db.session.commit()
        flash(_("All notifications marked as read."), "success")
    return redirect_after_post(url_for("staff.notifications"))
