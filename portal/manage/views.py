"""Leads' and managers' screens: the approvals inbox (R12) and the escalated work (R6, R9)."""

from __future__ import annotations

from flask import abort, flash, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.domain.errors import Conflict, IllegalTransition, NotPermitted
from portal.domain.ladder import Tier
from portal.domain.permissions import Role
from portal.domain.workflow import OPEN_STATUS_VALUES
from portal.extensions import db
from portal.manage import bp
from portal.manage.forms import ApprovalForm, RejectionForm
from portal.models import CooperationReport, ResolutionProposal, Ticket
from portal.queries import visibility
from portal.services import resolutions
from portal.web.access import deny
from portal.web.context import now, rules
from portal.web.navigation import redirect_after_post


def _managers_only() -> None:
    if current_user.role != Role.MANAGER:
        deny("access_denied", "manage:approvals", status=403)


@bp.route("/")
def index():
    return render_template("manage/index.html", **_overview())


def _overview() -> dict[str, object]:
    """Escalated open tickets for this lead's department or, for managers, the manager tier."""
    query = (
        select(Ticket)
        .where(visibility.visibility_clause(current_user))
        .where(Ticket.status.in_(OPEN_STATUS_VALUES))
        .options(joinedload(Ticket.owner), joinedload(Ticket.department))
        .order_by(Ticket.due_at, Ticket.id)
        .limit(100)
    )
    if current_user.role == Role.MANAGER:
        query = query.where((Ticket.tier >= Tier.MANAGER) | Ticket.serious.is_(True))
    else:
        query = query.where(Ticket.tier == Tier.LEAD, Ticket.department_id == current_user.department_id)
    reports: list[CooperationReport] = []
    if current_user.role == Role.MANAGER:
        reports = list(
            db.session.scalars(
                select(CooperationReport)
                .join(CooperationReport.ticket)
                .where(visibility.visibility_clause(current_user))
                .where(CooperationReport.handled_at.is_(None))
                .options(joinedload(CooperationReport.department), joinedload(CooperationReport.reported_by))
                .order_by(CooperationReport.at.desc())
                .limit(100)
            )
        )
    return {"escalated": db.session.scalars(query).all(), "reports": reports, "now": now()}


def _pending_for_me() -> list[ResolutionProposal]:
    return list(
        db.session.scalars(
            select(ResolutionProposal)
            .join(ResolutionProposal.ticket)
            .where(ResolutionProposal.status == "pending")
            .where(visibility.visibility_clause(current_user))  # R10: never a case about themselves
            .options(joinedload(ResolutionProposal.ticket), joinedload(ResolutionProposal.proposed_by))
            .order_by(ResolutionProposal.proposed_at)
            .limit(200)
        )
    )


def _render_approvals(failed: RejectionForm | None = None, failed_id: int | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    """One rejection form per proposal (prefixed by id), so a failed one keeps its text and error."""
    proposals = _pending_for_me()
    forms = {p.id: RejectionForm(prefix=f"p{p.id}", formdata=None) for p in proposals}
    if failed is not None and failed_id in forms:
        forms[failed_id] = failed
    return render_template("manage/approvals.html", proposals=proposals, forms=forms), status


@bp.route("/approvals")
def approvals():
    _managers_only()
    return _render_approvals()


def _proposal_or_404(proposal_id: int) -> ResolutionProposal:
    proposal = db.session.get(ResolutionProposal, proposal_id)
    if proposal is None or visibility.visible_ticket(db.session, current_user, proposal.ticket_id) is None:
        deny("access_denied", f"proposal:{proposal_id}")
    return proposal


def _decide(run, proposal: ResolutionProposal, success: str):  # type: ignore[no-untyped-def]
    try:
        run()
    except NotPermitted as error:
        deny("approval_denied", f"proposal:{proposal.id}:{error}", status=403)
    except (Conflict, IllegalTransition):
        db.session.rollback()
        flash(_("This proposal has already been decided."), "warning")
        return redirect_after_post(url_for("manage.approvals")), 409
    flash(success, "success")
    return redirect_after_post(url_for("manage.approvals"))


@bp.route("/proposals/<int:proposal_id>/approve", methods=["POST"])
def approve(proposal_id: int):
    _managers_only()
    proposal = _proposal_or_404(proposal_id)
    if not ApprovalForm().validate_on_submit():
        abort(400)
    return _decide(
        lambda: resolutions.approve(db.session, current_user, proposal, now=now(), rules=rules()),
        proposal,
        _("Approved. The customer can now see the outcome."),
    )


@bp.route("/proposals/<int:proposal_id>/reject", methods=["POST"])
def reject(proposal_id: int):
    _managers_only()
    proposal = _proposal_or_404(proposal_id)
    form = RejectionForm(prefix=f"p{proposal_id}")
    if not form.validate_on_submit():
        return _render_approvals(form, proposal_id, 422)
    return _decide(
        lambda: resolutions.reject(db.session, current_user, proposal, form.reason.data, now=now()),
        proposal,
        _("Rejected. The owner has your reason."),
    )
