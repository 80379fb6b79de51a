from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from portal.domain.permissions import Role
from portal.web.forms import NotCommonPassword, strip

ROLE_CHOICES = [
    (Role.RESPONDER.value, _l("Responder")),
    (Role.LEAD.value, _l("Department lead")),
    (Role.MANAGER.value, _l("Manager")),
    (Role.ADMIN.value, _l("Administrator")),
]


class UserForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    email = EmailField(_l("Email"), filters=[strip], validators=[DataRequired(), Length(max=254), Email()])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    department = SelectField(_l("Department"), coerce=int, validators=[DataRequired()])
    active = BooleanField(_l("Active (may sign in)"), default=True)
    password = PasswordField(
        _l("Password"),
        validators=[
            Optional(),
            Length(min=12, max=128, message=_l("Use 12 to 128 characters.")),
            NotCommonPassword(),
        ],
        description=_l("Required for a new account; leave empty to keep the current one."),
    )


class DepartmentForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    handles_feedback = BooleanField(_l("Receives suggestions, praise and questions"))


class CategoryForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    department = SelectField(_l("Handled by"), coerce=int, validators=[DataRequired()])
    active = BooleanField(_l("Offered on the complaint form"), default=True)


class SettingsForm(FlaskForm):
    holiday_country = SelectField(_l("Public holidays of"), description=_l("Working-day clocks skip them."))
    approval_threshold = DecimalField(
        _l("Compensation above this amount needs a manager's approval"),
        places=2,
        validators=[DataRequired(), NumberRange(min=0)],
    )
    feedback_window_days = IntegerField(
        _l("Close a resolved complaint after this many days without the customer's answer"),
        validators=[DataRequired(), NumberRange(min=1, max=90)],
    )
    callback_within_hours = IntegerField(
        _l("Call the customer back within (hours after resolution)"),
        validators=[DataRequired(), NumberRange(min=1, max=240)],
    )
    spot_check_percent = IntegerField(
        _l("Spot checks draw this share of a quarter's resolved complaints (%)"),
        validators=[DataRequired(), NumberRange(min=1, max=100)],
    )
    warn_repeat_complaints = IntegerField(
        _l("Warn about a customer with at least this many complaints"),
        validators=[DataRequired(), NumberRange(min=2, max=100)],
    )
    warn_repeat_days = IntegerField(
        _l("… within this many days"), validators=[DataRequired(), NumberRange(min=1, max=365)]
    )
    warn_spike_factor = DecimalField(
        _l("Warn when a category's last 7 days exceed its weekly average by this factor"),
        places=1,
        validators=[DataRequired(), NumberRange(min=1, max=20)],
    )
    warn_spike_weeks = IntegerField(
        _l("… averaged over this many weeks before"), validators=[DataRequired(), NumberRange(min=1, max=52)]
    )
    warn_spike_min_count = IntegerField(
        _l("… and only from this many complaints a week"),
        validators=[DataRequired(), NumberRange(min=1, max=1000)],
    )
    warn_promise_hours = IntegerField(
        _l("Warn about promised updates due within (hours)"),
        validators=[DataRequired(), NumberRange(min=1, max=72)],
    )


# Settings whose form field holds the stored value as it is (the threshold needs converting).
PLAIN_SETTINGS = (
    "feedback_window_days",
    "callback_within_hours",
    "spot_check_percent",
    "warn_repeat_complaints",
    "warn_repeat_days",
    "warn_spike_weeks",
    "warn_spike_min_count",
    "warn_promise_hours",
)


class RootCauseForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    active = BooleanField(_l("Offered when a complaint is resolved"), default=True)


class ServiceTargetForm(FlaskForm):
    category = SelectField(_l("Category"), coerce=int, description=_l("“All categories” is the default."))
    customer_tier = SelectField(_l("Customer tier"), choices=[("regular", _l("Regular")), ("vip", _l("VIP"))])
    acknowledge_hours = IntegerField(
        _l("Acknowledge within (hours)"), default=24, validators=[DataRequired(), NumberRange(min=1, max=240)]
    )
    resolve_working_days = IntegerField(
        _l("Resolve within (working days)"),
        default=3,
        validators=[DataRequired(), NumberRange(min=1, max=60)],
    )
    max_working_days = IntegerField(
        _l("At most, when extended (working days)"),
        default=7,
        validators=[DataRequired(), NumberRange(min=1, max=60)],
    )


class ClosureDayForm(FlaskForm):
    day = DateField(_l("Day"), validators=[DataRequired()])
    reason = StringField(_l("Reason"), filters=[strip], validators=[DataRequired(), Length(max=200)])
