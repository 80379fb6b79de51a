"""Leads' and managers' screens: the approvals inbox (R12) and the escalated work (R6, R9)."""

from __future__ import annotations

from flask import abort, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from portal.domain.permissions import Role
from portal.extensions import db
from portal.manage import bp
from portal.manage.forms import ApprovalForm, RejectionForm
from portal.models import ResolutionProposal
from portal.queries import approvals as inbox
from portal.queries import escalated
from portal.services import resolutions
from portal.web.access import deny
from portal.web.answers import Answers, back_or_again, go_to, run_service, submitted
from portal.web.context import now, rules


def _managers_only() -> None:
    if current_user.role != Role.MANAGER:
        deny("access_denied", "manage:approvals", status=403)


@bp.route("/")
def index() -> ResponseReturnValue:
    overview = escalated.overview(db.session, current_user)
    return render_template(
        "manage/index.html", escalated=overview.escalated, reports=overview.reports, now=now()
    )


def _render_approvals(
    failed: RejectionForm | None = None, failed_id: int | None = None, status: int = 200
) -> ResponseReturnValue:
    """One rejection form per proposal (prefixed by id), so a failed one keeps its text and error."""
    proposals = inbox.pending(db.session, current_user)
    forms = {p.id: RejectionForm(prefix=f"p{p.id}", formdata=None) for p in proposals}
    if failed is not None and failed_id in forms:
        forms[failed_id] = failed
    return render_template("manage/approvals.html", proposals=proposals, forms=forms), status


@bp.route("/approvals")
def approvals() -> ResponseReturnValue:
    _managers_only()
    return _render_approvals()


def _proposal_or_404(proposal_id: int) -> ResolutionProposal:
    """R10: a proposal about oneself is answered exactly like one that does not exist."""
    proposal = inbox.visible_proposal(db.session, current_user, proposal_id)
    if proposal is None:
        deny("access_denied", f"proposal:{proposal_id}")
    return proposal


def _decision(proposal_id: int, form: RejectionForm | None = None) -> Answers:
    """Approving and rejecting answer alike: back to the inbox, which shows what is left to decide."""
    back = url_for("manage.approvals")
    return Answers(
        target=f"proposal:{proposal_id}",
        denied_action="approval_denied",  # R12 four-eyes: one's own proposal is another manager's
        done=go_to(back),
        # Decided meanwhile (a double click, another manager: K3): the inbox as it now is, 409.
        again=back_or_again(back, lambda status: _render_approvals(form, proposal_id, status)),
        conflict=_("This proposal has already been decided."),
    )


@bp.route("/proposals/<int:proposal_id>/approve", methods=["POST"])
def approve(proposal_id: int) -> ResponseReturnValue:
    _managers_only()
    proposal = _proposal_or_404(proposal_id)
    if not ApprovalForm().validate_on_submit():
        abort(400)  # CSRF only: there is nothing typed to show again
    return run_service(
        lambda: resolutions.approve(db.session, current_user, proposal, now=now(), rules=rules()),
        _decision(proposal_id),
        success=_("Approved. The customer can now see the outcome."),
    )


@bp.route("/proposals/<int:proposal_id>/reject", methods=["POST"])
def reject(proposal_id: int) -> ResponseReturnValue:
    _managers_only()
    proposal = _proposal_or_404(proposal_id)
    form = RejectionForm(prefix=f"p{proposal_id}")
    return submitted(
        form,
        lambda: resolutions.reject(db.session, current_user, proposal, form.reason.data, now=now()),
        _decision(proposal_id, form),
        success=_("Rejected. The owner has your reason."),
    )
