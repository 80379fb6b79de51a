from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from portal.web.forms import NotCommonPassword, strip


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    submit = SubmitField(_l("Sign in"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(),
            Length(min=12, max=128, message=_l("Use 12 to 128 characters.")),
            NotCommonPassword(),
        ],
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("new_password", message=_l("The two passwords differ."))],
    )
    submit = SubmitField(_l("Change password"))


CODE_HINT = _l("The 6-digit code from your authenticator app, or one of your recovery codes.")


class SecondStepForm(FlaskForm):
    code = StringField(
        _l("Code"), filters=[strip], validators=[DataRequired(), Length(max=64)], description=CODE_HINT
    )


class StartTwoFactorForm(FlaskForm):
    password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=128)])


class ConfirmTwoFactorForm(FlaskForm):
    code = StringField(
        _l("Code from your authenticator app"),
        filters=[strip],
        validators=[DataRequired(), Length(max=64)],
        description=_l("The app shows a new 6-digit code every 30 seconds."),
    )


class DisableTwoFactorForm(FlaskForm):
    """Turning it off needs both (the service checks them); stopping a set-up needs neither."""

    password = PasswordField(_l("Current password"), validators=[Optional(), Length(max=128)])
    code = StringField(
        _l("Code"), filters=[strip], validators=[Optional(), Length(max=64)], description=CODE_HINT
    )
