"""Administration screens: staff accounts, departments, categories and routing. No complaint
contents are shown here (domain.md: administrators configure, they do not read complaints)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal import queries
from portal.admin import bp
from portal.admin.forms import CategoryForm, DepartmentForm, UserForm
from portal.extensions import db
from portal.models import Category, Department, User
from portal.services import admin as admin_service


def _department_choices() -> list[tuple[int, str]]:
    return [(d.id, d.name) for d in queries.departments(db.session)]


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
    return render_template("admin/departments.html", departments=queries.departments(db.session))


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
