"""The dashboard (R17, R18, R21, R22): figures for a period, as charts, tables, CSV and print.

A lead sees their own department's figures only; a manager the whole organisation or one
department (`permissions.report_department`). Aggregates count every case in that scope; the
warnings that name customers or cases list only what the viewer may open.
"""

from __future__ import annotations

from datetime import date

from flask import Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from portal.domain import permissions, reporting
from portal.domain.errors import NotPermitted
from portal.domain.permissions import Role
from portal.domain.reporting import Period, PeriodError
from portal.extensions import db
from portal.manage import bp
from portal.manage.forms import DashboardFilterForm
from portal.manage.report_tables import BUILDERS, all_tables, to_csv
from portal.queries import choices
from portal.services import improvements, reports
from portal.services import settings as settings_service
from portal.web.access import deny, record
from portal.web.context import now, today


def period_for(preset: str | None, start: date | None, end: date | None, day: date) -> Period:
    """Dates typed in win; otherwise the preset's days (the last 30 by default)."""
    if start or end:
        if not start or not end:
            raise PeriodError("both dates are needed")
        return Period(start, end)
    return reporting.preset_period(preset, day)


def _filter_form() -> DashboardFilterForm:
    form = DashboardFilterForm(request.args)
    departments = choices.departments(db.session)
    if current_user.role == Role.MANAGER:
        form.department.choices = [(0, _("All departments")), *((d.id, d.name) for d in departments)]
    else:
        form.department.choices = [(d.id, d.name) for d in departments if d.id == current_user.department_id]
    return form


def _board(*, with_warnings: bool = True) -> tuple[DashboardFilterForm, reports.Dashboard | None, str | None]:
    """Parse the filter, check the scope, count the figures."""
    form = _filter_form()
    requested = request.args.get("department", type=int) or None
    try:
        department_id = permissions.report_department(current_user, requested)
    except NotPermitted:
        deny("report_denied", f"dashboard:department:{requested}", status=403)
    if not form.validate() or form.kind.data not in reports.KINDS:
        return form, None, _("Please check the filter: a date or a choice is not valid.")
    try:
        period = period_for(request.args.get("preset"), form.start.data, form.end.data, today())
    except PeriodError:
        return form, None, _("Choose a start date on or before the end date, at most a year apart.")
    config = current_app.config
    scope = reports.ReportScope(department_id=department_id, kind=form.kind.data)
    board = reports.dashboard(
        db.session,
        current_user,
        scope,
        period,
        now=now(),
        timezone=config["ORG_TIMEZONE"],
        ack_hours=config["ACKNOWLEDGE_WITHIN_HOURS"],
        thresholds=settings_service.warning_thresholds(db.session, config),
        with_warnings=with_warnings,
    )
    return form, board, None


@bp.route("/dashboard")
def dashboard() -> ResponseReturnValue:
    form, board, problem = _board()
    if board is None:
        return render_template("manage/dashboard.html", form=form, board=None, problem=problem), 422
    department = dict(form.department.choices).get(board.scope.department_id or 0)  # type: ignore[arg-type]
    return render_template(
        "manage/dashboard.html",
        form=form,
        board=board,
        tables=all_tables(board),
        scope_name=department or _("All departments"),
        actions=improvements.counts_by_status(db.session, board.scope.department_id),
        query=request.args.to_dict(),
        now=now(),
    )


@bp.route("/dashboard/<table>.csv")
def dashboard_csv(table: str) -> ResponseReturnValue:
    if table not in BUILDERS:
        abort(404)
    _form, board, _problem = _board(with_warnings=False)
    if board is None:
        abort(422)
    record("report_exported", "ok", target=f"dashboard:{table}:{board.scope.department_id or 'all'}")
    name = f"{table}-{board.period.start.isoformat()}-{board.period.end.isoformat()}.csv"
    return Response(
        to_csv(BUILDERS[table](board)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
