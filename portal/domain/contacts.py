"""Contact details in one canonical form, so one person is one customer (R2, R23).

Pure functions, no Flask: filing, staff registration, customer matching and search all call
these, so "138 0013 8000", "+86 13800138000" and "8613800138000" meet as one number.
"""

from __future__ import annotations

import phonenumbers


def normalise_phone(value: str | None, region: str) -> str | None:
    """The number in E.164, or None when it cannot be a phone number.

    `region` is the organisation's country (its holiday country), used for numbers written
    without a country code. Digits that already start with a country code but lack the "+"
    ("8613800138000") are tried as international when the national reading is not valid.
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    candidates = [text]
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith(("+", "00")) and digits:
        candidates.append("+" + digits)
    possible: str | None = None
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if possible is None and phonenumbers.is_possible_number(number):
            possible = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return possible


def normalise_email(value: str | None) -> str | None:
    """Lower-cased, trimmed address, or None when empty (the domain part is case-insensitive,
    and in practice no mail system treats the local part's case as meaningful)."""
    if not value or not value.strip():
        return None
    return value.strip().lower()
