from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.web.forms import strip
from portal.web.presentation import ACTION_STATUS_LABELS


class ApprovalForm(FlaskForm):
    """CSRF only: approving needs no input beyond the click (the proposal is the content)."""


class RejectionForm(FlaskForm):
    reason = TextAreaField(
        _l("Why is it rejected? The owner reads this."), validators=[DataRequired(), Length(max=2_000)]
    )


KIND_CHOICES = [("complaint", _l("Complaints")), ("feedback", _l("Feedback")), ("all", _l("Both"))]


class DashboardFilterForm(FlaskForm):
    """A GET form: reading figures changes nothing, so it carries no CSRF token and can be bookmarked."""

    class Meta:
        csrf = False

    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])
    department = SelectField(_l("Department"), coerce=int, default=0, validators=[Optional()])
    kind = SelectField(_l("Show"), choices=KIND_CHOICES, default="complaint")


class SpotCheckDrawForm(FlaskForm):
    quarter = SelectField(_l("Quarter"))
    percent = IntegerField(
        _l("Share to re-check (%)"), validators=[DataRequired(), NumberRange(min=1, max=100)]
    )
    seed = StringField(
        _l("Seed (optional)"),
        filters=[strip],
        validators=[Optional(), Length(max=64)],
        description=_l("Leave empty for a random one. It is recorded, so anyone can repeat the draw."),
    )


class ReviewerForm(FlaskForm):
    reviewer = SelectField(
        _l("Assign a reviewer"), coerce=int, validators=[DataRequired(message=_l("Choose who re-checks it."))]
    )


class SpotCheckReviewForm(FlaskForm):
    recontacted = RadioField(
        _l("Was the customer re-contacted?"),
        choices=[("yes", _l("Yes")), ("no", _l("No"))],
        validators=[DataRequired()],
    )
    outcome_held = RadioField(
        _l("Did the outcome hold?"),
        choices=[("yes", _l("Yes")), ("no", _l("No"))],
        validators=[DataRequired()],
    )
    findings = TextAreaField(_l("Findings"), validators=[DataRequired(), Length(max=5_000)])


ACTION_STATUS_CHOICES = list(ACTION_STATUS_LABELS.items())


class ImprovementActionForm(FlaskForm):
    title = StringField(_l("Title"), filters=[strip], validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("What will change, and why"), validators=[Optional(), Length(max=5_000)])
    department = SelectField(_l("Department"), coerce=int, validators=[DataRequired()])
    owner = SelectField(_l("Owner"), coerce=int, validators=[DataRequired()])
    due_on = DateField(_l("Due date"), validators=[DataRequired()])
    status = SelectField(_l("Status"), choices=ACTION_STATUS_CHOICES, default="planned")
    root_cause = SelectField(_l("Root cause it addresses"), coerce=int, default=0)
    category = SelectField(_l("Category it addresses"), coerce=int, default=0)


class LinkTicketForm(FlaskForm):
    reference = StringField(
        _l("Complaint reference"), filters=[strip], validators=[DataRequired(), Length(max=32)]
    )


class EffectReviewForm(FlaskForm):
    effective = RadioField(
        _l("Did it work?"),
        choices=[("yes", _l("Yes")), ("no", _l("No"))],
        validators=[DataRequired()],
    )
    review = TextAreaField(_l("Review of its effect"), validators=[DataRequired(), Length(max=5_000)])
