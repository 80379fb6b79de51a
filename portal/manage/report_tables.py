"""The dashboard as tables: one definition serves the screen, the print view and the CSV export.

Each `Table` holds its cells as the text a person reads, so the CSV of a table is exactly what
the screen shows (the tests compare them cell by cell). CSV cells that a spreadsheet would run as
a formula are defused (security.md B6).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _

from portal.manage import charts
from portal.services.reports import CallbackTheme, Dashboard, GroupFigures
from portal.web.presentation import CHANNEL_LABELS, ESCALATION_CAUSES, TIER_LABELS

DASH = "—"


@dataclass
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    chart: charts.Chart | None = None
    chart_kind: str = "bars"  # bars | columns
    footer: list[str] = field(default_factory=list)
    collapsed: bool = False  # long tables fold away on screen (and print in full)


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f} %"


def hours(seconds: float | None) -> str:
    return DASH if seconds is None else _("%(hours)s h", hours=f"{seconds / 3600:.1f}")


def rating(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def _named(name: str | None, fallback: str) -> str:
    return name if name else fallback


def summary_table(board: Dashboard) -> Table:
    rows = [
        [_("Open now"), str(board.open)],
        [_("Overdue now"), str(board.overdue)],
        [_("Waiting for a manager's approval"), str(board.awaiting_approval)],
        [_("Received in the period"), str(board.received)],
        [_("Acknowledged within %(hours)d hours", hours=board.ack_hours), percent(board.ack_share)],
        [_("Time to first response, median"), hours(board.first_response.median_seconds)],
        [_("Time to first response, 90th percentile"), hours(board.first_response.p90_seconds)],
        [_("Resolved in the period"), str(board.resolved)],
        [_("Resolved within the target"), percent(board.on_time_share)],
        [_("Time to resolution, median"), hours(board.resolution.median_seconds)],
        [_("Time to resolution, 90th percentile"), hours(board.resolution.p90_seconds)],
        [_("Reopen rate"), percent(board.reopen_share)],
        [_("Average satisfaction (1–5)"), rating(board.average_rating)],
        [
            _("Customers who said it was resolved"),
            f"{board.satisfied_yes} / {board.satisfied_yes + board.satisfied_no}",
        ],
    ]
    return Table(
        key="summary",
        title=_("Headline figures"),
        headers=[_("Figure"), _("Value")],
        rows=rows,
        note=_(
            "Acknowledgement and first response count complaints received in the period; resolution "
            "counts complaints resolved in it; reopening and satisfaction count the customers' answers "
            "to an outcome given in it, whenever the complaint was resolved."
        ),
    )


def intake_table(board: Dashboard) -> Table:
    weekly = board.period.weekly
    labels = [
        (_("Week of %(day)s", day=day.isoformat()) if weekly else day.isoformat())
        for day, _n in board.intake_series
    ]
    series = [(label, count) for label, (_d, count) in zip(labels, board.intake_series, strict=True)]
    return Table(
        key="intake",
        title=_("Intake per week") if weekly else _("Intake per day"),
        headers=[_("Week") if weekly else _("Day"), _("Cases received")],
        rows=[[label, str(count)] for label, count in series],
        chart=charts.columns([(label[-5:], count) for label, count in series]),
        chart_kind="columns",
    )


def _split_intake_table(
    key: str, title: str, board: Dashboard, series: dict[str, list[tuple[date, int]]], names: dict[str, str]
) -> Table:
    """Rows per day (or week), a column per category or channel: the breakdown over time."""
    weekly = board.period.weekly
    columns = list(series)
    rows = []
    for index, (day, total) in enumerate(board.intake_series):
        label = _("Week of %(day)s", day=day.isoformat()) if weekly else day.isoformat()
        rows.append([label, *(str(series[name][index][1]) for name in columns), str(total)])
    return Table(
        key=key,
        title=title,
        headers=[_("Week") if weekly else _("Day"), *(names.get(c, c) for c in columns), _("All")],
        rows=rows,
        collapsed=True,
    )


def intake_by_category_table(board: Dashboard) -> Table:
    names = {"": _("No category (feedback)")}
    title = _("Intake per week by category") if board.period.weekly else _("Intake per day by category")
    return _split_intake_table("intake_categories", title, board, board.intake_series_by_category, names)


def intake_by_channel_table(board: Dashboard) -> Table:
    names = {channel: str(label) for channel, label in CHANNEL_LABELS.items()}
    title = _("Intake per week by channel") if board.period.weekly else _("Intake per day by channel")
    return _split_intake_table("intake_channels", title, board, board.intake_series_by_channel, names)


def _bar_table(
    key: str, title: str, headers: list[str], items: Sequence[tuple[str, int]], note: str = ""
) -> Table:
    return Table(
        key=key,
        title=title,
        headers=headers,
        rows=[[label, str(count)] for label, count in items],
        chart=charts.bars(items),
        note=note,
    )


def category_table(board: Dashboard) -> Table:
    items = [(_named(name, _("No category (feedback)")), n) for name, n in board.by_category]
    return _bar_table("categories", _("Top categories"), [_("Category"), _("Cases received")], items)


def channel_table(board: Dashboard) -> Table:
    items = [(str(CHANNEL_LABELS.get(channel, channel)), n) for channel, n in board.by_channel]
    return _bar_table("channels", _("Intake by channel"), [_("Channel"), _("Cases received")], items)


def root_cause_table(board: Dashboard) -> Table:
    items = [(_named(name, _("Not recorded")), n) for name, n in board.root_causes]
    return _bar_table(
        "root_causes",
        _("Top root causes"),
        [_("Root cause"), _("Resolved")],
        items,
        note=_("The cause recorded with each resolution in the period."),
    )


def satisfaction_table(board: Dashboard) -> Table:
    items = [(_("%(score)d of 5", score=score), count) for score, count in sorted(board.satisfaction.items())]
    return _bar_table(
        "satisfaction",
        _("Satisfaction"),
        [_("Score"), _("Answers")],
        items,
        note=_(
            "Average %(average)s from %(count)d answers.",
            average=rating(board.average_rating),
            count=board.rated,
        ),
    )


def escalation_table(board: Dashboard) -> Table:
    tiers = sorted(set(board.escalations_by_tier) | set(board.open_by_tier))
    rows = [
        [
            str(TIER_LABELS.get(tier, tier)),
            str(board.escalations_by_tier.get(tier, 0)),
            str(board.open_by_tier.get(tier, 0)),
        ]
        for tier in tiers
    ]
    return Table(
        key="escalations",
        title=_("Escalations by tier"),
        headers=[_("Tier"), _("Escalated to it in the period"), _("Open at it now")],
        rows=rows,
        chart=charts.bars(
            [(str(TIER_LABELS.get(t, t)), board.escalations_by_tier.get(t, 0)) for t in tiers if t > 1]
        ),
    )


def escalation_cause_table(board: Dashboard) -> Table:
    items = [(str(ESCALATION_CAUSES.get(cause, cause)), n) for cause, n in board.escalations_by_cause]
    return Table(
        key="escalation_causes",
        title=_("Why cases went up the ladder"),
        headers=[_("Cause"), _("Escalations")],
        rows=[[label, str(n)] for label, n in items],
    )


def _group_rows(groups: Sequence[GroupFigures], with_received: bool) -> list[list[str]]:
    rows = []
    for g in groups:
        cells = [g.name or DASH]
        if with_received:
            cells.append(str(g.received))
        cells += [
            str(g.open),
            str(g.overdue),
            str(g.resolved),
            percent(g.on_time_share),
            hours(g.resolution.median_seconds),
            percent(g.reopen_share),
            rating(g.average_rating),
        ]
        rows.append(cells)
    return rows


def _group_headers(first: str, with_received: bool) -> list[str]:
    return [
        first,
        *([_("Cases received")] if with_received else []),
        _("Open"),
        _("Overdue"),
        _("Resolved"),
        _("Within target"),
        _("Median resolution"),
        _("Reopen rate"),
        _("Satisfaction"),
    ]


def department_table(board: Dashboard) -> Table:
    return Table(
        key="departments",
        title=_("By department"),
        headers=_group_headers(_("Department"), True),
        rows=_group_rows(board.departments, True),
    )


def staff_table(board: Dashboard) -> Table:
    return Table(
        key="staff",
        title=_("By staff member"),
        headers=_group_headers(_("Staff member"), False),
        rows=_group_rows(board.staff, False),
        note=_(
            "Cases each person owns: open now, resolved in the period, and answered by the customer in it."
        ),
    )


def _callback_rows(themes: Sequence[CallbackTheme], fallback: str) -> list[list[str]]:
    return [
        [
            _named(t.name, fallback),
            str(t.due),
            str(t.completed),
            str(t.reached),
            str(t.satisfied),
            str(t.dissatisfied),
        ]
        for t in themes
    ]


def _callback_headers(first: str) -> list[str]:
    return [first, _("Due"), _("Done"), _("Reached"), _("Satisfied"), _("Not satisfied")]


def callback_table(board: Dashboard) -> Table:
    total = board.callback_totals
    return Table(
        key="callbacks",
        title=_("Callbacks by category"),
        headers=_callback_headers(_("Category")),
        rows=_callback_rows(board.callbacks, _("No category (feedback)")),
        footer=_callback_rows([total], _("All callbacks"))[0],
        note=_(
            "Follow-up calls due in the period: %(reached)s of %(due)s customers reached, "
            "%(satisfied)s satisfied.",
            reached=total.reached,
            due=total.due,
            satisfied=total.satisfied,
        ),
    )


def callback_cause_table(board: Dashboard) -> Table:
    return Table(
        key="callback_causes",
        title=_("Callbacks by root cause"),
        headers=_callback_headers(_("Root cause")),
        rows=_callback_rows(board.callback_root_causes, _("Not recorded")),
    )


def spot_check_table(board: Dashboard) -> Table:
    return Table(
        key="spot_checks",
        title=_("Spot checks"),
        headers=[
            _("Quarter"),
            _("Resolved complaints"),
            _("Sampled"),
            _("Re-checked"),
            _("Customer re-contacted"),
            _("Outcome held"),
            _("Outcome did not hold"),
        ],
        rows=[
            [
                s.quarter,
                str(s.population),
                str(s.sampled),
                str(s.reviewed),
                str(s.recontacted),
                str(s.held),
                str(s.not_held),
            ]
            for s in board.spot_checks
        ],
        note=_("Each quarter's random re-check of resolved complaints that overlaps the period."),
    )


BUILDERS: dict[str, Callable[[Dashboard], Table]] = {
    "summary": summary_table,
    "intake": intake_table,
    "intake_categories": intake_by_category_table,
    "intake_channels": intake_by_channel_table,
    "categories": category_table,
    "channels": channel_table,
    "satisfaction": satisfaction_table,
    "root_causes": root_cause_table,
    "escalations": escalation_table,
    "escalation_causes": escalation_cause_table,
    "departments": department_table,
    "staff": staff_table,
    "callbacks": callback_table,
    "callback_causes": callback_cause_table,
    "spot_checks": spot_check_table,
}


def all_tables(board: Dashboard) -> dict[str, Table]:
    return {key: build(board) for key, build in BUILDERS.items()}


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A cell a spreadsheet would evaluate is prefixed with ' (security.md B6, CVE-2019-14749)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in table.headers])
    for row in table.rows:
        writer.writerow([safe_cell(cell) for cell in row])
    if table.footer:
        writer.writerow([safe_cell(cell) for cell in table.footer])
    return "\ufeff" + out.getvalue()  # the byte-order mark makes spreadsheets read UTF-8 (中文, 한국어)
