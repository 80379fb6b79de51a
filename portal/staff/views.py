"""The staff workspace: the queue, the ticket page, the actions on a ticket, and registering (R1).

Each action is a body under `@ticket_action` (portal/staff/actions.py), which gives it the one
shape every ticket action has; reads come from `portal.queries`, writes from `portal.services`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.domain import text
from portal.extensions import db
from portal.models import Ticket
from portal.queries import choices, staff_queue, ticket_page
from portal.services import filing, resolutions, tickets
from portal.staff import bp
from portal.staff.actions import ticket_action
from portal.staff.forms import (
    CategoryForm,
    CloseForm,
    NoteForm,
    PriorityForm,
    RegisterComplaintForm,
    ReopenForm,
    ReplyForm,
    ResolveForm,
    TransferForm,
)
from portal.staff.ticket_screen import category_choices, department_choices, render_ticket, root_cause_choices
from portal.web.access import deny, ticket_or_404
from portal.web.answers import Answers, InvalidInput, invalid_form, run_service
from portal.web.context import now, rules
from portal.web.forms import ActionForm
from portal.web.htmx import render_page_or_fragment
from portal.web.presentation import PRIORITY_LABELS, from_local
from portal.web.routing import id_from_query
from portal.web.uploads import checked_uploads, download_response

# --- the queue -----------------------------------------------------------------------------


def _one(name: str, allowed: tuple[str, ...], default: str) -> str:
    """Take the first value of a repeated parameter, and only if it is allowed (A11)."""
    value = request.args.get(name, default)
    return value if value in allowed else default


def _cursor(value: str | None) -> tuple[datetime, int] | None:
    if not value or "~" not in value:
        return None
    stamp, _sep, ident = value.rpartition("~")
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    row_id = id_from_query(ident)
    return (moment, row_id) if row_id is not None else None


def queue_filter_from_request() -> staff_queue.QueueFilter:
    after = _cursor(request.args.get("after"))
    return staff_queue.QueueFilter(
        scope=_one("scope", staff_queue.SCOPES, "all"),
        status=_one("status", staff_queue.STATUS_FILTERS, "open"),
        category_id=id_from_query(request.args.get("category")),
        priority=_one("priority", ("", *PRIORITY_LABELS), "") or None,
        text=(text.normalise_text(request.args.get("q", "")) or "")[:200],
        sort=_one("sort", staff_queue.SORTS, "due"),
        after=after if after and after[0].tzinfo else None,
    )


def queue_url(qf: staff_queue.QueueFilter, **changes: Any) -> str:
    params = {
        "scope": qf.scope,
        "status": qf.status,
        "category": qf.category_id or "",
        "priority": qf.priority or "",
        "q": qf.text,
        "sort": qf.sort,
    }
    params.update(changes)
    return url_for("staff.queue", **{k: v for k, v in params.items() if v not in ("", None)})


@bp.route("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("staff.queue"))


@bp.route("/queue")
def queue() -> ResponseReturnValue:
    qf = queue_filter_from_request()
    page = staff_queue.queue_page(db.session, current_user, qf, current_app.config["QUEUE_PAGE_SIZE"])
    next_url = None
    if page.next_cursor:
        next_url = queue_url(qf, after=f"{page.next_cursor[0].isoformat()}~{page.next_cursor[1]}")
    return render_page_or_fragment(
        "staff/queue.html",
        "staff/_queue_rows.html",
        "queue-rows",
        page=page,
        qf=qf,
        counts=staff_queue.queue_counts(db.session, current_user),
        categories=choices.active_categories(db.session),
        next_url=next_url,
        first_url=queue_url(qf) if qf.after else None,
        queue_url=queue_url,
        action_form=ActionForm(),
        now=now(),
    )


# --- the ticket page -----------------------------------------------------------------------


@bp.route("/tickets/<int:ticket_id>")
def ticket(ticket_id: int) -> ResponseReturnValue:
    return render_ticket(ticket_or_404(ticket_id))


@bp.route("/tickets/<int:ticket_id>/attachments/<int:attachment_id>")
def attachment(ticket_id: int, attachment_id: int) -> ResponseReturnValue:
    ticket = ticket_or_404(ticket_id)
    found = ticket_page.attachment(db.session, ticket.id, attachment_id)
    if found is None:
        deny("access_denied", f"attachment:{attachment_id}")
    return download_response(found, current_app.config["UPLOAD_FOLDER"])


# --- actions (see portal/staff/actions.py for the view around each body) --------------------


@ticket_action("claim", ActionForm, "action_form", _l("You own this ticket now."))
def claim(ticket: Ticket, form: ActionForm) -> None:
    tickets.claim(db.session, current_user, ticket, now=now(), rules=rules())


@ticket_action(
    "acknowledge",
    ActionForm,
    "action_form",
    _l("The customer can see that their complaint was acknowledged."),
)
def acknowledge(ticket: Ticket, form: ActionForm) -> None:
    tickets.acknowledge(db.session, current_user, ticket, now=now(), rules=rules())


@ticket_action("reply", ReplyForm, "reply_form", _l("Your reply is on the customer's page."))
def reply(ticket: Ticket, form: ReplyForm) -> None:
    """R8: a promised update must lie ahead, or the customer would be told of it too late."""
    promise_due = from_local(form.promise_by.data) if form.promise_by.data else None
    if promise_due is not None and promise_due <= now():
        raise InvalidInput(_l("Choose a time in the future."), form.promise_by)
    tickets.reply(
        db.session, current_user, ticket, form.body.data, now=now(), rules=rules(), promise_due=promise_due
    )


@ticket_action("notes", NoteForm, "note_form", _l("Internal note added."))
def note(ticket: Ticket, form: NoteForm) -> None:
    tickets.add_note(db.session, current_user, ticket, form.body.data, now=now())


@ticket_action(
    "category", CategoryForm, "category_form", _l("Category changed."), choices={"category": category_choices}
)
def recategorise(ticket: Ticket, form: CategoryForm) -> None:
    tickets.recategorise(
        db.session,
        current_user,
        ticket,
        form.category.data,
        now=now(),
        expected_version=form.expected_version(),
    )


@ticket_action("priority", PriorityForm, "priority_form", _l("Priority changed."))
def reprioritise(ticket: Ticket, form: PriorityForm) -> None:
    tickets.reprioritise(
        db.session,
        current_user,
        ticket,
        form.priority.data,
        now=now(),
        expected_version=form.expected_version(),
    )


@ticket_action(
    "transfer",
    TransferForm,
    "transfer_form",
    _l("Transferred. You remain the owner and the other department sees it in its queue."),
    choices={"department": department_choices},
)
def transfer(ticket: Ticket, form: TransferForm) -> None:
    tickets.transfer(
        db.session,
        current_user,
        ticket,
        form.department.data,
        form.note.data,
        now=now(),
        expected_version=form.expected_version(),
    )


@ticket_action("resolve", ResolveForm, "resolve_form", choices={"root_cause": root_cause_choices})
def resolve(ticket: Ticket, form: ResolveForm) -> str:
    """Resolve at once (R4), or send the proposal to a manager when it needs approval (R12)."""
    if form.outcome.data == "compensation" and not form.amount.data:
        raise InvalidInput(_l("Enter the amount of the refund or compensation."), form.amount)
    proposal = resolutions.ProposalInput(
        summary=form.summary.data,
        customer_reply=form.customer_reply.data or form.summary.data,
        outcome=form.outcome.data,
        amount_minor=int(form.amount.data * 100) if form.amount.data is not None else None,
        root_cause_id=form.root_cause.data or None,
    )
    row = resolutions.resolve_or_propose(
        db.session,
        current_user,
        ticket,
        proposal,
        now=now(),
        rules=rules(),
        expected_version=form.expected_version(),
    )
    if row.status == "pending":
        return _("Sent to a manager for approval. The customer sees nothing until it is approved.")
    return _("Resolved. The customer can see the outcome.")


@ticket_action("reopen", ReopenForm, "reopen_form", _l("Reopened."))
def reopen(ticket: Ticket, form: ReopenForm) -> None:
    tickets.reopen(
        db.session,
        current_user,
        ticket,
        form.reason.data,
        now=now(),
        rules=rules(),
        expected_version=form.expected_version(),
    )


@ticket_action("close", CloseForm, "close_form", _l("Closed."))
def close(ticket: Ticket, form: CloseForm) -> None:
    tickets.close(db.session, current_user, ticket, now=now(), expected_version=form.expected_version())


# --- registering a complaint for a customer (R1) -------------------------------------------


@bp.route("/complaints/new", methods=["GET", "POST"])
def register_complaint() -> ResponseReturnValue:
    form = RegisterComplaintForm()
    form.category.choices = category_choices()
    form.ensure_idempotency_key()
    if request.method != "POST":
        return render_template("staff/register_complaint.html", form=form)

    def done(filed: filing.Filed) -> ResponseReturnValue:
        # The tracking link is shown once, on the next page: only its hash is stored (I1).
        session["registered"] = {"ticket_id": filed.ticket.id, "token": filed.tracking_token}
        return redirect(url_for("staff.registered", ticket_id=filed.ticket.id), code=303)

    answers = Answers(
        target="complaints:new",
        done=done,
        again=lambda status: (render_template("staff/register_complaint.html", form=form), status),
    )
    valid = form.validate()
    files, file_errors = checked_uploads(request.files.getlist(form.attachments.name))
    form.attachments.errors = list(form.attachments.errors) + file_errors
    if not valid or file_errors:
        return invalid_form(answers)
    return run_service(
        lambda: filing.file_ticket(
            db.session,
            form.to_intake(channel=form.channel.data, locale=str(get_locale())),
            files,
            now=now(),
            rules=rules(),
            registered_by=current_user,
        ),
        answers,
    )


@bp.route("/complaints/<int:ticket_id>/registered")
def registered(ticket_id: int) -> ResponseReturnValue:
    """Show the customer's tracking link once, to read out or post to them."""
    ticket = ticket_or_404(ticket_id)
    shown = session.get("registered") or {}
    token = shown.get("token") if shown.get("ticket_id") == ticket.id else None
    tracking_url = (
        current_app.config["BASE_URL"].rstrip("/") + url_for("public.track", token=token) if token else None
    )
    return render_template("staff/registered.html", ticket=ticket, tracking_url=tracking_url)
