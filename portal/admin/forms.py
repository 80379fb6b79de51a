from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.domain.permissions import Role
from portal.forms_common import strip

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
        validators=[Optional(), Length(min=12, max=128, message=_l("Use 12 to 128 characters."))],
        description=_l("Required for a new account; leave empty to keep the current one."),
    )


class DepartmentForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    handles_feedback = BooleanField(_l("Receives suggestions, praise and questions"))


class CategoryForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    department = SelectField(_l("Handled by (R5 routing)"), coerce=int, validators=[DataRequired()])
    active = BooleanField(_l("Offered on the complaint form"), default=True)
