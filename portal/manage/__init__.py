from flask import Blueprint

from portal.access import leads_and_managers_only

bp = Blueprint("manage", __name__)
bp.before_request(leads_and_managers_only)

from portal.manage import views  # noqa: E402,F401
