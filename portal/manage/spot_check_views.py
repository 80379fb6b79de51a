"""Spot checks (R18): managers draw a quarter's sample and assign reviewers; reviewers record findings.

Every case shown goes through the visibility rule (a manager never sees a case about themselves,
a lead only their own re-checks); every refusal is a 403/404 with an audit row.
"""

from __future__ import annotations

from flask import current_app, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal.domain import reporting
from portal.domain.errors import Conflict, NotPermitted
from portal.domain.permissions import Role
from portal.extensions import db
from portal.manage import bp
from portal.manage.forms import ReviewerForm, SpotCheckDrawForm, SpotCheckReviewForm
from portal.models import SpotCheck, SpotCheckItem, User
from portal.queries import visibility
from portal.services import settings as settings_service
from portal.services import spot_checks
from portal.web.access import deny
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


def _index(form: SpotCheckDrawForm | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    checks = db.session.scalars(
        select(SpotCheck).options(joinedload(SpotCheck.drawn_by)).order_by(SpotCheck.quarter.desc()).limit(40)
    ).all()
    mine = list(
        db.session.scalars(
            select(SpotCheckItem)
            .join(SpotCheckItem.ticket)
            .where(SpotCheckItem.reviewer_id == current_user.id, visibility.visibility_clause(current_user))
            .options(joinedload(SpotCheckItem.ticket), joinedload(SpotCheckItem.spot_check))
            .order_by(SpotCheckItem.reviewed_at.is_not(None), SpotCheckItem.id)
            .limit(200)
        )
    )
    return render_template(
        "manage/spot_checks.html",
        checks=checks if current_user.role == Role.MANAGER else [],
        mine=mine,
        form=form or (_draw_form() if current_user.role == Role.MANAGER else None),
    ), status


@bp.route("/spot-checks")
def spot_checks_index():
    return _index()


@bp.route("/spot-checks", methods=["POST"])
def draw_spot_check():
    if current_user.role != Role.MANAGER:
        deny("access_denied", "spot-checks:draw", status=403)
    form = _draw_form(request.form)
    if not form.validate_on_submit():
        return _index(form, 422)
    try:
        check = spot_checks.draw(
            db.session,
            current_user,
            form.quarter.data,
            percent=form.percent.data,
            seed=form.seed.data,
            timezone=current_app.config["ORG_TIMEZONE"],
            now=now(),
        )
    except Conflict:
        form.quarter.errors = [*form.quarter.errors, _("This quarter has been drawn already.")]
        return _index(form, 409)
    flash(
        _(
            "Drawn: %(count)d of %(population)d complaints to re-check.",
            count=_item_count(check),
            population=check.population_size,
        ),
        "success",
    )
    return redirect_after_post(url_for("manage.spot_check", spot_check_id=check.id))


def _item_count(check: SpotCheck) -> int:
    return (
        db.session.scalar(select(func.count(SpotCheckItem.id)).where(SpotCheckItem.spot_check_id == check.id))
        or 0
    )


def _reviewer_choices(item: SpotCheckItem, pool: list[User]) -> list[tuple[int, str]]:
    people = [(u.id, u.name) for u in spot_checks.reviewer_candidates(item.ticket, pool)]
    return [(0, _("Choose…")), *people] if people else []


def _check_or_404(spot_check_id: int) -> SpotCheck:
    check = db.session.get(SpotCheck, spot_check_id)
    if check is None:
        deny("access_denied", f"spot-check:{spot_check_id}")
    return check


def _render_check(check: SpotCheck, failed: dict[int, object] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    items = spot_checks.visible_items(db.session, current_user, check)
    if current_user.role != Role.MANAGER and not items:
        deny("access_denied", f"spot-check:{check.id}")
    failed = failed or {}
    pool = spot_checks.reviewer_pool(db.session) if current_user.role == Role.MANAGER else []
    reviewer_forms = {}
    review_forms = {}
    for item in items:
        if current_user.role == Role.MANAGER and item.reviewed_at is None:
            form = failed.get(item.id) if isinstance(failed.get(item.id), ReviewerForm) else None
            form = form or ReviewerForm(prefix=f"r{item.id}", formdata=None, reviewer=item.reviewer_id or 0)
            form.reviewer.choices = _reviewer_choices(item, pool)
            reviewer_forms[item.id] = form
        if item.reviewer_id == current_user.id and item.reviewed_at is None:
            form = failed.get(item.id) if isinstance(failed.get(item.id), SpotCheckReviewForm) else None
            review_forms[item.id] = form or SpotCheckReviewForm(prefix=f"v{item.id}", formdata=None)
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
def spot_check(spot_check_id: int):
    return _render_check(_check_or_404(spot_check_id))


def _item_or_404(item_id: int) -> SpotCheckItem:
    item = db.session.get(SpotCheckItem, item_id)
    if item is None or visibility.visible_ticket(db.session, current_user, item.ticket_id) is None:
        deny("access_denied", f"spot-check-item:{item_id}")
    return item


def _already_rechecked(item: SpotCheckItem):  # type: ignore[no-untyped-def]
    """A second review, or an assignment after the review (two tabs): say so, show the page."""
    flash(_("This case has been re-checked already."), "warning")
    return redirect_after_post(url_for("manage.spot_check", spot_check_id=item.spot_check_id)), 409


@bp.route("/spot-checks/items/<int:item_id>/reviewer", methods=["POST"])
def assign_spot_check_reviewer(item_id: int):
    item = _item_or_404(item_id)
    if current_user.role != Role.MANAGER:
        deny("action_denied", f"spot-check-item:{item_id}:assign", status=403)
    form = ReviewerForm(prefix=f"r{item.id}")
    form.reviewer.choices = _reviewer_choices(item, spot_checks.reviewer_pool(db.session))
    if not form.validate_on_submit():
        return _render_check(item.spot_check, {item.id: form}, 422)
    reviewer = db.session.get(User, form.reviewer.data)
    if reviewer is None:  # the choices hold only existing people; a forged id is refused
        deny("action_denied", f"spot-check-item:{item_id}:unknown-reviewer", status=403)
    try:
        spot_checks.assign_reviewer(db.session, current_user, item, reviewer, now=now())
    except NotPermitted as error:
        deny("action_denied", f"spot-check-item:{item_id}:{error}", status=403)
    except Conflict:
        return _already_rechecked(item)
    flash(_("Reviewer assigned."), "success")
    return redirect_after_post(url_for("manage.spot_check", spot_check_id=item.spot_check_id))


@bp.route("/spot-checks/items/<int:item_id>/review", methods=["POST"])
def record_spot_check_review(item_id: int):
    item = _item_or_404(item_id)
    if item.reviewer_id != current_user.id:
        deny("action_denied", f"spot-check-item:{item_id}:not-the-reviewer", status=403)
    form = SpotCheckReviewForm(prefix=f"v{item.id}")
    if not form.validate_on_submit():
        return _render_check(item.spot_check, {item.id: form}, 422)
    try:
        spot_checks.record_review(
            db.session,
            current_user,
            item,
            recontacted=form.recontacted.data == "yes",
            outcome_held=form.outcome_held.data == "yes",
            findings=form.findings.data,
            now=now(),
        )
    except NotPermitted as error:
        deny("action_denied", f"spot-check-item:{item_id}:{error}", status=403)
    except Conflict:
        return _already_rechecked(item)
    except ValueError:
        form.findings.errors = [*form.findings.errors, _("Write down what the re-check found.")]
        return _render_check(item.spot_check, {item.id: form}, 422)
    flash(_("Re-check recorded."), "success")
    return redirect_after_post(url_for("manage.spot_check", spot_check_id=item.spot_check_id))
