"""Administration screens: staff accounts, departments, categories and routing. No complaint
contents are shown here (domain.md: administrators configure, they do not read complaints)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import holidays
from flask import abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import Session

from portal.admin import bp, crud
from portal.admin.crud import CrudScreen
from portal.admin.forms import (
    PLAIN_SETTINGS,
    CategoryForm,
    ClosureDayForm,
    DepartmentForm,
    RootCauseForm,
    ServiceTargetForm,
    SettingsForm,
    UserForm,
)
from portal.extensions import db
from portal.models import Category, ClosureDay, Department, Notification, RootCause, ServiceTarget, User
from portal.notifications import dispatch
from portal.queries import admin as admin_queries
from portal.queries import choices
from portal.services import admin as admin_service
from portal.services import settings as settings_service
from portal.services import two_factor
from portal.web.answers import Answers, beside, go_to, invalid_form, run_service, submitted
from portal.web.context import now
from portal.web.forms import ActionForm


@bp.route("/")
def index():
    return redirect(url_for("admin.users"))


# --- the lists and their new/edit forms, in one shape (portal/admin/crud.py) ----------------


def _with_departments(form_class: Callable[[], Any]) -> Callable[[], Any]:
    """The form, offering every department (R5: a category's department receives its complaints)."""

    def new_form() -> Any:
        form = form_class()
        form.department.choices = [(d.id, d.name) for d in choices.departments(db.session)]
        return form

    return new_form


def _save_user(session: Session, form: UserForm, user: User | None) -> User:
    changes = admin_service.UserChanges(
        name=form.name.data,
        email=form.email.data,
        role=form.role.data,
        department_id=form.department.data,
        active=form.active.data,
        password=form.password.data or None,
    )
    return admin_service.save_user(session, current_user, user, changes)


def _user_refusals(form: UserForm) -> Mapping[type[Exception], Any]:
    return {
        admin_service.DuplicateName: beside(form.email, _l("Another account already uses this email.")),
        admin_service.SelfLockout: beside(form.role, _l("You cannot remove your own administration rights.")),
        # Also an unknown role or department, which the form's choices already keep out.
        ValueError: beside(form.password, _l("A new account needs a password.")),
    }


def _name_taken(words: Any) -> Callable[[Any], Mapping[type[Exception], Any]]:
    """The one refusal of a named list: another row already has this name."""
    return lambda form: {admin_service.DuplicateName: beside(form.name, words)}


USERS: CrudScreen[User, UserForm] = CrudScreen(
    kind="user",
    plural="users",
    model=User,
    rows=admin_queries.users,
    new_form=_with_departments(UserForm),
    fields={
        "name": "name",
        "email": "email",
        "role": "role",
        "department": "department_id",
        "active": "active",
    },
    save=_save_user,
    refusals=_user_refusals,
    saved=_l("Account saved."),
)

DEPARTMENTS: CrudScreen[Department, DepartmentForm] = CrudScreen(
    kind="department",
    plural="departments",
    model=Department,
    rows=choices.departments,
    new_form=DepartmentForm,
    fields={"name": "name", "handles_feedback": "handles_feedback"},
    save=lambda session, form, department: admin_service.save_department(
        session, department, form.name.data, form.handles_feedback.data
    ),
    refusals=_name_taken(_l("Another department already has this name.")),
    saved=_l("Department saved."),
)

# R5: the category a customer picks decides the department that receives the complaint.
CATEGORIES: CrudScreen[Category, CategoryForm] = CrudScreen(
    kind="category",
    plural="categories",
    model=Category,
    rows=admin_queries.categories,
    new_form=_with_departments(CategoryForm),
    fields={"name": "name", "department": "department_id", "active": "active"},
    save=lambda session, form, category: admin_service.save_category(
        session, category, form.name.data, form.department.data, form.active.data
    ),
    refusals=_name_taken(_l("Another category already has this name.")),
    saved=_l("Category saved."),
)

# R21: the managed list of causes a resolution records (retired ones stay in old reports).
ROOT_CAUSES: CrudScreen[RootCause, RootCauseForm] = CrudScreen(
    kind="root_cause",
    plural="root_causes",
    model=RootCause,
    rows=admin_queries.root_causes,
    new_form=RootCauseForm,
    fields={"name": "name", "active": "active"},
    save=lambda session, form, cause: admin_service.save_root_cause(
        session, cause, form.name.data, form.active.data
    ),
    refusals=_name_taken(_l("Another root cause already has this name.")),
    saved=_l("Root cause saved."),
)

for _screen in (USERS, DEPARTMENTS, CATEGORIES, ROOT_CAUSES):
    crud.register(bp, _screen)


@bp.route("/users/<int:user_id>/two-factor/reset", methods=["GET", "POST"])
def reset_two_factor(user_id: int):
    """Clear another person's two-step sign-in (a lost phone, no recovery codes left): the page is
    the confirmation, the POST does it. They are signed out everywhere and set it up again at their
    next sign-in. Never one's own (403 and an audit row): that is turned off with a current code."""
    user = admin_queries.row_by_id(db.session, User, user_id)
    if user is None:
        abort(404)
    form = ActionForm()
    answers = Answers(
        target=f"user:{user_id}",
        done=go_to(url_for("admin.users")),
        again=lambda status: (render_template("admin/reset_two_factor.html", user=user, form=form), status),
        invalid={two_factor.NothingToReset: _l("This account has no two-step sign-in to reset.")},
    )
    if request.method == "GET":
        return answers.again(200)
    return submitted(
        form,
        lambda: two_factor.reset(db.session, current_user._get_current_object(), user),
        answers,
        success=lambda _result: _(
            "Two-step sign-in of %(name)s was reset; they have been signed out everywhere.", name=user.name
        ),
    )


# --- service settings: thresholds, calendar, targets, closures -----------------------------


def _settings_page(
    settings_form: SettingsForm | None = None,
    target_form: ServiceTargetForm | None = None,
    closure_form: ClosureDayForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    values = settings_service.current_settings(db.session, current_app.config)
    if settings_form is None:
        settings_form = SettingsForm(
            formdata=None,
            holiday_country=values["holiday_country"],
            approval_threshold=Decimal(values["approval_threshold_minor"]) / 100,
            warn_spike_factor=Decimal(str(values["warn_spike_factor"])),
            **{key: values[key] for key in PLAIN_SETTINGS},
        )
    settings_form.holiday_country.choices = _country_choices()
    target_form = target_form or ServiceTargetForm(formdata=None)
    target_form.category.choices = _target_category_choices()
    return render_template(
        "admin/settings.html",
        settings_form=settings_form,
        target_form=target_form,
        closure_form=closure_form or ClosureDayForm(formdata=None),
        targets=admin_queries.service_targets(db.session),
        closures=admin_queries.closure_days(db.session),
        defaults=current_app.config,
    ), status


def _country_choices() -> list[tuple[str, str]]:
    return sorted(((code, f"{code}") for code in holidays.list_supported_countries()), key=lambda c: c[0])


def _target_category_choices() -> list[tuple[int, str]]:
    return [(0, _("All categories")), *((c.id, c.name) for c in choices.active_categories(db.session))]


def _back_to_settings(_result: object = None) -> ResponseReturnValue:
    return redirect(url_for("admin.settings"), code=303)


def _settings_answers(
    target: str,
    again: Callable[[int], ResponseReturnValue] | None = None,
    invalid: Mapping[type[Exception], Any] | None = None,
) -> Answers:
    """Every settings form answers on the settings page; only the errors it lists become 422."""
    return Answers(
        target=target,
        done=_back_to_settings,
        again=again or (lambda status: _settings_page(status=status)),
        invalid=invalid or {},
    )


@bp.route("/settings")
def settings():
    return _settings_page()


@bp.route("/settings", methods=["POST"])
def save_settings():
    form = SettingsForm()
    form.holiday_country.choices = _country_choices()
    answers = _settings_answers(
        "settings", again=lambda status: _settings_page(settings_form=form, status=status)
    )
    if not form.validate_on_submit():
        return invalid_form(answers)
    values = {
        "holiday_country": form.holiday_country.data,
        "approval_threshold_minor": int(form.approval_threshold.data * 100),
        "warn_spike_factor": float(form.warn_spike_factor.data),
        **{key: form[key].data for key in PLAIN_SETTINGS},
    }
    return run_service(
        lambda: settings_service.save_settings(db.session, values), answers, success=_l("Settings saved.")
    )


@bp.route("/settings/targets", methods=["POST"])
def add_service_target():
    form = ServiceTargetForm()
    form.category.choices = _target_category_choices()
    answers = _settings_answers(
        "service_target:new",
        again=lambda status: _settings_page(target_form=form, status=status),
        invalid={
            admin_service.DuplicateName: beside(
                form.category, _l("There is already a target for this category and tier; delete it first.")
            ),
            ValueError: beside(form.resolve_working_days, _l("Must be at least 1 and at most the maximum.")),
        },
    )
    return submitted(
        form,
        lambda: admin_service.save_service_target(
            db.session,
            None,
            category_id=form.category.data or None,
            customer_tier=form.customer_tier.data,
            acknowledge_hours=form.acknowledge_hours.data,
            resolve_working_days=form.resolve_working_days.data,
            max_working_days=form.max_working_days.data,
        ),
        answers,
        success=_l("Service target saved."),
    )


@bp.route("/settings/targets/<int:target_id>/delete", methods=["POST"])
def delete_service_target(target_id: int):
    target = admin_queries.row_by_id(db.session, ServiceTarget, target_id)
    if target is None or not ActionForm().validate_on_submit():
        abort(404)
    return run_service(
        lambda: admin_service.delete_service_target(db.session, target),
        _settings_answers(f"service_target:{target_id}"),
        success=_l("Service target removed."),
    )


@bp.route("/settings/closures", methods=["POST"])
def add_closure_day():
    form = ClosureDayForm()
    answers = _settings_answers(
        "closure_day:new",
        again=lambda status: _settings_page(closure_form=form, status=status),
        invalid={admin_service.DuplicateName: beside(form.day, _l("That day is already closed."))},
    )
    return submitted(
        form,
        lambda: admin_service.add_closure_day(db.session, form.day.data, form.reason.data),
        answers,
        success=_l("Closure day added; clocks skip it from now on."),
    )


@bp.route("/settings/closures/<int:closure_id>/delete", methods=["POST"])
def delete_closure_day(closure_id: int):
    closure = admin_queries.row_by_id(db.session, ClosureDay, closure_id)
    if closure is None or not ActionForm().validate_on_submit():
        abort(404)
    return run_service(
        lambda: admin_service.delete_closure_day(db.session, closure),
        _settings_answers(f"closure_day:{closure_id}"),
        success=_l("Closure day removed."),
    )


# --- outbox: what was sent to whom, and what keeps failing (R13) ----------------------------


@bp.route("/outbox")
def outbox():
    status = request.args.get("status", "")
    return render_template(
        "admin/outbox.html",
        rows=admin_queries.outbox(db.session, status),
        status=status,
        problems=admin_queries.outbox_problems(db.session),
        # Delivery facts only, in every environment: administrators do not read complaint contents
        # (R20), and a message's text may hold the customer's live private link (I4).
        action_form=ActionForm(),
    )


def _back_to_outbox(_outcome: object = None) -> ResponseReturnValue:
    return redirect(url_for("admin.outbox"), code=303)


@bp.route("/outbox/<int:notification_id>/retry", methods=["POST"])
def retry_notification(notification_id: int):
    notification = admin_queries.row_by_id(db.session, Notification, notification_id)
    if notification is None or not ActionForm().validate_on_submit():
        abort(404)
    answers = Answers(
        target=f"notification:{notification_id}",
        done=_back_to_outbox,
        # A message that is not failing any more: say so on the outbox (a redirect, not a 422 page).
        again=_back_to_outbox,
        invalid={ValueError: _l("Only failed messages can be retried.")},
    )
    return run_service(
        lambda: dispatch.retry(db.session, notification, now()),
        answers,
        success=_l("Queued to be sent again."),
    )
