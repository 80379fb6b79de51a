"""Administration screens: staff accounts, departments, categories and routing. No complaint
contents are shown here (domain.md: administrators configure, they do not read complaints)."""

from __future__ import annotations

from decimal import Decimal

import holidays
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from portal.admin import bp
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
from portal.models import (
    Category,
    ClosureDay,
    Department,
    Notification,
    RootCause,
    ServiceTarget,
    User,
    utcnow,
)
from portal.notifications import dispatch
from portal.queries import choices
from portal.services import admin as admin_service
from portal.services import settings as settings_service
from portal.web.forms import ActionForm


def _department_choices() -> list[tuple[int, str]]:
    return [(d.id, d.name) for d in choices.departments(db.session)]


@bp.route("/")
def index():
    return redirect(url_for("admin.users"))


@bp.route("/users")
def users():
    rows = db.session.scalars(select(User).order_by(User.active.desc(), User.name)).all()
    return render_template("admin/users.html", users=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id: int | None = None):
    user = db.session.get(User, user_id) if user_id is not None else None
    if user_id is not None and user is None:
        abort(404)
    form = UserForm(obj=None)
    form.department.choices = _department_choices()
    if request.method == "GET" and user is not None:
        form.name.data, form.email.data, form.role.data = user.name, user.email, user.role
        form.department.data, form.active.data = user.department_id, user.active
    if form.validate_on_submit():
        try:
            admin_service.save_user(
                db.session,
                current_user,
                user,
                admin_service.UserChanges(
                    name=form.name.data,
                    email=form.email.data,
                    role=form.role.data,
                    department_id=form.department.data,
                    active=form.active.data,
                    password=form.password.data or None,
                ),
            )
        except admin_service.DuplicateName:
            db.session.rollback()
            form.email.errors.append(_("Another account already uses this email."))
        except admin_service.SelfLockout:
            db.session.rollback()
            form.role.errors.append(_("You cannot remove your own administration rights."))
        except ValueError:
            db.session.rollback()
            form.password.errors.append(_("A new account needs a password."))
        else:
            flash(_("Account saved."), "success")
            return redirect(url_for("admin.users"), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/user_form.html", form=form, user=user), status


@bp.route("/departments")
def departments():
    return render_template("admin/departments.html", departments=choices.departments(db.session))


@bp.route("/departments/new", methods=["GET", "POST"])
@bp.route("/departments/<int:department_id>", methods=["GET", "POST"])
def edit_department(department_id: int | None = None):
    department = db.session.get(Department, department_id) if department_id is not None else None
    if department_id is not None and department is None:
        abort(404)
    form = DepartmentForm(obj=department)
    if form.validate_on_submit():
        try:
            admin_service.save_department(db.session, department, form.name.data, form.handles_feedback.data)
        except admin_service.DuplicateName:
            db.session.rollback()
            form.name.errors.append(_("Another department already has this name."))
        else:
            flash(_("Department saved."), "success")
            return redirect(url_for("admin.departments"), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/department_form.html", form=form, department=department), status


@bp.route("/categories")
def categories():
    rows = db.session.scalars(select(Category).order_by(Category.name)).all()
    return render_template("admin/categories.html", categories=rows)


@bp.route("/categories/new", methods=["GET", "POST"])
@bp.route("/categories/<int:category_id>", methods=["GET", "POST"])
def edit_category(category_id: int | None = None):
    category = db.session.get(Category, category_id) if category_id is not None else None
    if category_id is not None and category is None:
        abort(404)
    form = CategoryForm()
    form.department.choices = _department_choices()
    if request.method == "GET" and category is not None:
        form.name.data, form.department.data, form.active.data = (
            category.name,
            category.department_id,
            category.active,
        )
    if form.validate_on_submit():
        try:
            admin_service.save_category(
                db.session, category, form.name.data, form.department.data, form.active.data
            )
        except admin_service.DuplicateName:
            db.session.rollback()
            form.name.errors.append(_("Another category already has this name."))
        else:
            flash(_("Category saved."), "success")
            return redirect(url_for("admin.categories"), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/category_form.html", form=form, category=category), status


@bp.route("/root-causes")
def root_causes():
    rows = db.session.scalars(select(RootCause).order_by(RootCause.active.desc(), RootCause.name)).all()
    return render_template("admin/root_causes.html", root_causes=rows)


@bp.route("/root-causes/new", methods=["GET", "POST"])
@bp.route("/root-causes/<int:root_cause_id>", methods=["GET", "POST"])
def edit_root_cause(root_cause_id: int | None = None):
    """R21: the managed list of causes a resolution records (retired ones stay in old reports)."""
    cause = db.session.get(RootCause, root_cause_id) if root_cause_id is not None else None
    if root_cause_id is not None and cause is None:
        abort(404)
    form = RootCauseForm()
    if request.method == "GET" and cause is not None:
        form.name.data, form.active.data = cause.name, cause.active
    if form.validate_on_submit():
        try:
            admin_service.save_root_cause(db.session, cause, form.name.data, form.active.data)
        except admin_service.DuplicateName:
            db.session.rollback()
            form.name.errors.append(_("Another root cause already has this name."))
        else:
            flash(_("Root cause saved."), "success")
            return redirect(url_for("admin.root_causes"), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/root_cause_form.html", form=form, root_cause=cause), status


# --- service settings: thresholds, calendar, targets, closures -----------------------------


def _settings_page(
    settings_form: SettingsForm | None = None,
    target_form: ServiceTargetForm | None = None,
    closure_form: ClosureDayForm | None = None,
    status: int = 200,
):  # type: ignore[no-untyped-def]
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
        targets=db.session.scalars(select(ServiceTarget).order_by(ServiceTarget.id)).all(),
        closures=db.session.scalars(select(ClosureDay).order_by(ClosureDay.day.desc())).all(),
        defaults=current_app.config,
    ), status


def _country_choices() -> list[tuple[str, str]]:
    return sorted(((code, f"{code}") for code in holidays.list_supported_countries()), key=lambda c: c[0])


def _target_category_choices() -> list[tuple[int, str]]:
    return [(0, _("All categories")), *((c.id, c.name) for c in choices.active_categories(db.session))]


@bp.route("/settings")
def settings():
    return _settings_page()


@bp.route("/settings", methods=["POST"])
def save_settings():
    form = SettingsForm()
    form.holiday_country.choices = _country_choices()
    if not form.validate_on_submit():
        return _settings_page(settings_form=form, status=422)
    settings_service.save_settings(
        db.session,
        {
            "holiday_country": form.holiday_country.data,
            "approval_threshold_minor": int(form.approval_threshold.data * 100),
            "warn_spike_factor": float(form.warn_spike_factor.data),
            **{key: form[key].data for key in PLAIN_SETTINGS},
        },
    )
    flash(_("Settings saved."), "success")
    return redirect(url_for("admin.settings"), code=303)


@bp.route("/settings/targets", methods=["POST"])
def add_service_target():
    form = ServiceTargetForm()
    form.category.choices = _target_category_choices()
    if form.validate_on_submit():
        try:
            admin_service.save_service_target(
                db.session,
                None,
                category_id=form.category.data or None,
                customer_tier=form.customer_tier.data,
                acknowledge_hours=form.acknowledge_hours.data,
                resolve_working_days=form.resolve_working_days.data,
                max_working_days=form.max_working_days.data,
            )
        except admin_service.DuplicateName:
            db.session.rollback()
            form.category.errors = [
                _("There is already a target for this category and tier; delete it first.")
            ]
        except ValueError:
            db.session.rollback()
            form.resolve_working_days.errors = [_("Must be at least 1 and at most the maximum.")]
        else:
            flash(_("Service target saved."), "success")
            return redirect(url_for("admin.settings"), code=303)
    return _settings_page(target_form=form, status=422)


@bp.route("/settings/targets/<int:target_id>/delete", methods=["POST"])
def delete_service_target(target_id: int):
    target = db.session.get(ServiceTarget, target_id)
    if target is None or not ActionForm().validate_on_submit():
        abort(404)
    admin_service.delete_service_target(db.session, target)
    flash(_("Service target removed."), "success")
    return redirect(url_for("admin.settings"), code=303)


@bp.route("/settings/closures", methods=["POST"])
def add_closure_day():
    form = ClosureDayForm()
    if form.validate_on_submit():
        try:
            admin_service.add_closure_day(db.session, form.day.data, form.reason.data)
        except admin_service.DuplicateName:
            db.session.rollback()
            form.day.errors = [_("That day is already closed.")]
        else:
            flash(_("Closure day added; clocks skip it from now on."), "success")
            return redirect(url_for("admin.settings"), code=303)
    return _settings_page(closure_form=form, status=422)


@bp.route("/settings/closures/<int:closure_id>/delete", methods=["POST"])
def delete_closure_day(closure_id: int):
    closure = db.session.get(ClosureDay, closure_id)
    if closure is None or not ActionForm().validate_on_submit():
        abort(404)
    admin_service.delete_closure_day(db.session, closure)
    flash(_("Closure day removed."), "success")
    return redirect(url_for("admin.settings"), code=303)


# --- outbox: what was sent to whom, and what keeps failing (R13) ----------------------------


@bp.route("/outbox")
def outbox():
    status = request.args.get("status", "")
    query = select(Notification).where(Notification.channel != "in_app")
    if status in ("pending", "sending", "sent", "failed", "dead"):
        query = query.where(Notification.status == status)
    rows = db.session.scalars(query.order_by(Notification.id.desc()).limit(200)).all()
    problems = db.session.scalar(
        select(func.count(Notification.id)).where(Notification.status.in_(("failed", "dead")))
    )
    return render_template(
        "admin/outbox.html",
        rows=rows,
        status=status,
        problems=problems,
        # Administrators do not read complaint contents (R20): message bodies only in development.
        show_bodies=current_app.config["PORTAL_ENV"] != "production",
        action_form=ActionForm(),
    )


@bp.route("/outbox/<int:notification_id>/retry", methods=["POST"])
def retry_notification(notification_id: int):
    notification = db.session.get(Notification, notification_id)
    if notification is None or not ActionForm().validate_on_submit():
        abort(404)
    try:
        dispatch.retry(db.session, notification, utcnow())
        flash(_("Queued to be sent again."), "success")
    except ValueError:
        flash(_("Only failed messages can be retried."), "warning")
    return redirect(url_for("admin.outbox"), code=303)
