"""The staff blueprint: every page behind it is for signed-in staff only (`staff_only`)."""

from flask import Blueprint

from portal.web.access import staff_only

bp = Blueprint("staff", __name__)
bp.before_request(staff_only)

from portal.staff import callback_views, ladder_views, notification_views, views  # noqa: E402,F401
