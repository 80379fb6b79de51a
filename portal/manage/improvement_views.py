"""Improvement actions (R21): list, create, edit, link complaints, review the effect."""

from __future__ import annotations

from flask import flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.domain import permissions
from portal.domain.errors import Conflict, NotPermitted
from portal.domain.permissions import STAFF_ROLES, Role
from portal.extensions import db
from portal.manage import bp
from portal.manage.forms import EffectReviewForm, ImprovementActionForm, LinkTicketForm
from portal.models import ImprovementAction, User
from portal.queries import choices, visibility
from portal.services import improvements
from portal.web.access import deny
from portal.web.context import now
from portal.web.navigation import redirect_after_post


@bp.route("/improvements")
def improvements_index():
    rows = improvements.visible_actions(db.session, current_user)
    return render_template("manage/improvements.html", actions=rows, today=now().date())


def _action_or_404(action_id: int) -> ImprovementAction:
    action = db.session.get(ImprovementAction, action_id)
    if action is None or not permissions.can_manage_improvements(current_user, action.department_id):
        deny("access_denied", f"improvement:{action_id}")
    return action


def _action_form(action: ImprovementAction | None) -> ImprovementActionForm:
    form = ImprovementActionForm()
    departments = choices.departments(db.session)
    if current_user.role != Role.MANAGER:
        departments = [d for d in departments if d.id == current_user.department_id]
    form.department.choices = [(d.id, d.name) for d in departments]
    staff = db.session.scalars(
        select(User)
        .where(User.active.is_(True), User.role.in_([r.value for r in STAFF_ROLES]))
        .order_by(User.name)
    )
    form.owner.choices = [(u.id, u.name) for u in staff]
    form.root_cause.choices = [
        (0, _("None")),
        *((c.id, c.name) for c in choices.active_root_causes(db.session)),
    ]
    form.category.choices = [(0, _("None")), *((c.id, c.name) for c in choices.active_categories(db.session))]
    if request.method == "GET":
        if action is not None:
            form.title.data, form.description.data = action.title, action.description
            form.department.data, form.owner.data = action.department_id, action.owner_id
            form.due_on.data, form.status.data = action.due_on, action.status
            form.root_cause.data = action.root_cause_id or 0
            form.category.data = action.category_id or 0
        else:
            form.department.data, form.owner.data = current_user.department_id, current_user.id
    return form


def _render_action(action: ImprovementAction, form=None, link_form=None, review_form=None, status=200):  # type: ignore[no-untyped-def]
    return render_template(
        "manage/improvement.html",
        action=action,
        form=form or _action_form(action),
        link_form=link_form or LinkTicketForm(formdata=None),
        review_form=review_form or EffectReviewForm(formdata=None),
        tickets=improvements.linked_tickets(db.session, current_user, action),
        effect=improvements.effect(db.session, action),
    ), status


@bp.route("/improvements/new", methods=["GET", "POST"])
def new_improvement():
    form = _action_form(None)
    if form.validate_on_submit():
        saved = _save(None, form)
        if saved is not None:
            return saved
    status = 422 if request.method == "POST" else 200
    return render_template("manage/improvement_form.html", form=form), status


def _save(action: ImprovementAction | None, form: ImprovementActionForm):  # type: ignore[no-untyped-def]
    """Create or update from a valid form: the redirect, or None with the error on the form."""
    try:
        saved = improvements.save(db.session, current_user, action, _input(form), now=now())
    except NotPermitted as error:
        deny("action_denied", f"improvement:{action.id if action else 'new'}:{error}", status=403)
    except ValueError:
        db.session.rollback()
        form.title.errors = [*form.title.errors, _("Please check the title, owner and department.")]
        return None
    flash(_("Improvement action saved."), "success")
    return redirect_after_post(url_for("manage.improvement", action_id=saved.id))


def _input(form: ImprovementActionForm) -> improvements.ActionInput:
    return improvements.ActionInput(
        title=form.title.data,
        description=form.description.data or "",
        department_id=form.department.data,
        owner_id=form.owner.data,
        due_on=form.due_on.data,
        status=form.status.data,
        root_cause_id=form.root_cause.data or None,
        category_id=form.category.data or None,
    )


@bp.route("/improvements/<int:action_id>", methods=["GET", "POST"])
def improvement(action_id: int):
    action = _action_or_404(action_id)
    if request.method == "GET":
        return _render_action(action)
    form = _action_form(action)
    saved = _save(action, form) if form.validate_on_submit() else None
    return saved if saved is not None else _render_action(action, form=form, status=422)


@bp.route("/improvements/<int:action_id>/tickets", methods=["POST"])
def link_improvement_ticket(action_id: int):
    action = _action_or_404(action_id)
    form = LinkTicketForm()
    if not form.validate_on_submit():
        return _render_action(action, link_form=form, status=422)
    try:
        improvements.link_ticket(db.session, current_user, action, form.reference.data)
    except LookupError:
        form.reference.errors = [
            *form.reference.errors,
            _("No complaint with this reference that you may see."),
        ]
        return _render_action(action, link_form=form, status=422)
    except Conflict:
        form.reference.errors = [*form.reference.errors, _("This complaint is linked already.")]
        return _render_action(action, link_form=form, status=409)
    flash(_("Complaint linked."), "success")
    return redirect_after_post(url_for("manage.improvement", action_id=action.id))


@bp.route("/improvements/<int:action_id>/tickets/<int:ticket_id>/unlink", methods=["POST"])
def unlink_improvement_ticket(action_id: int, ticket_id: int):
    action = _action_or_404(action_id)
    if visibility.visible_ticket(db.session, current_user, ticket_id) is None:
        deny("access_denied", f"ticket:{ticket_id}")
    improvements.unlink_ticket(db.session, current_user, action, ticket_id)
    flash(_("Complaint unlinked."), "success")
    return redirect_after_post(url_for("manage.improvement", action_id=action.id))


@bp.route("/improvements/<int:action_id>/review", methods=["POST"])
def review_improvement(action_id: int):
    action = _action_or_404(action_id)
    form = EffectReviewForm()
    if not form.validate_on_submit():
        return _render_action(action, review_form=form, status=422)
    try:
        improvements.review_effect(
            db.session,
            current_user,
            action,
            effective=form.effective.data == "yes",
            review=form.review.data,
            now=now(),
        )
    except Conflict:
        flash(_("Mark the action done before reviewing its effect."), "warning")
        return _render_action(action, review_form=form, status=409)
    flash(_("Review saved."), "success")
    return redirect_after_post(url_for("manage.improvement", action_id=action.id))
