"""`flask setup` prepares a fresh installation, and `flask create-user` refuses clearly (issue 15.5,
12.10): no raw database error (and never a password hash) on a taken email, no department
created by a typo."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Category, Department, User
from portal.services.starter import STARTER_CATEGORIES, STARTER_DEPARTMENTS
from tests.factories import Org


def run(app: Flask, *args: str, **env: str) -> Any:
    db.session.commit()
    return app.test_cli_runner().invoke(args=list(args), env=env or None)


def count(model: Any) -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_setup_on_an_empty_database_creates_the_starter_organisation_and_the_first_admin(app: Flask) -> None:
    result = run(
        app,
        "setup",
        "--starter",
        "--admin-email",
        "Head@Example.org",
        "--admin-name",
        "Head of Service",
        PORTAL_ADMIN_PASSWORD="a long enough password",
    )
    assert result.exit_code == 0, result.output
    assert count(Department) == len(STARTER_DEPARTMENTS)
    assert count(Category) == len(STARTER_CATEGORIES)
    admin = db.session.scalars(select(User).where(User.email == "head@example.org")).one()
    assert admin.role == "admin" and admin.check_password("a long enough password")
    assert "translations: 2 catalogs compiled" in result.output

    again = run(app, "setup", "--starter")
    assert again.exit_code == 0, again.output
    assert "administrator: one exists already" in again.output
    assert (count(Department), count(User)) == (len(STARTER_DEPARTMENTS), 1)  # nothing twice


def test_setup_without_the_starter_set_asks_for_no_admin_it_cannot_place(app: Flask) -> None:
    result = run(app, "setup", "--no-starter", "--admin-email", "a@example.org", "--admin-name", "A")
    assert result.exit_code == 1
    assert "needs a department" in result.output
    assert count(Department) == 0


def test_create_user_with_a_taken_email_says_so_without_a_database_error(app: Flask, org: Org) -> None:
    taken = org.users["lead_a"].email.upper()
    result = run(
        app,
        "create-user",
        "--email",
        taken,
        "--name",
        "Copy",
        "--role",
        "lead",
        "--department",
        org.departments["A"].name,
        "--password",
        "another long password",
    )
    assert result.exit_code == 1
    assert "exists already" in result.output
    for leak in ("IntegrityError", "INSERT", "scrypt", "pbkdf2", "password_hash"):
        assert leak not in result.output


@pytest.mark.parametrize("flag", [[], ["--new-department"]], ids=["typo-refused", "explicitly-created"])
def test_a_department_is_created_only_when_asked(app: Flask, org: Org, flag: list[str]) -> None:
    before = count(Department)
    result = run(
        app,
        "create-user",
        "--email",
        "new@example.org",
        "--name",
        "New",
        "--role",
        "responder",
        "--department",
        "Qualty",
        "--password",
        "another long password",
        *flag,
    )
    if flag:
        assert result.exit_code == 0, result.output
        assert count(Department) == before + 1
    else:
        assert result.exit_code == 1
        assert "no department is called 'Qualty'" in result.output
        assert count(Department) == before and count(User) == len(org.users)
