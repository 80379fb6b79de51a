"""The few rules for answering htmx requests: fragment or page, and how to navigate."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template, request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def wants_fragment(fragment_id: str) -> bool:
    """Only a plain htmx swap aimed at this fragment gets the fragment (not boosts, not restores)."""
    return (
        is_htmx()
        and request.headers.get("HX-Target") == fragment_id
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render_page_or_fragment(
    page_template: str, fragment_template: str, fragment_id: str, **context: Any
) -> Response:
    template = fragment_template if wants_fragment(fragment_id) else page_template
    response = make_response(render_template(template, **context))
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response
