from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length


class ApprovalForm(FlaskForm):
    """CSRF only: approving needs no input beyond the click (the proposal is the content)."""


class RejectionForm(FlaskForm):
    reason = TextAreaField(
        _l("Why is it rejected? The owner reads this."), validators=[DataRequired(), Length(max=2_000)]
    )
