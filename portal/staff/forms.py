"""The staff forms: shape checks only. Select choices come from the views (`ticket_screen`), and
versioned forms carry the ticket version the page showed so a stale change becomes a conflict (K1).
"""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.web.forms import ComplaintFields

# Channels where the customer may be answered by post alone (R2).
POSTAL_CHANNELS = ("letter", "visit")


class VersionedForm(FlaskForm):
    """Carries the ticket version the page showed, so a stale change becomes a conflict (K1)."""

    version = HiddenField()

    def expected_version(self) -> int | None:
        value = self.version.data
        return int(value) if value and value.isdigit() else None


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Reply to the customer"), validators=[DataRequired(), Length(max=10_000)])
    promise_by = DateTimeLocalField(
        _l("Promise the next update by (optional)"),
        format="%Y-%m-%dT%H:%M",
        validators=[Optional()],
        description=_l("At that time the customer hears where things stand, whatever the progress."),
    )


class NoteForm(FlaskForm):
    # Its own id, so the label never points at the customer reply box on the same page.
    body = TextAreaField(_l("Internal note"), id="note-body", validators=[DataRequired(), Length(max=10_000)])


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
    outcome = SelectField(
        _l("Outcome"),
        choices=[
            ("explanation", _l("Explanation")),
            ("repair_or_replacement", _l("Repair or replacement")),
            ("compensation", _l("Refund or compensation")),
            ("staff_action", _l("Action concerning staff")),
            ("other", _l("Other")),
        ],
        default="explanation",
    )
    amount = DecimalField(
        _l("Amount (refund or compensation)"),
        places=2,
        validators=[Optional(), NumberRange(min=0, max=10_000_000)],
    )
    root_cause = SelectField(_l("Root cause"), coerce=int, default=0)
    summary = TextAreaField(
        _l("Resolution summary (your written opinion)"),
        validators=[DataRequired(), Length(max=10_000)],
    )
    customer_reply = TextAreaField(
        _l("Reply the customer will read (leave empty to use the summary)"),
        validators=[Optional(), Length(max=10_000)],
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

    missing_contact = _l(
        "Give an email address or a phone number, or for a letter or visit a postal address."
    )

    def has_contact(self) -> bool:
        """R1, R2: a letter or a visit may come with only a postal address; the answer goes by post."""
        if self.channel.data in POSTAL_CHANNELS and self.address.data:
            return True
        return super().has_contact()


class EscalateForm(VersionedForm):
    reason = TextAreaField(
        _l("Why does this need the next tier?"), validators=[DataRequired(), Length(max=2_000)]
    )


class SendBackForm(VersionedForm):
    note = TextAreaField(_l("Note for the handler"), validators=[DataRequired(), Length(max=2_000)])


class SeriousForm(FlaskForm):
    reason = TextAreaField(_l("Why is this serious?"), validators=[DataRequired(), Length(max=2_000)])


class NoncooperationForm(FlaskForm):
    department = SelectField(_l("Department not cooperating"), coerce=int, validators=[DataRequired()])
    note = TextAreaField(_l("What happened?"), validators=[DataRequired(), Length(max=2_000)])


class LinkStaffForm(FlaskForm):
    user = SelectField(_l("Staff member the complaint is about"), coerce=int)


class ExtendForm(VersionedForm):
    working_days = SelectField(_l("New limit (working days from receipt)"), coerce=int)
    reason = TextAreaField(_l("Reason for the special case"), validators=[DataRequired(), Length(max=2_000)])


class PauseForm(FlaskForm):
    reason = StringField(
        _l("What are we waiting for from the customer? (shown to the customer)"),
        validators=[DataRequired(), Length(max=300)],
    )


class CustomerTierForm(FlaskForm):
    customer_tier = SelectField(_l("Customer tier"), choices=[("regular", _l("Regular")), ("vip", _l("VIP"))])


class CallbackForm(FlaskForm):
    reached = RadioField(
        _l("Did you reach the customer?"),
        choices=[("yes", _l("Yes")), ("no", _l("No"))],
        validators=[DataRequired()],
    )
    satisfied = RadioField(
        _l("Is the customer satisfied?"),
        choices=[("yes", _l("Yes")), ("no", _l("No")), ("unknown", _l("Could not tell"))],
        default="unknown",
    )
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=2_000)])


class RescheduleForm(FlaskForm):
    due_at = DateTimeLocalField(_l("Call again at"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
