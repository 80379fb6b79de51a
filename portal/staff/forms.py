from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.forms_common import ComplaintFields


class ActionForm(FlaskForm):
    """CSRF only, for bare buttons such as Claim."""

    next = HiddenField()


class VersionedForm(FlaskForm):
    """Carries the ticket version the page showed, so a stale change becomes a conflict (K1)."""

    version = HiddenField()

    def expected_version(self) -> int | None:
        value = self.version.data
        return int(value) if value and value.isdigit() else None


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Reply to the customer"), validators=[DataRequired(), Length(max=10_000)])


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Internal note"), validators=[DataRequired(), Length(max=10_000)])


class CategoryForm(VersionedForm):
    category = SelectField(_l("Category"), coerce=int, validators=[DataRequired()])


class PriorityForm(VersionedForm):
    priority = SelectField(
        _l("Priority"),
        choices=[
            ("low", _l("Low")),
            ("normal", _l("Normal")),
            ("high", _l("High")),
            ("urgent", _l("Urgent")),
        ],
    )


class TransferForm(VersionedForm):
    department = SelectField(_l("Transfer to department"), coerce=int, validators=[DataRequired()])
    note = TextAreaField(_l("What do you need from them?"), validators=[DataRequired(), Length(max=2_000)])


class ResolveForm(VersionedForm):
    summary = TextAreaField(
        _l("Resolution summary (the customer reads this)"),
        validators=[DataRequired(), Length(max=10_000)],
    )


class ReopenForm(VersionedForm):
    reason = TextAreaField(_l("Why reopen?"), validators=[DataRequired(), Length(max=2_000)])


class CloseForm(VersionedForm):
    pass


class RegisterComplaintForm(ComplaintFields):
    """R1: a complaint received by phone, letter or visit, registered by staff for the customer."""

    channel = SelectField(
        _l("Received by"),
        choices=[
            ("phone", _l("Phone")),
            ("letter", _l("Letter")),
            ("visit", _l("Visit")),
            ("transfer", _l("Transferred from another body")),
        ],
    )
    consent = BooleanField(
        _l("The customer agreed that their details are used to handle this complaint."),
        validators=[DataRequired(_l("Ask the customer for their consent first."))],
    )
