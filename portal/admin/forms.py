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
from portal.forms_common import NotCommonPassword, strip

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
    department = SelectField(_l("Handled by (R5 routing)"), coerce=int, validators=[DataRequired()])
    active = BooleanField(_l("Offered on the complaint form"), default=True)


class SettingsForm(FlaskForm):
    holiday_country = SelectField(
        _l("Public holidays of"), description=_l("Working-day clocks skip them (R7).")
    )
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
