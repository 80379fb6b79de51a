"""The customer's side: file a complaint or feedback, then follow it by a private link."""

from __future__ import annotations

from typing import Any

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
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from portal.domain import workflow
from portal.domain.workflow import Status
from portal.extensions import csrf, db, limiter
from portal.models import Ticket
from portal.public import bp
from portal.public.forms import (
    ComplaintForm,
    CustomerMessageForm,
    FeedbackForm,
    LostLinkForm,
    OutcomeAnswerForm,
)
from portal.queries import case as case_queries
from portal.queries import choices, ticket_page
from portal.services import aftercare, filing, tracking
from portal.web import errors
from portal.web.answers import Answers, invalid_form, run_service
from portal.web.context import now, rules
from portal.web.forms import phone_to_e164
from portal.web.uploads import checked_uploads, download_response

# The cases this browser follows: [ticket id, mark of the link that opened it] pairs, newest first.
TRACKED_KEY = "tracked_tickets"
MAX_TRACKED = 20
# The categories last read for the complaint form, per app, shown again while the database is down.
CATEGORY_MEMO = "portal.public.categories"


def _limit(name: str) -> str:
    return current_app.config[name]


def _tracked() -> dict[int, object]:
    """Ticket id → the link mark this session holds for it.

    Entries of any other shape (a bare id, from cookies issued before marks existed) are left out:
    they cannot show which link opened them, so they open nothing (I5).
    """
    tracked: dict[int, object] = {}
    for entry in session.get(TRACKED_KEY, []):
        if isinstance(entry, list | tuple) and len(entry) == 2 and isinstance(entry[0], int):
            tracked.setdefault(entry[0], entry[1])
    return tracked


def _keep_tracked(tracked: dict[int, object]) -> None:
    session[TRACKED_KEY] = [[ticket_id, mark] for ticket_id, mark in tracked.items()][:MAX_TRACKED]


def _remember_tracked(ticket: Ticket) -> None:
    """The tracking link is exchanged for a session, so the token leaves the URL (I4).

    The session keeps the mark of the link that opened the case (never the token), so a new link
    ends this session as it ends the old link (I5).
    """
    tracked: dict[int, object] = {ticket.id: tracking.link_fingerprint(ticket)}
    tracked.update((i, mark) for i, mark in _tracked().items() if i != ticket.id)
    _keep_tracked(tracked)


def _tracked_ticket_or_404(reference: str) -> Ticket:
    ticket = case_queries.ticket_by_reference(db.session, reference)
    tracked = _tracked()
    if ticket is None or ticket.id not in tracked:
        abort(404)  # the reference alone never opens a case; same answer either way (I7)
    if not tracking.opened_by_current_link(ticket, tracked[ticket.id]):
        # I5: the link that opened this session was replaced ("lost my link"): the session ends
        # with it, and the answer is the same as for a case this browser never opened.
        del tracked[ticket.id]
        _keep_tracked(tracked)
        abort(404)
    g.personal_page = True
    return ticket


@bp.route("/")
def home():
    return render_template("public/home.html")


@bp.route("/complaints/new", methods=["GET", "POST"])
@csrf.exempt  # the form checks its own token, so an expired one re-renders the text (E4)
@limiter.limit(lambda: _limit("RATELIMIT_FILE_COMPLAINT"), methods=["POST"])
def file_complaint():
    form = ComplaintForm()
    form.category.choices = _category_choices()
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
        answers = _filing_answers("public/file_complaint.html", form)
        if not valid or file_errors:
            return invalid_form(answers)
        return run_service(
            lambda: filing.file_ticket(
                db.session,
                form.to_intake(channel="web", locale=str(get_locale())),
                files,
                now=now(),
                rules=rules(),
            ),
            answers,
        )
    return render_template("public/file_complaint.html", form=form)


@bp.route("/feedback/new", methods=["GET", "POST"])
@csrf.exempt  # as above: an expired token must not lose what the customer typed
@limiter.limit(lambda: _limit("RATELIMIT_FILE_COMPLAINT"), methods=["POST"])
def give_feedback():
    form = FeedbackForm()
    form.ensure_idempotency_key()
    if request.method == "POST":
        answers = _filing_answers("public/feedback.html", form)
        if form.csrf_token.errors or not form.validate():
            if form.csrf_token.errors:
                flash(
                    _("Your form had expired. Everything you typed is still here: please send it again."),
                    "warning",
                )
            return invalid_form(answers)
        intake = filing.Intake(
            kind="feedback",
            customer_name=form.name.data or _("Anonymous"),
            customer_email=form.email.data or None,
            customer_phone=phone_to_e164(form.phone.data) if form.phone.data else None,
            # Stored data stays in one language whatever the customer's screen shows.
            subject=f"{form.kind.data.capitalize()} from the website",
            description=form.text.data,
            feedback_kind=form.kind.data,
            rating=int(form.rating.data) if form.rating.data else None,
            idempotency_key=form.idempotency_key.data,
            locale=str(get_locale()),
        )
        return run_service(
            lambda: filing.file_ticket(db.session, intake, [], now=now(), rules=rules()), answers
        )
    return render_template("public/feedback.html", form=form)


def _category_choices() -> list[tuple[int, str]]:
    """The categories a customer may choose, remembered for the page a busy database answers with."""
    offered = [(c.id, c.name) for c in choices.active_categories(db.session)]
    current_app.extensions[CATEGORY_MEMO] = offered
    return offered


def _remembered_category_choices(chosen: object) -> list[tuple[int, str]]:
    """The categories as last read, without the database; the customer's choice is never dropped.

    Only the 503 page shows these: what is sent again is checked against the database's own list.
    """
    offered = list(current_app.extensions.get(CATEGORY_MEMO, []))
    if isinstance(chosen, int) and chosen not in {value for value, _label in offered}:
        offered.append((chosen, _("The category you chose")))
    return offered


# --- refusals that keep what was typed: a busy database (L1, L2) and the rate limit (J1) -----
# As for an expired form (E4), the complaint and feedback forms come back with everything the
# customer typed and a fresh token; the status and Retry-After stay those of the refusal.

FILING_FORMS = ("public.file_complaint", "public.give_feedback")


def _posted_filing_form(database_up: bool) -> str:
    if request.endpoint == "public.file_complaint":
        form = ComplaintForm()
        form.category.choices = (
            _category_choices() if database_up else _remembered_category_choices(form.category.data)
        )
        form.ensure_idempotency_key()  # kept as sent: sent again, it cannot file a second complaint
        return render_template("public/file_complaint.html", form=form)
    feedback = FeedbackForm()
    feedback.ensure_idempotency_key()
    return render_template("public/feedback.html", form=feedback)


def _filing_form_posted() -> bool:
    return request.method == "POST" and request.endpoint in FILING_FORMS


@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def _database_busy(error: DBAPIError) -> ResponseReturnValue:
    if not _filing_form_posted():
        return errors.database_error(error)

    def page(seconds: int) -> str:
        flash(
            _(
                "We could not save this because the service is busy. Everything you typed is still "
                "here: please send it again in %(wait)s. It will not be recorded twice.",
                wait=errors.wait_in_words(seconds),
            ),
            "warning",
        )
        return _posted_filing_form(database_up=False)

    return errors.database_error(error, page)


@bp.errorhandler(429)
def _too_many(_error: Exception) -> ResponseReturnValue:
    if not _filing_form_posted():
        return errors.too_many_requests()

    def page(seconds: int) -> str:
        flash(
            _(
                "Too many forms were sent from your connection in a short time. Everything you typed "
                "is still here: please send it again in %(wait)s.",
                wait=errors.wait_in_words(seconds),
            ),
            "warning",
        )
        return _posted_filing_form(database_up=True)

    return errors.too_many_requests(page)


def _filing_answers(template: str, form: Any) -> Answers:
    """A filing form answers with its confirmation, or with itself and what was typed.

    No service error is turned into a page here: the form's choices already keep out what
    filing refuses, so anything else is a fault (500), as before.
    """
    return Answers(
        target="ticket:new",
        done=_confirm,
        again=lambda status: (render_template(template, form=form), status),
        invalid={},
    )


def _confirm(filed: filing.Filed) -> ResponseReturnValue:
    """Post/redirect/get: the confirmation is shown only after the complaint is committed (R3)."""
    session["filed"] = {"reference": filed.ticket.reference, "token": filed.tracking_token}
    _remember_tracked(filed.ticket)
    return redirect(url_for("public.filed", reference=filed.ticket.reference), code=303)


@bp.route("/lost-link", methods=["GET", "POST"])
@limiter.limit(lambda: _limit("RATELIMIT_LOST_LINK"), methods=["POST"])
def lost_link():
    """Send the private link again to the contact on file; the same answer either way (I8)."""
    form = LostLinkForm()
    answers = Answers(
        target="lost_link",
        # Whether a link went out is not said: the same page either way (I8).
        done=lambda _sent: render_template("public/lost_link.html", form=form, sent=True),
        again=lambda status: (render_template("public/lost_link.html", form=form, sent=False), status),
        invalid={},
    )
    if not form.is_submitted():
        return answers.again(200)
    if not form.validate():
        return invalid_form(answers)
    contact = form.contact.data
    if "@" not in contact:
        contact = phone_to_e164(contact) or contact
    return run_service(
        lambda: tracking.resend_tracking_link(
            db.session, form.reference.data, contact, now=now(), rules=rules()
        ),
        answers,
    )


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
    g.personal_page = True  # the redirect names the case: no cache keeps it (Cache-Control, I4)
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
    attachments = case_queries.customer_attachments(db.session, ticket.id)
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
    answers = Answers(
        target=f"case:{reference}",
        done=lambda _none: _back_to_case(reference),
        again=lambda status: _render_case(ticket, form, status),
        # A closed case takes no more messages (IllegalTransition → 409 with the page as it is).
        conflict=_l("This case is closed. Please file a new complaint if something is still wrong."),
        invalid={},
    )
    if not valid or file_errors:
        return invalid_form(answers)
    return run_service(
        lambda: filing.add_customer_message(
            db.session, ticket, form.body.data, files, now=now(), rules=rules()
        ),
        answers,
        success=_l("Thank you. Your message has been added to the case."),
    )


def _back_to_case(reference: str) -> ResponseReturnValue:
    return redirect(url_for("public.case", reference=reference), code=303)


@bp.route("/case/<reference>/attachments/<int:attachment_id>")
def case_attachment(reference: str, attachment_id: int):
    ticket = _tracked_ticket_or_404(reference)
    # The file is looked up through its case (C13), and only among the customer's own.
    attachment = case_queries.customer_attachment(db.session, ticket.id, attachment_id)
    if attachment is None:
        abort(404)
    return download_response(attachment, current_app.config["UPLOAD_FOLDER"])


@bp.route("/case/<reference>/answer", methods=["POST"])
@limiter.limit(lambda: _limit("RATELIMIT_FILE_COMPLAINT"))
def answer_outcome(reference: str):
    """R15/R16: the customer says whether the outcome resolves it; "no" reopens it one tier up."""
    ticket = _tracked_ticket_or_404(reference)
    form = OutcomeAnswerForm()

    def again(status: int) -> ResponseReturnValue:
        if status == 409:  # answered already (twice sent, or another tab): the case as it is now
            return _back_to_case(reference)
        return _render_case(ticket, CustomerMessageForm(), status, answer_form=form)

    answers = Answers(
        target=f"case:{reference}",
        done=lambda _none: _back_to_case(reference),
        again=again,
        conflict=_already_answered,
        invalid={},
    )
    if not form.validate_on_submit():
        return invalid_form(answers)
    satisfied = form.resolved.data == "yes"
    return run_service(
        lambda: aftercare.customer_answer(
            db.session,
            ticket,
            satisfied=satisfied,
            satisfaction=int(form.satisfaction.data) if form.satisfaction.data else None,
            comment=form.comment.data,
            now=now(),
            rules=rules(),
        ),
        answers,
        success=lambda _none: (
            _("Thank you. We are glad it is resolved; the case is now closed.")
            if satisfied
            else _(
                "We are sorry it is not resolved. "
                "Your complaint is reopened and passed to a senior colleague."
            )
        ),
    )


def _already_answered(_error: Exception) -> None:
    """Thanks, not a warning: the customer did nothing wrong by answering twice (flashed as info)."""
    flash(_("We already have your answer to this outcome. Thank you."), "info")
