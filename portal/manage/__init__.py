from flask import Blueprint

from portal.web.access import leads_and_managers_only

bp = Blueprint("manage", __name__)
bp.before_request(leads_and_managers_only)

from portal.manage import audit_views, improvement_views, report_views, spot_check_views, views  # noqa: E402,F401
