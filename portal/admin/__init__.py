from flask import Blueprint

from portal.web.access import admin_only

bp = Blueprint("admin", __name__)
bp.before_request(admin_only)

from portal.admin import views  # noqa: E402,F401
