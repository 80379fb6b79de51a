"""The shapes the manage screens give their `Answers` (the one seam is `portal.web.answers`).

After a change a screen goes back to itself (post/redirect/get). When the change could not be made
there are two answers: someone else got there first (409) — another manager decided the proposal,
the case was re-checked in another tab — and the screen is shown as it now is, by the same redirect
with the warning flashed; or the input cannot be used (422) and the form comes back with what was
typed and its error.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from portal.web.answers import Answers, Explain, invalid_form, run_service
from portal.web.navigation import redirect_after_post


def submitted(
    form: FlaskForm, answers: Answers, call: Callable[[], Any], success: Any = None
) -> ResponseReturnValue:
    """A posted form: its own checks first (the form again, 422), then the one service call."""
    if not form.validate_on_submit():
        return invalid_form(answers)
    return run_service(call, answers, success)


def go_to(url: str) -> Callable[[Any], ResponseReturnValue]:
    """`done`: post/redirect/get to `url`, whatever the service returned."""
    return lambda _result: redirect_after_post(url)


def back_or_again(
    url: str, render: Callable[[int], ResponseReturnValue]
) -> Callable[[int], ResponseReturnValue]:
    """`again`: a conflict goes back to `url` as it now is; input to correct is rendered again."""

    def again(status: int) -> ResponseReturnValue:
        if status == HTTPStatus.CONFLICT:
            return redirect_after_post(url), status
        return render(status)

    return again


def saying(message: Any) -> Explain:
    """A `conflict` (or `invalid`) entry that flashes `message`, whatever the error says."""
    return lambda _error: message
