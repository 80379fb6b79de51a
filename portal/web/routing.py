"""URL converters: ids beyond a 32-bit integer (PostgreSQL's INTEGER) are simply not found (A12)."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1


class BoundedIntConverter(IntegerConverter):
    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def id_from_query(value: str | None) -> int | None:
    """A database id from the query string, or None for anything that cannot be one (A11)."""
    if not value or not value.isdigit() or int(value) > MAX_ID:
        return None
    return int(value)
