"""The audit trail for managers (R12, R20): who did what, when, from where — filtered by person,
kind and date, paged newest first, and exported as CSV (the export is itself audited).

It shows the facts of each row (actor, action, target, outcome, address, request id), never what
a complaint says; managers only (leads see their team's work on the queue, administrators do not
read complaints and have no business here).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Response, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.domain.permissions import Role
from portal.extensions import db
from portal.manage import bp
from portal.manage.forms import AuditFilterForm
from portal.manage.report_tables import safe_cell
from portal.models import AuditLog
from portal.queries import audit_trail
from portal.web.access import AUDITED_BLUEPRINTS, deny, record
from portal.web.presentation import local_time
from portal.web.routing import id_from_query

PAGE_SIZE = 100

# Actions written by name (the rest are the endpoints of staff requests, e.g. "staff.claim").
NAMED_ACTIONS = {
    "login": _l("Sign-in"),
    "access_denied": _l("Refused: page or case"),
    "action_denied": _l("Refused: action"),
    "approval_denied": _l("Refused: approval"),
    "report_denied": _l("Refused: report"),
    "report_exported": _l("Report exported"),
    "audit_exported": _l("Audit trail exported"),
    "event_redacted": _l("History text removed (retention)"),
    "notification_dropped": _l("Notification withheld"),
}
OUTCOMES = {"ok": _l("done"), "denied": _l("refused"), "failed": _l("failed")}


def _managers_only() -> None:
    if current_user.role != Role.MANAGER:
        deny("access_denied", "manage:audit", status=403)


def action_choices() -> list[tuple[str, str]]:
    """Every kind a row can have: the named ones and each state-changing staff route."""
    endpoints = sorted(
        rule.endpoint
        for rule in current_app.url_map.iter_rules()
        if rule.endpoint.partition(".")[0] in AUDITED_BLUEPRINTS and (rule.methods or set()) & {"POST"}
    )
    named = [(key, str(label)) for key, label in NAMED_ACTIONS.items()]
    return [("", _("Anything")), *named, *((endpoint, endpoint) for endpoint in dict.fromkeys(endpoints))]


def _form() -> AuditFilterForm:
    form = AuditFilterForm(request.args)
    form.person.choices = [(0, _("Anyone")), *((u.id, u.name) for u in audit_trail.people(db.session))]
    form.action.choices = action_choices()
    return form


def _utc_midnight(day: date | None) -> datetime | None:
    """The start of a day in the organisation's zone, as UTC (what a person means by a date)."""
    if day is None:
        return None
    zone = ZoneInfo(current_app.config["ORG_TIMEZONE"])
    return datetime.combine(day, time(0), tzinfo=zone)


def _filter(form: AuditFilterForm) -> audit_trail.AuditFilter:
    end = _utc_midnight(form.end.data)
    return audit_trail.AuditFilter(
        actor_id=form.person.data or None,
        action=form.action.data or None,
        since=_utc_midnight(form.start.data),
        until=end + timedelta(days=1) if end else None,
        before_id=id_from_query(request.args.get("before")),
    )


def action_label(action: str) -> str:
    return str(NAMED_ACTIONS.get(action, action))


@bp.route("/audit")
def audit() -> ResponseReturnValue:
    _managers_only()
    form = _form()
    valid = form.validate()
    page = audit_trail.audit_page(db.session, _filter(form), PAGE_SIZE) if valid else None
    args = {key: value for key, value in request.args.items() if key != "before"}
    return render_template(
        "manage/audit.html",
        form=form,
        page=page,
        action_label=action_label,
        outcomes=OUTCOMES,
        next_url=url_for("manage.audit", **args, before=page.next_before_id)
        if page and page.next_before_id
        else None,
        first_url=url_for("manage.audit", **args) if request.args.get("before") else None,
        csv_url=url_for("manage.audit_csv", **args),
    ), 200 if valid else 422


def _csv_lines(rows: Iterator[AuditLog]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    headers = [_("When"), _("Who"), _("What"), _("Target"), _("Outcome"), _("Address"), _("Request")]
    writer.writerow(headers)
    yield "\ufeff" + out.getvalue()  # the byte-order mark makes spreadsheets read UTF-8
    for row in rows:
        out.seek(0)
        out.truncate()
        cells = [
            local_time(row.at),
            row.actor.name if row.actor else "",
            action_label(row.action),
            row.target or "",
            str(OUTCOMES.get(row.outcome, row.outcome)),
            row.ip or "",
            row.request_id or "",
        ]
        writer.writerow([safe_cell(cell) for cell in cells])  # B6: no formulas from typed text
        yield out.getvalue()


@bp.route("/audit.csv")
def audit_csv() -> ResponseReturnValue:
    _managers_only()
    form = _form()
    if not form.validate():
        return audit()
    audit_filter = _filter(form)
    record("audit_exported", "ok", target=f"audit:{request.query_string.decode()[:150]}")
    # Built whole while the request (its language, its session) is still there.
    body = "".join(_csv_lines(audit_trail.audit_rows(db.session, audit_filter)))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=audit-trail.csv"
    return response
