"""The customer's side: file a complaint or feedback, then follow it by a private link."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from portal.domain import workflow
from portal.domain.errors import Conflict, IllegalTransition
from portal.domain.workflow import Status
from portal.extensions import csrf, db, limiter
from portal.models import Attachment, Ticket
from portal.public import bp
from portal.public.forms import (
    ComplaintForm,
    CustomerMessageForm,
    FeedbackForm,
    LostLinkForm,
    OutcomeAnswerForm,
)
from portal.queries import choices, ticket_page
from portal.services import aftercare, filing, tracking
from portal.web.context import now, rules
from portal.web.forms import phone_to_e164
from portal.web.uploads import checked_uploads, download_response

TRACKED_KEY = "tracked_tickets"
MAX_TRACKED = 20


def _limit(name: str) -> str:
    return current_app.config[name]


def _remember_tracked(ticket: Ticket) -> None:
    """The tracking link is exchanged for a session, so the token leaves the URL (I4)."""
    tracked = [i for i in session.get(TRACKED_KEY, []) if i != ticket.id]
    session[TRACKED_KEY] = [ticket.id, *tracked][:MAX_TRACKED]


def _tracked_ticket_or_404(reference: str) -> Ticket:
    ticket = db.session.scalars(select(Ticket).where(Ticket.reference == reference)).first()
    if ticket is None or ticket.id not in session.get(TRACKED_KEY, []):
        abort(404)  # the reference alone never opens a case; same answer either way (I7)
    g.personal_page = True
    return ticket


@bp.route("/")
def home():
    return render_template("public/home.html")


@bp.route("/healthz/live")
def healthz_live():
    return {"status": "ok"}


@bp.route("/complaints/new", methods=["GET", "POST"])
@csrf.exempt  # the form checks its own token, so an expired one re-renders the text (E4)
@limiter.limit(lambda: _limit("RATELIMIT_FILE_COMPLAINT"), methods=["POST"])
def file_complaint():
    form = ComplaintForm()
    form.category.choices = [(c.id, c.name) for c in choices.active_categories(db.session)]
    form.ensure_idempotency_key()
    if request.method == "POST":
        valid = form.validate()
        files, file_errors = checked_uploads(request.files.getlist(form.attachments.name))
        form.attachments.errors = list(form.attachments.errors) + file_errors
        if form.csrf_token.errors:
            flash(
                _("Your form had expired. Everything you typed is still here: please send it again."),
                "warning",
            )
        if valid and not file_errors:
            filed = filing.file_ticket(
                db.session,
                form.to_intake(channel="web", locale=str(get_locale())),
                files,
                now=now(),
                rules=rules(),
            )
            return _confirm(filed)
        return render_template("public/file_complaint.html", form=form), 422
    return render_template("public/file_complaint.html", form=form)


@bp.route("/feedback/new", methods=["GET", "POST"])
@csrf.exempt  # as above: an expired token must not lose what the customer typed
@limiter.limit(lambda: _limit("RATELIMIT_FILE_COMPLAINT"), methods=["POST"])
def give_feedback():
    form = FeedbackForm()
    form.ensure_idempotency_key()
    if request.method == "POST":
        if form.csrf_token.errors or not form.validate():
            if form.csrf_token.errors:
                flash(
                    _("Your form had expired. Everything you typed is still here: please send it again."),
                    "warning",
                )
            return render_template("public/feedback.html", form=form), 422
        text = form.text.data
        filed = filing.file_ticket(
            db.session,
            filing.Intake(
                kind="feedback",
                customer_name=form.name.data or _("Anonymous"),
                customer_email=form.email.data or None,
                customer_phone=phone_to_e164(form.phone.data) if form.phone.data else None,
                # Stored data stays in one language whatever the customer's screen shows.
                subject=f"{form.kind.data.capitalize()} from the website",
                description=text,
                feedback_kind=form.kind.data,
                rating=int(form.rating.data) if form.rating.data else None,
                idempotency_key=form.idempotency_key.data,
                locale=str(get_locale()),
            ),
            [],
            now=now(),
            rules=rules(),
        )
        return _confirm(filed)
    return render_template("public/feedback.html", form=form)


def _confirm(filed: filing.Filed):
    """Post/redirect/get: the confirmation is shown only after the complaint is committed (R3)."""
    session["filed"] = {"reference": filed.ticket.reference, "token": filed.tracking_token}
    _remember_tracked(filed.ticket)
    return redirect(url_for("public.filed", reference=filed.ticket.reference), code=303)


@bp.route("/lost-link", methods=["GET", "POST"])
@limiter.limit(lambda: _limit("RATELIMIT_LOST_LINK"), methods=["POST"])
def lost_link():
    """Send the private link again to the contact on file; the same answer either way (I8)."""
    form = LostLinkForm()
    if form.validate_on_submit():
        contact = form.contact.data
        if "@" not in contact:
            contact = phone_to_e164(contact) or contact
        tracking.resend_tracking_link(db.session, form.reference.data, contact, now=now(), rules=rules())
        return render_template("public/lost_link.html", form=form, sent=True)
    status = 422 if request.method == "POST" else 200
    return render_template("public/lost_link.html", form=form, sent=False), status


@bp.route("/filed/<reference>")
def filed(reference: str):
    ticket = _tracked_ticket_or_404(reference)
    shown = session.get("filed") or {}
    token = shown.get("token") if shown.get("reference") == reference else None
    tracking_url = (
        current_app.config["BASE_URL"].rstrip("/") + url_for("public.track", token=token) if token else None
    )
    return render_template("public/filed.html", ticket=ticket, tracking_url=tracking_url)


@bp.route("/track/<token>")
@limiter.limit(lambda: _limit("RATELIMIT_TRACKING"))
def track(token: str):
    ticket = tracking.find_by_token(db.session, token)
    if ticket is None:
        abort(404)
    _remember_tracked(ticket)
    return redirect(url_for("public.case", reference=ticket.reference), code=303)


@bp.route("/case/<reference>")
def case(reference: str):
    ticket = _tracked_ticket_or_404(reference)
    return _render_case(ticket, CustomerMessageForm())


def _render_case(
    ticket: Ticket,
    form: CustomerMessageForm,
    status: int = 200,
    answer_form: OutcomeAnswerForm | None = None,
):
    events = ticket_page.timeline(db.session, ticket.id, public_only=True)
    attachments = db.session.scalars(
        select(Attachment)
        .where(Attachment.ticket_id == ticket.id, Attachment.uploaded_by == "customer")
        .order_by(Attachment.id)
    ).all()
    can_write = workflow.is_allowed(Status(ticket.status), workflow.Action.CUSTOMER_MESSAGE)
    return (
        render_template(
            "public/case.html",
            ticket=ticket,
            events=events,
            attachments=attachments,
            form=form,
            can_write=can_write,
            answer_form=answer_form or OutcomeAnswerForm(),
            can_answer=aftercare.can_answer(ticket),
        ),
        status,
        {"Referrer-Policy": "no-referrer"},
    )


@bp.route("/case/<reference>/messages", methods=["POST"])
@limiter.limit(lambda: _limit("RATELIMIT_FILE_COMPLAINT"))
def add_message(reference: str):
    ticket = _tracked_ticket_or_404(reference)
    form = CustomerMessageForm()
    valid = form.validate_on_submit()
    files, file_errors = checked_uploads(request.files.getlist(form.attachments.name))
    form.attachments.errors = list(form.attachments.errors) + file_errors
    if not valid or file_errors:
        return _render_case(ticket, form, 422)
    try:
        filing.add_customer_message(db.session, ticket, form.body.data, files, now=now(), rules=rules())
    except IllegalTransition:
        flash(_("This case is closed. Please file a new complaint if something is still wrong."), "warning")
        return _render_case(ticket, form, 409)
    flash(_("Thank you. Your message has been added to the case."), "success")
    return redirect(url_for("public.case", reference=ticket.reference), code=303)


@bp.route("/case/<reference>/attachments/<int:attachment_id>")
def case_attachment(reference: str, attachment_id: int):
    ticket = _tracked_ticket_or_404(reference)
    attachment = db.session.scalars(
        select(Attachment).where(
            Attachment.id == attachment_id,
            Attachment.ticket_id == ticket.id,  # child looked up through its parent (C13)
            Attachment.uploaded_by == "customer",
        )
    ).first()
    if attachment is None:
        abort(404)
    return download_response(attachment, current_app.config["UPLOAD_FOLDER"])


@bp.route("/case/<reference>/answer", methods=["POST"])
@limiter.limit(lambda: _limit("RATELIMIT_FILE_COMPLAINT"))
def answer_outcome(reference: str):
    """R15/R16: the customer says whether the outcome resolves it; "no" reopens it one tier up."""
    ticket = _tracked_ticket_or_404(reference)
    form = OutcomeAnswerForm()
    if not form.validate_on_submit():
        return _render_case(ticket, CustomerMessageForm(), 422, answer_form=form)
    try:
        aftercare.customer_answer(
            db.session,
            ticket,
            satisfied=form.resolved.data == "yes",
            satisfaction=int(form.satisfaction.data) if form.satisfaction.data else None,
            comment=form.comment.data,
            now=now(),
            rules=rules(),
        )
    except (Conflict, IllegalTransition):
        db.session.rollback()
        flash(_("We already have your answer to this outcome. Thank you."), "info")
        return redirect(url_for("public.case", reference=ticket.reference), code=303)
    if form.resolved.data == "yes":
        flash(_("Thank you. We are glad it is resolved; the case is now closed."), "success")
    else:
        flash(
            _(
                "We are sorry it is not resolved. "
                "Your complaint is reopened and passed to a senior colleague."
            ),
            "success",
        )
    return redirect(url_for("public.case", reference=ticket.reference), code=303)
