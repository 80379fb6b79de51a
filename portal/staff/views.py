"""The staff workspace: the queue, the ticket page and the actions on a ticket.

Views parse, call one service, and turn domain errors into answers: NotPermitted → 403 with an
audit row, IllegalTransition/Conflict → 409 with the page, bad input → 422 with the form.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.domain import ladder as ladder_rules
from portal.domain import sla, text
from portal.domain.errors import Conflict, IllegalTransition, NotPermitted
from portal.extensions import db
from portal.models import Attachment, Ticket
from portal.queries import choices, staff_queue, ticket_page
from portal.services import filing, resolutions, spot_checks, tickets
from portal.staff import bp
from portal.staff.forms import (
    CategoryForm,
    CloseForm,
    CustomerTierForm,
    EscalateForm,
    ExtendForm,
    LinkStaffForm,
    NoncooperationForm,
    NoteForm,
    PauseForm,
    PriorityForm,
    RegisterComplaintForm,
    ReopenForm,
    ReplyForm,
    ResolveForm,
    SendBackForm,
    SeriousForm,
    TransferForm,
)
from portal.web.access import deny, refuse, ticket_or_404
from portal.web.context import now, rules
from portal.web.forms import ActionForm
from portal.web.htmx import is_htmx, render_page_or_fragment
from portal.web.navigation import redirect_after_post, safe_next
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
def index():
    return redirect(url_for("staff.queue"))


@bp.route("/queue")
def queue():
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


def staff_choices() -> list[tuple[int, str]]:
    """Staff who can be named as the subject of a complaint (R10); 0 means nobody."""
    people = [(u.id, u.name) for u in choices.staff_users(db.session) if u.role != "admin"]
    return [(0, _("Nobody")), *people]


def _ticket_context(ticket: Ticket, **forms: Any) -> dict[str, Any]:
    categories = choices.active_categories(db.session)
    all_departments = choices.departments(db.session)
    other_departments = [d for d in all_departments if d.id != ticket.department_id]
    current = now()
    context: dict[str, Any] = {
        "ticket": ticket,
        "events": ticket_page.timeline(db.session, ticket.id, public_only=False),
        "attachments": db.session.scalars(
            select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)
        ).all(),
        "history": ticket_page.ticket_history(db.session, ticket.id),
        "clocks": clock_view(ticket, current),
        "action_form": ActionForm(),
        "reply_form": ReplyForm(),
        "note_form": NoteForm(),
        "category_form": CategoryForm(category=ticket.category_id, version=ticket.version),
        "priority_form": PriorityForm(priority=ticket.priority, version=ticket.version),
        "customer_tier_form": CustomerTierForm(customer_tier=ticket.customer_tier),
        "transfer_form": TransferForm(version=ticket.version),
        "resolve_form": ResolveForm(version=ticket.version),
        "reopen_form": ReopenForm(version=ticket.version),
        "close_form": CloseForm(version=ticket.version),
        "escalate_form": EscalateForm(version=ticket.version),
        "send_back_form": SendBackForm(version=ticket.version),
        "serious_form": SeriousForm(),
        "noncooperation_form": NoncooperationForm(),
        "link_staff_form": LinkStaffForm(user=ticket.concerns_user_id or 0),
        "extend_form": ExtendForm(version=ticket.version),
        "pause_form": PauseForm(),
        "now": current,
        "can_send_back": ladder_rules.can_send_back(current_user.role, ticket.tier),
        "my_recheck": spot_checks.open_recheck(db.session, current_user, ticket.id),
    }
    context.update(forms)
    context["category_form"].category.choices = [(c.id, c.name) for c in categories]
    context["transfer_form"].department.choices = [(d.id, d.name) for d in other_departments]
    context["noncooperation_form"].department.choices = [(d.id, d.name) for d in other_departments]
    context["link_staff_form"].user.choices = staff_choices()
    context["extend_form"].working_days.choices = extension_choices()
    context["resolve_form"].root_cause.choices = root_cause_choices()
    return context


def root_cause_choices() -> list[tuple[int, str]]:
    return [(0, _("Not recorded")), *((c.id, c.name) for c in choices.active_root_causes(db.session))]


def extension_choices() -> list[tuple[int, str]]:
    """R7: more than the normal limit and at most the maximum, in working days from receipt."""
    policy = rules().policy
    return [
        (days, _("%(days)d working days", days=days))
        for days in range(policy.resolve_working_days + 1, policy.max_working_days + 1)
    ]


def clock_view(ticket: Ticket, current: datetime) -> dict[str, Any]:
    """The two service clocks as the ticket page shows them (R3, R7)."""
    acknowledgement = sla.clock_state(
        current, started_at=ticket.received_at, due_at=ticket.ack_due_at, stopped_at=ticket.acknowledged_at
    )
    resolution = sla.clock_state(
        current,
        started_at=ticket.received_at,
        due_at=ticket.resolve_due_at,
        stopped_at=ticket.resolved_at,
        paused_at=ticket.paused_at,
    )
    return {"acknowledgement": acknowledgement, "resolution": resolution}


def _render_ticket(ticket: Ticket, status: int = 200, **forms: Any):
    return render_template("staff/ticket.html", **_ticket_context(ticket, **forms)), status


@bp.route("/tickets/<int:ticket_id>")
def ticket(ticket_id: int):
    return _render_ticket(ticket_or_404(ticket_id))


@bp.route("/tickets/<int:ticket_id>/attachments/<int:attachment_id>")
def attachment(ticket_id: int, attachment_id: int):
    ticket = ticket_or_404(ticket_id)
    found = db.session.scalars(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.ticket_id == ticket.id)
    ).first()
    if found is None:
        deny("access_denied", f"attachment:{attachment_id}")
    return download_response(found, current_app.config["UPLOAD_FOLDER"])


# --- actions -------------------------------------------------------------------------------


def run_action(
    ticket: Ticket, run: Callable[[], object], success: str, form_name: str | None = None, form: Any = None
):
    """Run one service call and answer: redirect on success, the page with the reason otherwise.

    `run` may return a message that replaces `success` (when the outcome decides the wording).
    """
    forms = {form_name: form} if form_name else {}
    try:
        message = run()
    except NotPermitted as error:
        refuse(error, ticket)
    except (IllegalTransition, Conflict) as error:
        db.session.rollback()
        db.session.refresh(ticket)
        flash(_conflict_message(error), "warning")
        return _answer_refusal(ticket, 409, forms)
    except ValueError:
        db.session.rollback()
        flash(_("That choice is not available."), "warning")
        return _answer_refusal(ticket, 422, forms)
    flash(message if isinstance(message, str) else success, "success")
    return _done(ticket)


def _conflict_message(error: Exception) -> str:
    if isinstance(error, Conflict):
        return _("Someone else changed this ticket first. Here it is as it is now; please check and retry.")
    return _("That is not possible in the ticket's current status.")


def _answer_refusal(ticket: Ticket, status: int, forms: dict[str, Any]):
    if is_htmx() and request.headers.get("HX-Target") == f"ticket-row-{ticket.id}":
        return render_template(
            "staff/_queue_row.html", ticket=ticket, action_form=ActionForm(), now=now(), oob_flash=True
        ), status
    return _render_ticket(ticket, status, **forms)


def _done(ticket: Ticket):
    if is_htmx() and request.headers.get("HX-Target") == f"ticket-row-{ticket.id}":
        # The row in place, plus the flash and the tab counts out of band.
        return render_template(
            "staff/_queue_row.html",
            ticket=ticket,
            action_form=ActionForm(),
            now=now(),
            oob_flash=True,
            oob_counts=True,
            counts=staff_queue.queue_counts(db.session, current_user),
        )
    target = safe_next(request.form.get("next")) or url_for("staff.ticket", ticket_id=ticket.id)
    return redirect_after_post(target)


def invalid_form(ticket: Ticket, form_name: str, form: Any):
    return _render_ticket(ticket, 422, **{form_name: form})


@bp.route("/tickets/<int:ticket_id>/claim", methods=["POST"])
def claim(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    if not ActionForm().validate_on_submit():
        return invalid_form(ticket, "action_form", ActionForm())
    return run_action(
        ticket,
        lambda: tickets.claim(db.session, current_user, ticket, now=now(), rules=rules()),
        _("You own this ticket now."),
    )


@bp.route("/tickets/<int:ticket_id>/acknowledge", methods=["POST"])
def acknowledge(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    if not ActionForm().validate_on_submit():
        return invalid_form(ticket, "action_form", ActionForm())
    return run_action(
        ticket,
        lambda: tickets.acknowledge(db.session, current_user, ticket, now=now(), rules=rules()),
        _("The customer can see that their complaint was acknowledged."),
    )


@bp.route("/tickets/<int:ticket_id>/reply", methods=["POST"])
def reply(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = ReplyForm()
    if not form.validate_on_submit():
        return invalid_form(ticket, "reply_form", form)
    promise_due = from_local(form.promise_by.data) if form.promise_by.data else None
    if promise_due is not None and promise_due <= now():
        form.promise_by.errors = [_("Choose a time in the future.")]
        return invalid_form(ticket, "reply_form", form)
    return run_action(
        ticket,
        lambda: tickets.reply(
            db.session,
            current_user,
            ticket,
            form.body.data,
            now=now(),
            rules=rules(),
            promise_due=promise_due,
        ),
        _("Your reply is on the customer's page."),
        "reply_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/notes", methods=["POST"])
def note(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return invalid_form(ticket, "note_form", form)
    return run_action(
        ticket,
        lambda: tickets.add_note(db.session, current_user, ticket, form.body.data, now=now()),
        _("Internal note added."),
        "note_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/category", methods=["POST"])
def recategorise(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = CategoryForm()
    form.category.choices = [(c.id, c.name) for c in choices.active_categories(db.session)]
    if not form.validate_on_submit():
        return invalid_form(ticket, "category_form", form)
    return run_action(
        ticket,
        lambda: tickets.recategorise(
            db.session,
            current_user,
            ticket,
            form.category.data,
            now=now(),
            expected_version=form.expected_version(),
        ),
        _("Category changed."),
        "category_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/priority", methods=["POST"])
def reprioritise(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = PriorityForm()
    if not form.validate_on_submit():
        return invalid_form(ticket, "priority_form", form)
    return run_action(
        ticket,
        lambda: tickets.reprioritise(
            db.session,
            current_user,
            ticket,
            form.priority.data,
            now=now(),
            expected_version=form.expected_version(),
        ),
        _("Priority changed."),
        "priority_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/transfer", methods=["POST"])
def transfer(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = TransferForm()
    form.department.choices = [(d.id, d.name) for d in choices.departments(db.session)]
    if not form.validate_on_submit():
        return invalid_form(ticket, "transfer_form", form)
    return run_action(
        ticket,
        lambda: tickets.transfer(
            db.session,
            current_user,
            ticket,
            form.department.data,
            form.note.data,
            now=now(),
            expected_version=form.expected_version(),
        ),
        _("Transferred. You remain the owner and the other department sees it in its queue."),
        "transfer_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/resolve", methods=["POST"])
def resolve(ticket_id: int):
    """Resolve at once (R4), or send the proposal to a manager when it needs approval (R12)."""
    ticket = ticket_or_404(ticket_id)
    form = ResolveForm()
    form.root_cause.choices = root_cause_choices()
    if not form.validate_on_submit():
        return invalid_form(ticket, "resolve_form", form)
    if form.outcome.data == "compensation" and not form.amount.data:
        form.amount.errors = [_("Enter the amount of the refund or compensation.")]
        return invalid_form(ticket, "resolve_form", form)
    proposal = resolutions.ProposalInput(
        summary=form.summary.data,
        customer_reply=form.customer_reply.data or form.summary.data,
        outcome=form.outcome.data,
        amount_minor=int(form.amount.data * 100) if form.amount.data is not None else None,
        root_cause_id=form.root_cause.data or None,
    )

    def run() -> str:
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

    return run_action(ticket, run, "", "resolve_form", form)


@bp.route("/tickets/<int:ticket_id>/reopen", methods=["POST"])
def reopen(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = ReopenForm()
    if not form.validate_on_submit():
        return invalid_form(ticket, "reopen_form", form)
    return run_action(
        ticket,
        lambda: tickets.reopen(
            db.session,
            current_user,
            ticket,
            form.reason.data,
            now=now(),
            rules=rules(),
            expected_version=form.expected_version(),
        ),
        _("Reopened."),
        "reopen_form",
        form,
    )


@bp.route("/tickets/<int:ticket_id>/close", methods=["POST"])
def close(ticket_id: int):
    ticket = ticket_or_404(ticket_id)
    form = CloseForm()
    if not form.validate_on_submit():
        return invalid_form(ticket, "close_form", form)
    return run_action(
        ticket,
        lambda: tickets.close(
            db.session, current_user, ticket, now=now(), expected_version=form.expected_version()
        ),
        _("Closed."),
        "close_form",
        form,
    )


# --- registering a complaint for a customer (R1) -------------------------------------------


@bp.route("/complaints/new", methods=["GET", "POST"])
def register_complaint():
    form = RegisterComplaintForm()
    form.category.choices = [(c.id, c.name) for c in choices.active_categories(db.session)]
    form.ensure_idempotency_key()
    if request.method == "POST":
        valid = form.validate()
        files, file_errors = checked_uploads(request.files.getlist(form.attachments.name))
        form.attachments.errors = list(form.attachments.errors) + file_errors
        if valid and not file_errors:
            filed = filing.file_ticket(
                db.session,
                form.to_intake(channel=form.channel.data, locale=str(get_locale())),
                files,
                now=now(),
                rules=rules(),
                registered_by=current_user,
            )
            session["registered"] = {"ticket_id": filed.ticket.id, "token": filed.tracking_token}
            return redirect(url_for("staff.registered", ticket_id=filed.ticket.id), code=303)
        return render_template("staff/register_complaint.html", form=form), 422
    return render_template("staff/register_complaint.html", form=form)


@bp.route("/complaints/<int:ticket_id>/registered")
def registered(ticket_id: int):
    """Show the customer's tracking link once, to read out or post to them."""
    ticket = ticket_or_404(ticket_id)
    shown = session.get("registered") or {}
    token = shown.get("token") if shown.get("ticket_id") == ticket.id else None
    tracking_url = (
        current_app.config["BASE_URL"].rstrip("/") + url_for("public.track", token=token) if token else None
    )
    return render_template("staff/registered.html", ticket=ticket, tracking_url=tracking_url)
