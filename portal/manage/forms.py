"""The manage screens' forms: shape checks only; each maps its valid fields to its service's input."""

from __future__ import annotations

from typing import Any, TypedDict

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.services.improvements import ActionInput
from portal.web.forms import strip
from portal.web.presentation import ACTION_STATUS_LABELS


class Draw(TypedDict):
    """`services.spot_checks.draw`'s choices besides the quarter."""

    percent: int
    seed: str | None


class Recheck(TypedDict):
    """What `services.spot_checks.record_review` records (R18)."""

    recontacted: bool
    outcome_held: bool
    findings: str


class EffectReview(TypedDict):
    """What `services.improvements.review_effect` keeps (R21)."""

    effective: bool
    review: str


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

    def to_draw(self) -> Draw:
        return {"percent": self.percent.data, "seed": self.seed.data}


class ReviewerForm(FlaskForm):
    reviewer = SelectField(
        _l("Assign a reviewer"), coerce=int, validators=[DataRequired(message=_l("Choose who re-checks it."))]
    )


def yes_or_no(label: Any) -> RadioField:
    """A required yes/no question; the answer is `field.data == "yes"`."""
    return RadioField(label, choices=[("yes", _l("Yes")), ("no", _l("No"))], validators=[DataRequired()])


class SpotCheckReviewForm(FlaskForm):
    recontacted = yes_or_no(_l("Was the customer re-contacted?"))
    outcome_held = yes_or_no(_l("Did the outcome hold?"))
    findings = TextAreaField(_l("Findings"), validators=[DataRequired(), Length(max=5_000)])

    def to_review(self) -> Recheck:
        return {
            "recontacted": self.recontacted.data == "yes",
            "outcome_held": self.outcome_held.data == "yes",
            "findings": self.findings.data,
        }


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

    def to_input(self) -> ActionInput:
        """The valid fields, one by one (no mass assignment, A10); "None" (0) is no cause or category."""
        return ActionInput(
            title=self.title.data,
            description=self.description.data or "",
            department_id=self.department.data,
            owner_id=self.owner.data,
            due_on=self.due_on.data,
            status=self.status.data,
            root_cause_id=self.root_cause.data or None,
            category_id=self.category.data or None,
        )


class LinkTicketForm(FlaskForm):
    reference = StringField(
        _l("Complaint reference"), filters=[strip], validators=[DataRequired(), Length(max=32)]
    )


class EffectReviewForm(FlaskForm):
    effective = yes_or_no(_l("Did it work?"))
    review = TextAreaField(_l("Review of its effect"), validators=[DataRequired(), Length(max=5_000)])

    def to_review(self) -> EffectReview:
        return {"effective": self.effective.data == "yes", "review": self.review.data}


class AuditFilterForm(FlaskForm):
    """A GET form over the audit trail: reading it changes nothing, so it can be bookmarked."""

    class Meta:
        csrf = False

    person = SelectField(_l("Person"), coerce=int, default=0, validators=[Optional()])
    action = SelectField(_l("What"), default="", validators=[Optional()])
    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("Until"), validators=[Optional()])
