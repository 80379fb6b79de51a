"""One shape for every action on a ticket: `@ticket_action` turns a body into its POST view.

The body says only what the action does (one service call; its own checks raise `InvalidInput`;
it may return the success message when the outcome decides the wording). The view around it is the
same for all: load the ticket the user may see (G1), build the form and its choices, answer 422 if
the form is invalid, and run the body through the seam (`portal.web.answers`). From the queue row
(htmx aimed at `ticket-row-<id>`) the answer is the row with the flash, and after a change the tab
counts, out of band; elsewhere a change redirects to `next` or the ticket, and a refusal (409) or
bad input (422) shows the ticket page again with the failed form. NotPermitted is 403 with an
`action_denied` audit row on `ticket:<id>:<reason>`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.domain.errors import Conflict
from portal.extensions import db
from portal.models import Ticket
from portal.queries import staff_queue
from portal.staff import bp
from portal.staff.ticket_screen import Choices, render_ticket
from portal.web.access import ticket_or_404
from portal.web.answers import Answers, invalid_form, run_service
from portal.web.context import now
from portal.web.forms import ActionForm
from portal.web.htmx import wants_fragment
from portal.web.navigation import redirect_after_post, safe_next

F = TypeVar("F", bound=FlaskForm)

# The ticket page words these more precisely than the seam's defaults do (it names the ticket).
CHANGED_FIRST = _l("Someone else changed this ticket first. Here it is as it is now; please check and retry.")
NOT_NOW = _l("That is not possible in the ticket's current status.")


def _conflict_words(error: Exception) -> Any:
    return CHANGED_FIRST if isinstance(error, Conflict) else NOT_NOW


def _from_queue_row(ticket: Ticket) -> bool:
    """The queue row's own htmx form (Claim) aims at the row and is answered with the row."""
    return wants_fragment(f"ticket-row-{ticket.id}")


def _queue_row(ticket: Ticket, *, with_counts: bool) -> str:
    """The row in place, plus the flash (and, after a change, the tab counts) out of band."""
    counts: dict[str, Any] = {}
    if with_counts:
        counts = {"oob_counts": True, "counts": staff_queue.queue_counts(db.session, current_user)}
    return render_template(
        "staff/_queue_row.html", ticket=ticket, action_form=ActionForm(), now=now(), oob_flash=True, **counts
    )


def _ticket_answers(ticket: Ticket, form_name: str, form: FlaskForm) -> Answers:
    """How a ticket action answers: from the queue row, or on the ticket page."""

    def done(_result: object) -> ResponseReturnValue:
        if _from_queue_row(ticket):
            return _queue_row(ticket, with_counts=True)
        return redirect_after_post(
            safe_next(request.form.get("next")) or url_for("staff.ticket", ticket_id=ticket.id)
        )

    def again(status: int) -> ResponseReturnValue:
        # A refused change was rolled back, which expired the ticket: it reloads as it is now.
        if _from_queue_row(ticket):
            return _queue_row(ticket, with_counts=False), status
        return render_ticket(ticket, status, **{form_name: form})

    return Answers(target=f"ticket:{ticket.id}", done=done, again=again, conflict=_conflict_words)


def ticket_action(
    path: str,
    form_class: type[F],
    form_name: str,
    success: Any = None,
    *,
    choices: Mapping[str, Callable[[], Choices]] | None = None,
) -> Callable[[Callable[[Ticket, F], Any]], Callable[[Ticket, F], Any]]:
    """Register `body` as `POST /tickets/<id>/<path>`, endpoint `staff.<body's name>`.

    `form_name` is the form's name on the ticket page (the one a failed form replaces);
    `choices` fills select fields by name before validation, so a choice not offered is invalid.
    """

    def register(body: Callable[[Ticket, F], Any]) -> Callable[[Ticket, F], Any]:
        def view(ticket_id: int) -> ResponseReturnValue:
            ticket = ticket_or_404(ticket_id)
            form = form_class()
            for field_name, offered in (choices or {}).items():
                form[field_name].choices = offered()
            answers = _ticket_answers(ticket, form_name, form)
            if not form.validate_on_submit():
                return invalid_form(answers)
            return run_service(
                lambda: body(ticket, form), answers, success=lambda message: message or success
            )

        view.__name__ = view.__qualname__ = body.__name__
        view.__doc__ = body.__doc__
        bp.add_url_rule(
            f"/tickets/<int:ticket_id>/{path}", endpoint=body.__name__, view_func=view, methods=["POST"]
        )
        return body

    return register
