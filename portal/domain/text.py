"""Text as we store it: one Unicode form, no control characters (A4, A5).

Pure Python; imports nothing of Flask, SQLAlchemy or the rest of the portal.
"""

from __future__ import annotations

import unicodedata


def normalise_text(value: str | None) -> str | None:
    """NFC-normalise and drop control characters other than newlines and tabs (A4, A5)."""
    if value is None:
        return None
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n")
    return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))
