"""Form pieces shared by the customer and staff intake forms (shape checks only, no queries)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    MultipleFileField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from portal.domain.contacts import normalise_phone
from portal.services.filing import Intake

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class ActionForm(FlaskForm):
    """CSRF only, for bare buttons such as Claim."""

    next = HiddenField()


def new_idempotency_key() -> str:
    return secrets.token_urlsafe(24)


def phone_to_e164(value: str) -> str | None:
    """Return the number in E.164, or None if it is not a possible phone number (A8)."""
    return normalise_phone(value, current_app.config["HOLIDAY_COUNTRY"])


class PhoneNumber:
    def __call__(self, form: FlaskForm, field: StringField) -> None:
        if field.data and phone_to_e164(field.data) is None:
            raise ValidationError(_l("Enter a phone number we can call, e.g. +86 138 0013 8000."))


class EmailLocalPartLength:
    """RFC 5321: at most 64 characters before the @ (email_validator checks it only when strict)."""

    def __call__(self, form: FlaskForm, field: StringField) -> None:
        if field.data and len(field.data.rpartition("@")[0]) > 64:
            raise ValidationError(_l("Enter a valid email address."))


# The most common passwords of 12+ characters in public breach lists (ASVS 2.1.7); a small local
# list, so nothing is sent anywhere. Compared case-insensitively.
COMMON_PASSWORDS = frozenset(
    {
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "123456789012",
        "1234567890123",
        "12345678901234",
        "qwertyuiop123",
        "qwertyuiopasdf",
        "iloveyou1234",
        "administrator",
        "administrator1",
        "welcome12345",
        "changeme1234",
        "letmein12345",
        "abcdefghijkl",
        "abc123456789",
        "111111111111",
        "000000000000",
        "aaaaaaaaaaaa",
        "qwerty123456",
        "1q2w3e4r5t6y",
        "football1234",
        "baseball1234",
        "superman1234",
        "trustno1trustno1",
        "portal-demo-2026",
        "correcthorsebatterystaple",
    }
)


class NotCommonPassword:
    def __call__(self, form: FlaskForm, field: StringField) -> None:
        if field.data and field.data.lower() in COMMON_PASSWORDS:
            raise ValidationError(_l("This password is too common. Choose a less guessable one."))


class NoLineBreaks:
    """Names, emails and subjects end up in mail headers: no CR/LF there, ever (A6)."""

    def __call__(self, form: FlaskForm, field: StringField) -> None:
        if field.data and ("\r" in field.data or "\n" in field.data):
            raise ValidationError(_l("Please keep this on one line."))


def strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def optional_email_field(label: Any) -> EmailField:
    """An email a reply can be sent to: well-formed, one line, RFC length limits (A6, A7)."""
    return EmailField(
        label,
        filters=[strip],
        validators=[
            Optional(),
            Length(max=254),
            NoLineBreaks(),
            EmailLocalPartLength(),
            Email(_l("Enter a valid email address.")),
        ],
    )


def optional_phone_field(label: Any) -> StringField:
    return StringField(label, filters=[strip], validators=[Optional(), Length(max=32), PhoneNumber()])


class ContactFields(FlaskForm):
    """Who the customer is and how to reach them (R2); email and/or phone is required."""

    name = StringField(
        _l("Your name"),
        filters=[strip],
        validators=[DataRequired(), Length(max=100), NoLineBreaks()],
    )
    email = optional_email_field(_l("Email"))
    phone = optional_phone_field(_l("Phone"))
    idempotency_key = HiddenField()

    # Said beside the phone field when there is no way to reach the customer (R2).
    missing_contact = _l("Give an email address or a phone number so we can reply.")

    def validate(self, extra_validators=None):  # type: ignore[no-untyped-def]
        valid = super().validate(extra_validators)
        if not self.has_contact():
            self.phone.errors = [*self.phone.errors, self.missing_contact]
            return False
        return valid

    def has_contact(self) -> bool:
        """Online, an email address or a phone number (R2); staff registration may also take a
        postal address for a letter or a visit (`RegisterComplaintForm`)."""
        return bool(self.email.data or self.phone.data)

    def ensure_idempotency_key(self) -> None:
        if not IDEMPOTENCY_KEY.match(self.idempotency_key.data or ""):
            self.idempotency_key.data = new_idempotency_key()


class ComplaintFields(ContactFields):
    category = SelectField(_l("What is it about?"), coerce=int, validators=[DataRequired()])
    subject = StringField(
        _l("Subject"), filters=[strip], validators=[DataRequired(), Length(max=200), NoLineBreaks()]
    )
    description = TextAreaField(
        _l("What happened?"),
        validators=[DataRequired(), Length(max=10_000)],
        description=_l("Tell us what happened, when and where, and what you would like us to do."),
    )
    about = StringField(
        _l("Who or what is it about? (optional)"),
        filters=[strip],
        validators=[Optional(), Length(max=200)],
        description=_l("A staff member, a branch or a product."),
    )
    order_number = StringField(
        _l("Order or contract number (optional)"), filters=[strip], validators=[Optional(), Length(max=64)]
    )
    address = StringField(
        _l("Postal address (optional)"), filters=[strip], validators=[Optional(), Length(max=300)]
    )
    preferred_contact = SelectField(
        _l("How should we contact you?"),
        choices=[("email", _l("Email")), ("phone", _l("Phone")), ("post", _l("Post"))],
        default="email",
    )
    attachments = MultipleFileField(
        _l("Attachments (optional)"),
        description=_l("Up to 5 files, 10 MB each: PDF, JPEG, PNG, WebP, text, Word or Excel."),
    )

    def to_intake(self, *, channel: str, locale: str) -> Intake:
        """Map the validated fields to the service's input, one by one (no mass assignment, A10)."""
        return Intake(
            channel=channel,
            customer_name=self.name.data,
            customer_email=self.email.data or None,
            customer_phone=phone_to_e164(self.phone.data) if self.phone.data else None,
            customer_address=self.address.data or None,
            preferred_contact=self.preferred_contact.data,
            category_id=self.category.data,
            subject=self.subject.data,
            description=self.description.data,
            about=self.about.data or None,
            order_number=self.order_number.data or None,
            consent=True,  # the form does not validate without it
            idempotency_key=self.idempotency_key.data,
            locale=locale,
        )


class ComplaintForm(ComplaintFields):
    consent = BooleanField(
        _l("I agree that my details are used to handle this complaint."),
        validators=[DataRequired(_l("We need your consent to handle the complaint."))],
    )
