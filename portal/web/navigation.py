"""Where to go after a form: a safe `next`, and post/redirect/get for pages and htmx alike."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, make_response, redirect

from portal.web.htmx import is_htmx


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are honoured after sign-in (E5, ASVS 5.1.5)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def redirect_after_post(url: str) -> Response:
    """Post/redirect/get: 303 for browsers, HX-Location for htmx (a 302 would land in the target)."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Location"] = url
        return response
    return redirect(url, code=303)
