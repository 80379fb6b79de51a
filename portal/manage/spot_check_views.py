"""Spot checks (R18): managers draw a quarter's sample and assign reviewers; reviewers record findings.

Every case shown goes through the visibility rule (a manager never sees a case about themselves,
a lead only their own re-checks); every refusal is a 403/404 with an audit row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.domain import reporting
from portal.domain.permissions import Role
from portal.extensions import db
from portal.manage import bp
from portal.manage.forms import ReviewerForm, SpotCheckDrawForm, SpotCheckReviewForm
from portal.models import SpotCheck, SpotCheckItem, User
from portal.queries import spot_checks as sample
from portal.services import settings as settings_service
from portal.services import spot_checks
from portal.web.access import deny
from portal.web.answers import Answers, back_or_again, beside, go_to, submitted
from portal.web.context import now, today
from portal.web.navigation import redirect_after_post


def _draw_form(formdata: object = None) -> SpotCheckDrawForm:
    form = SpotCheckDrawForm(formdata=formdata) if formdata is not None else SpotCheckDrawForm(formdata=None)
    quarters = [reporting.quarter_label(y, q) for y, q in reporting.recent_quarters(today(), 5)]
    form.quarter.choices = [(q, q) for q in quarters]
    if formdata is None:
        # Each quarter checks the one just finished (R18); the current one is there for late starters.
        form.quarter.data = quarters[1]
        form.percent.data = settings_service.current_settings(db.session, current_app.config)[
            "spot_check_percent"
        ]
    return form


def _index(form: SpotCheckDrawForm | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "manage/spot_checks.html",
        checks=sample.drawn_checks(db.session, current_user),
        mine=sample.assigned_rechecks(db.session, current_user),
        form=form or (_draw_form() if current_user.role == Role.MANAGER else None),
    ), status


@bp.route("/spot-checks")
def spot_checks_index() -> ResponseReturnValue:
    return _index()


@bp.route("/spot-checks", methods=["POST"])
def draw_spot_check() -> ResponseReturnValue:
    if current_user.role != Role.MANAGER:
        deny("access_denied", "spot-checks:draw", status=403)
    form = _draw_form(request.form)
    answers = Answers(
        target="spot-checks:draw",
        done=lambda check: redirect_after_post(url_for("manage.spot_check", spot_check_id=check.id)),
        again=lambda status: _index(form, status),
        # One draw a quarter (R18), so a sample cannot be redrawn until it suits.
        conflict=beside(form.quarter, _("This quarter has been drawn already.")),
    )
    timezone = current_app.config["ORG_TIMEZONE"]
    return submitted(
        form,
        lambda: spot_checks.draw(
            db.session, current_user, form.quarter.data, **form.to_draw(), timezone=timezone, now=now()
        ),
        answers,
        success=_drawn,
    )


def _drawn(check: SpotCheck) -> str:
    return str(
        _(
            "Drawn: %(count)d of %(population)d complaints to re-check.",
            count=sample.item_count(db.session, check.id),
            population=check.population_size,
        )
    )


def _reviewer_choices(people: Sequence[User]) -> list[tuple[int, str]]:
    """A reviewer is chosen, never preselected: the list starts at "Choose…"."""
    return [(0, _("Choose…")), *((u.id, u.name) for u in people)] if people else []


def _check_or_404(spot_check_id: int) -> SpotCheck:
    check = sample.spot_check(db.session, spot_check_id)
    if check is None:
        deny("access_denied", f"spot-check:{spot_check_id}")
    return check


def _render_check(
    check: SpotCheck, failed: Mapping[int, FlaskForm] | None = None, status: int = 200
) -> ResponseReturnValue:
    """The check's cases this person may see, each with the form they may use on it (a failed one kept)."""
    items = spot_checks.visible_items(db.session, current_user, check)
    manager = current_user.role == Role.MANAGER
    if not manager and not items:
        deny("access_denied", f"spot-check:{check.id}")
    failed = failed or {}
    pool = spot_checks.reviewer_pool(db.session) if manager else []  # read once, not once per case
    reviewer_forms: dict[int, ReviewerForm] = {}
    review_forms: dict[int, SpotCheckReviewForm] = {}
    for item in items:
        if item.reviewed_at is not None:
            continue
        kept = failed.get(item.id)
        if manager:
            reviewer_form = kept if isinstance(kept, ReviewerForm) else None
            reviewer_form = reviewer_form or ReviewerForm(
                prefix=f"r{item.id}", formdata=None, reviewer=item.reviewer_id or 0
            )
            reviewer_form.reviewer.choices = _reviewer_choices(
                spot_checks.reviewer_candidates(item.ticket, pool)
            )
            reviewer_forms[item.id] = reviewer_form
        if item.reviewer_id == current_user.id:
            review_form = kept if isinstance(kept, SpotCheckReviewForm) else None
            review_forms[item.id] = review_form or SpotCheckReviewForm(prefix=f"v{item.id}", formdata=None)
    redraw = spot_checks.redraw(db.session, check) if request.args.get("verify") else None
    return render_template(
        "manage/spot_check.html",
        check=check,
        items=items,
        reviewed=sum(1 for item in items if item.reviewed_at is not None),
        reviewer_forms=reviewer_forms,
        review_forms=review_forms,
        redraw=redraw,
    ), status


@bp.route("/spot-checks/<int:spot_check_id>")
def spot_check(spot_check_id: int) -> ResponseReturnValue:
    return _render_check(_check_or_404(spot_check_id))


def _item_or_404(item_id: int) -> SpotCheckItem:
    item = sample.visible_item(db.session, current_user, item_id)
    if item is None:
        deny("access_denied", f"spot-check-item:{item_id}")
    return item


def _on_check_page(item: SpotCheckItem, form: FlaskForm, **outcomes: Any) -> Answers:
    """Both re-check actions answer on the check's page; `outcomes` adds a screen's own `invalid`."""
    page = url_for("manage.spot_check", spot_check_id=item.spot_check_id)
    return Answers(
        target=f"spot-check-item:{item.id}",
        done=go_to(page),
        again=back_or_again(page, lambda status: _render_check(item.spot_check, {item.id: form}, status)),
        # A second review, or an assignment after the review (two tabs): say so, show the page.
        conflict=_("This case has been re-checked already."),
        **outcomes,
    )


@bp.route("/spot-checks/items/<int:item_id>/reviewer", methods=["POST"])
def assign_spot_check_reviewer(item_id: int) -> ResponseReturnValue:
    item = _item_or_404(item_id)
    if current_user.role != Role.MANAGER:
        deny("action_denied", f"spot-check-item:{item_id}:assign", status=403)
    candidates = spot_checks.reviewer_candidates(item.ticket, spot_checks.reviewer_pool(db.session))
    form = ReviewerForm(prefix=f"r{item.id}")
    form.reviewer.choices = _reviewer_choices(candidates)
    by_id = {user.id: user for user in candidates}  # the only choices: a forged id fails the form (422)
    return submitted(
        form,
        lambda: spot_checks.assign_reviewer(
            db.session, current_user, item, by_id[form.reviewer.data], now=now()
        ),
        _on_check_page(item, form),
        success=_("Reviewer assigned."),
    )


@bp.route("/spot-checks/items/<int:item_id>/review", methods=["POST"])
def record_spot_check_review(item_id: int) -> ResponseReturnValue:
    item = _item_or_404(item_id)
    if item.reviewer_id != current_user.id:
        deny("action_denied", f"spot-check-item:{item_id}:not-the-reviewer", status=403)
    form = SpotCheckReviewForm(prefix=f"v{item.id}")
    return submitted(
        form,
        lambda: spot_checks.record_review(db.session, current_user, item, **form.to_review(), now=now()),
        _on_check_page(
            item, form, invalid={ValueError: beside(form.findings, _("Write down what the re-check found."))}
        ),
        success=_("Re-check recorded."),
    )
