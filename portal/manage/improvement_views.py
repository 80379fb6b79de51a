"""Improvement actions (R21): list, create, edit, link complaints, review the effect."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.domain.permissions import Role
from portal.extensions import db
from portal.manage import bp
from portal.manage.forms import EffectReviewForm, ImprovementActionForm, LinkTicketForm
from portal.models import ImprovementAction
from portal.queries import choices
from portal.queries import improvements as steering
from portal.services import improvements
from portal.web.access import deny, ticket_or_404
from portal.web.answers import Answers, beside, go_to, run_service, submitted
from portal.web.context import now
from portal.web.navigation import redirect_after_post

Again = Callable[[int], ResponseReturnValue]


@bp.route("/improvements")
def improvements_index() -> ResponseReturnValue:
    rows = improvements.visible_actions(db.session, current_user)
    return render_template("manage/improvements.html", actions=rows, today=now().date())


def _action_or_404(action_id: int) -> ImprovementAction:
    action = steering.steerable_action(db.session, current_user, action_id)
    if action is None:  # another department's action is not found (R21, F2)
        deny("access_denied", f"improvement:{action_id}")
    return action


def _action_form(action: ImprovementAction | None) -> ImprovementActionForm:
    form = ImprovementActionForm()
    departments = choices.departments(db.session)
    if current_user.role != Role.MANAGER:
        departments = [d for d in departments if d.id == current_user.department_id]
    form.department.choices = [(d.id, d.name) for d in departments]
    form.owner.choices = [(u.id, u.name) for u in steering.possible_owners(db.session)]
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


def _render_action(
    action: ImprovementAction,
    form: ImprovementActionForm | None = None,
    link_form: LinkTicketForm | None = None,
    review_form: EffectReviewForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    return render_template(
        "manage/improvement.html",
        action=action,
        form=form or _action_form(action),
        link_form=link_form or LinkTicketForm(formdata=None),
        review_form=review_form or EffectReviewForm(formdata=None),
        tickets=improvements.linked_tickets(db.session, current_user, action),
        effect=improvements.effect(db.session, action, now=now()),
    ), status


def _on_action_page(
    action: ImprovementAction, shown: Mapping[str, FlaskForm] | None = None, **outcomes: Any
) -> Answers:
    """A change to a saved action answers on its page: back there, or the page again with the posted
    form `shown` under the name the page gives it; `outcomes` are the screen's `conflict`, `invalid`."""
    return Answers(
        target=f"improvement:{action.id}",
        done=go_to(url_for("manage.improvement", action_id=action.id)),
        again=lambda status: _render_action(action, status=status, **(shown or {})),
        **outcomes,
    )


@bp.route("/improvements/new", methods=["GET", "POST"])
def new_improvement() -> ResponseReturnValue:
    form = _action_form(None)
    if request.method == "GET":
        return render_template("manage/improvement_form.html", form=form)
    return _save(
        None, form, lambda status: (render_template("manage/improvement_form.html", form=form), status)
    )


def _save(action: ImprovementAction | None, form: ImprovementActionForm, again: Again) -> ResponseReturnValue:
    """One save path for new and edited actions: to the action's page, or the form again (422)."""
    answers = Answers(
        target=f"improvement:{action.id if action else 'new'}",
        done=lambda saved: redirect_after_post(url_for("manage.improvement", action_id=saved.id)),
        again=again,
        invalid={ValueError: beside(form.title, _("Please check the title, owner and department."))},
    )
    return submitted(
        form,
        lambda: improvements.save(db.session, current_user, action, form.to_input(), now=now()),
        answers,
        success=_("Improvement action saved."),
    )


@bp.route("/improvements/<int:action_id>", methods=["GET", "POST"])
def improvement(action_id: int) -> ResponseReturnValue:
    action = _action_or_404(action_id)
    if request.method == "GET":
        return _render_action(action)
    form = _action_form(action)
    return _save(action, form, lambda status: _render_action(action, form=form, status=status))


@bp.route("/improvements/<int:action_id>/tickets", methods=["POST"])
def link_improvement_ticket(action_id: int) -> ResponseReturnValue:
    action = _action_or_404(action_id)
    form = LinkTicketForm()
    not_found = _("No complaint with this reference that you may see.")  # R10, R20: like one that is not
    answers = _on_action_page(
        action,
        shown={"link_form": form},
        conflict=beside(form.reference, _("This complaint is linked already.")),
        invalid={LookupError: beside(form.reference, not_found)},
    )
    return submitted(
        form,
        lambda: improvements.link_ticket(db.session, current_user, action, form.reference.data),
        answers,
        success=_("Complaint linked."),
    )


@bp.route("/improvements/<int:action_id>/tickets/<int:ticket_id>/unlink", methods=["POST"])
def unlink_improvement_ticket(action_id: int, ticket_id: int) -> ResponseReturnValue:
    action = _action_or_404(action_id)
    ticket_or_404(ticket_id)  # a ticket one may not see is not found, not unlinked (F2)
    return run_service(
        lambda: improvements.unlink_ticket(db.session, current_user, action, ticket_id),
        _on_action_page(action),
        success=_("Complaint unlinked."),
    )


@bp.route("/improvements/<int:action_id>/review", methods=["POST"])
def review_improvement(action_id: int) -> ResponseReturnValue:
    action = _action_or_404(action_id)
    form = EffectReviewForm()
    return submitted(
        form,
        # R21: only a done action's effect is reviewed; earlier is a conflict with its status.
        lambda: improvements.review_effect(db.session, current_user, action, **form.to_review(), now=now()),
        _on_action_page(
            action,
            shown={"review_form": form},
            conflict=_("Mark the action done before reviewing its effect."),
        ),
        success=_("Review saved."),
    )
