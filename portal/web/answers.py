"""The one seam between a service's outcome and an HTTP answer.

Every view that changes something ends the same way: it runs one service call through
`run_service()` and says, in an `Answers`, how this screen answers each outcome:

| outcome                                         | answer                                          |
|-------------------------------------------------|-------------------------------------------------|
| success                                         | flash the message, then `done(result)`          |
| `NotPermitted`                                  | 403 and an audit row (`deny`), never a page     |
| `Conflict` / `IllegalTransition`                | roll back, say so, `again(409)`: the page as it |
|                                                 | now is                                          |
| `InvalidInput` or a listed service error        | roll back, the message beside its field (or as  |
|                                                 | a flash), `again(422)` with what was typed      |

`again` renders the same screen for a full page and for htmx (the screen decides which fragment),
and a form that fails its own validation answers through it too (`invalid_form`). Views therefore
never catch domain errors themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

from flask import flash
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm.exc import StaleDataError

from portal.domain.errors import Conflict, IllegalTransition, NotPermitted
from portal.extensions import db
from portal.web.access import deny
from portal.web.navigation import redirect_after_post

T = TypeVar("T")

CHANGED_FIRST = _l("Someone else changed this first. Please look again and retry.")
NOT_NOW = _l("That is not possible in the current status.")
CHOICE_UNAVAILABLE = _l("That choice is not available.")


class InvalidInput(Exception):
    """A view's own check after the form's (a time in the past, a missing amount): 422, field kept."""

    def __init__(self, message: Any, form_field: Any = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.form_field = form_field


Explain = Callable[[Exception], Any]  # the words (or None, having set a field error itself)


@dataclass(frozen=True)
class Answers:
    """How one screen answers the outcomes of a service call (see the module docstring)."""

    target: str  # what the audit row names on a refusal, e.g. "ticket:12"
    done: Callable[[Any], ResponseReturnValue]
    again: Callable[[int], ResponseReturnValue]
    denied_action: str = "action_denied"
    conflict: Explain | Any = None  # words or an Explain; default: CHANGED_FIRST / NOT_NOW
    # Service errors that mean "your input cannot be used": type → words or a field-setting callable.
    invalid: Mapping[type[Exception], Any] = field(default_factory=lambda: {ValueError: CHOICE_UNAVAILABLE})


def _say(explain: Any, error: Exception) -> None:
    message = explain(error) if callable(explain) else explain
    if message:
        flash(str(message), "warning")


def _conflict_words(error: Exception) -> Any:
    return NOT_NOW if isinstance(error, IllegalTransition) else CHANGED_FIRST


def run_service(
    call: Callable[[], T],
    answers: Answers,
    success: Any = None,
) -> ResponseReturnValue:
    """Run one service call and answer its outcome as `answers` says.

    `success` is the flash message: words, or a callable that takes the result and returns them
    (when the outcome decides the wording), or None for no message.
    """
    try:
        result = call()
    except NotPermitted as error:
        deny(answers.denied_action, f"{answers.target}:{error}", status=403)
    except (Conflict, IllegalTransition, StaleDataError) as error:
        # StaleDataError: another request changed the same row between our read and our write
        # (the version column); on PostgreSQL two writers can race there (security.md 3.3).
        db.session.rollback()
        _say(answers.conflict or _conflict_words, error)
        return answers.again(409)
    except InvalidInput as error:
        db.session.rollback()
        _mark(error)
        return answers.again(422)
    except Exception as error:
        explain = _invalid_explanation(answers, error)
        if explain is None:
            raise
        db.session.rollback()
        _say(explain, error)
        return answers.again(422)
    message = success(result) if callable(success) else success
    if message:
        flash(str(message), "success")
    return answers.done(result)


def _invalid_explanation(answers: Answers, error: Exception) -> Any:
    for kind, explain in answers.invalid.items():
        if isinstance(error, kind):
            return explain
    return None


def _mark(error: InvalidInput) -> None:
    if error.form_field is None:
        flash(str(error.message), "warning")
    else:
        error.form_field.errors = [*error.form_field.errors, str(error.message)]


def beside(form_field: Any, message: Any) -> Explain:
    """An `invalid` or `conflict` entry that puts `message` beside `form_field`, not in a flash."""

    def put(_error: Exception) -> None:
        form_field.errors = [*form_field.errors, str(message)]

    return put


def invalid_form(answers: Answers) -> ResponseReturnValue:
    """The form's own validation failed: the same 422 answer as an invalid service input."""
    return answers.again(422)


def submitted(
    form: FlaskForm, call: Callable[[], Any], answers: Answers, success: Any = None
) -> ResponseReturnValue:
    """A posted form: its own checks first (the form again, 422), then the one service call."""
    if not form.validate_on_submit():
        return invalid_form(answers)
    return run_service(call, answers, success)


# --- the shapes screens give their Answers ------------------------------------------------------


def go_to(url: str) -> Callable[[Any], ResponseReturnValue]:
    """`done`: post/redirect/get to `url`, whatever the service returned."""
    return lambda _result: redirect_after_post(url)


def back_or_again(
    url: str, render: Callable[[int], ResponseReturnValue]
) -> Callable[[int], ResponseReturnValue]:
    """`again`: someone else got there first (409) — back to `url` as it now is, with the warning;
    input to correct (422) — the form rendered again with what was typed."""

    def again(status: int) -> ResponseReturnValue:
        if status == HTTPStatus.CONFLICT:
            return redirect_after_post(url), status
        return render(status)

    return again
