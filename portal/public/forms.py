from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, MultipleFileField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.web.forms import (
    IDEMPOTENCY_KEY,
    NoLineBreaks,
    new_idempotency_key,
    optional_email_field,
    optional_phone_field,
    strip,
)
from portal.web.forms import ComplaintForm as ComplaintForm


class FeedbackForm(FlaskForm):
    """Suggestions, praise and questions: contact details are optional here."""

    kind = RadioField(
        _l("What kind of feedback?"),
        choices=[("suggestion", _l("Suggestion")), ("praise", _l("Praise")), ("question", _l("Question"))],
        validators=[DataRequired(_l("Choose one."))],
    )
    text = TextAreaField(_l("Your feedback"), validators=[DataRequired(), Length(max=10_000)])
    rating = SelectField(
        _l("How would you rate our service? (optional)"),
        choices=[("", "—"), ("5", "5 ★★★★★"), ("4", "4 ★★★★"), ("3", "3 ★★★"), ("2", "2 ★★"), ("1", "1 ★")],
        default="",
    )
    name = StringField(
        _l("Your name (optional)"), filters=[strip], validators=[Optional(), Length(max=100), NoLineBreaks()]
    )
    email = optional_email_field(_l("Email (optional)"))
    phone = optional_phone_field(_l("Phone (optional)"))
    idempotency_key = HiddenField()

    def ensure_idempotency_key(self) -> None:
        if not IDEMPOTENCY_KEY.match(self.idempotency_key.data or ""):
            self.idempotency_key.data = new_idempotency_key()


class LostLinkForm(FlaskForm):
    reference = StringField(
        _l("Your reference"),
        filters=[strip],
        validators=[DataRequired(), Length(max=32)],
        description=_l("For example CP-2026-000123."),
    )
    contact = StringField(
        _l("The email address or phone number you gave us"),
        filters=[strip],
        validators=[DataRequired(), Length(max=254), NoLineBreaks()],
    )


class CustomerMessageForm(FlaskForm):
    body = TextAreaField(_l("Add a message"), validators=[DataRequired(), Length(max=10_000)])
    attachments = MultipleFileField(_l("Add files (optional)"))


class OutcomeAnswerForm(FlaskForm):
    """R15: is it resolved for you? R16: "no" reopens the complaint one step up."""

    resolved = RadioField(
        _l("Is your complaint resolved for you?"),
        choices=[("yes", _l("Yes, it is resolved")), ("no", _l("No, it is not resolved"))],
        validators=[DataRequired(_l("Choose yes or no."))],
    )
    satisfaction = SelectField(
        _l("How satisfied are you with how we handled it?"),
        choices=[
            ("", "—"),
            ("5", _l("5 — very satisfied")),
            ("4", "4"),
            ("3", "3"),
            ("2", "2"),
            ("1", _l("1 — very dissatisfied")),
        ],
        default="",
    )
    comment = TextAreaField(
        _l("Anything you want to tell us? (optional)"), validators=[Optional(), Length(max=2_000)]
    )
