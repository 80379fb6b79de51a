"""One shape for the administration lists and their new/edit forms.

Staff accounts, departments, categories and root causes work alike: a list page, and one page that
creates a row (`…/new`) or edits one (`…/<id>`):

1. an unknown id is 404;
2. on GET the form is filled from the row;
3. the form checks its own input (422 with the errors when it fails);
4. one save service runs through the seam (`run_service`): a refusal it raises (a duplicate name,
   an administrator demoting themselves) comes back beside its field with 422, what was typed kept;
5. success flashes "… saved." and answers 303 to the list (post/redirect/get).

Each kind is described once, as a `CrudScreen` (see `portal.admin.views`); `register()` adds its
routes under the names templates and links use: `admin.users` and `admin.edit_user` for the kind
"user", with the templates `admin/users.html` and `admin/user_form.html`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import Blueprint, abort, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.queries import admin as admin_queries
from portal.web.answers import Answers, invalid_form, run_service

Row = TypeVar("Row")
Form = TypeVar("Form", bound=FlaskForm)


@dataclass(frozen=True)
class CrudScreen(Generic[Row, Form]):
    """What differs between two administration lists: everything else is `list_page`/`edit_page`."""

    kind: str  # "root_cause": endpoint admin.edit_root_cause, URL argument root_cause_id
    plural: str  # "root_causes": endpoint admin.root_causes, URL /root-causes
    model: type[Row]
    rows: Callable[[Session], Sequence[Row]]  # the list, from portal.queries
    new_form: Callable[[], Form]  # with its choices filled in
    fields: Mapping[str, str]  # form field → the row's attribute it shows when editing
    save: Callable[[Session, Form, Row | None], object]  # one service call; None creates a row
    refusals: Callable[[Form], Mapping[type[Exception], Any]]  # service error → words beside a field
    saved: Any  # the flash after a save

    @property
    def path(self) -> str:
        return "/" + self.plural.replace("_", "-")

    @property
    def id_argument(self) -> str:
        return f"{self.kind}_id"


def list_page(screen: CrudScreen[Any, Any]) -> ResponseReturnValue:
    return render_template(f"admin/{screen.plural}.html", **{screen.plural: screen.rows(db.session)})


def edit_page(screen: CrudScreen[Any, Any], row_id: int | None) -> ResponseReturnValue:
    row = admin_queries.row_by_id(db.session, screen.model, row_id)
    if row_id is not None and row is None:
        abort(404)
    form = screen.new_form()

    def again(status: int) -> ResponseReturnValue:
        return render_template(f"admin/{screen.kind}_form.html", form=form, **{screen.kind: row}), status

    answers = Answers(
        target=f"{screen.kind}:{row_id if row_id is not None else 'new'}",
        done=lambda _saved: redirect(url_for(f"admin.{screen.plural}"), code=303),
        again=again,
        invalid=screen.refusals(form),
    )
    if not form.is_submitted():  # GET (or HEAD): the form, filled from the row when editing
        if row is not None:
            for name, attribute in screen.fields.items():
                form[name].data = getattr(row, attribute)
        return again(200)
    if not form.validate():
        return invalid_form(answers)
    return run_service(lambda: screen.save(db.session, form, row), answers, success=screen.saved)


def register(bp: Blueprint, screen: CrudScreen[Any, Any]) -> None:
    """Add the list page and the new/edit page of one kind to the blueprint."""

    def list_view() -> ResponseReturnValue:
        return list_page(screen)

    def edit_view(**ids: int) -> ResponseReturnValue:
        return edit_page(screen, ids.get(screen.id_argument))

    edit_endpoint = f"edit_{screen.kind}"
    bp.add_url_rule(screen.path, screen.plural, list_view)
    bp.add_url_rule(f"{screen.path}/new", edit_endpoint, edit_view, methods=["GET", "POST"])
    bp.add_url_rule(
        f"{screen.path}/<int:{screen.id_argument}>", edit_endpoint, edit_view, methods=["GET", "POST"]
    )
