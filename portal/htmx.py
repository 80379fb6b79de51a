"""The few rules for answering htmx requests: fragment or page, and how to navigate."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, redirect, render_template, request


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


def redirect_after_post(url: str) -> Response:
    """Post/redirect/get: 303 for browsers, HX-Location for htmx (a 302 would land in the target)."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Location"] = url
        return response
    return redirect(url, code=303)
