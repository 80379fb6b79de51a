from flask import Blueprint

from portal.web.access import staff_only

bp = Blueprint("staff", __name__)
bp.before_request(staff_only)

from portal.staff import ladder_views, notification_views, views  # noqa: E402,F401
