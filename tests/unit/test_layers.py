"""Imports only run one way: domain ← models ← services/queries ← web ← blueprints ← app.

Every module under portal/ is parsed with `ast` (nothing is imported, so nothing this test session
already loaded can hide an import) and every import in it is checked, including those inside
functions and `if` blocks. Relative imports are resolved against the module's package, and
`from package import name` counts as importing `package.name`.

Framework imports in portal.domain (flask, sqlalchemy, ...) are test_domain_is_framework_free.py's
job; this file is about which of *our* modules may import which.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PORTAL = REPO / "portal"

BLUEPRINTS = (
    "portal.public",
    "portal.auth",
    "portal.staff",
    "portal.manage",
    "portal.admin",
    "portal.health",
)
WEB = ("portal.web",)
ENTRY_POINTS = ("portal.app", "portal.cli")


def siblings(blueprint: str) -> tuple[str, ...]:
    return tuple(other for other in BLUEPRINTS if other != blueprint)


@dataclass(frozen=True)
class Rule:
    layer: str  # the rule covers this module and every module under it
    forbidden: tuple[str, ...]  # none of these, nor anything under them, may be imported ...
    allowed: tuple[str, ...] = ()  # ... except these (and what is under them)
    exempt: tuple[str, ...] = ()  # modules of the layer the rule does not cover at all (exact names)
    why: str = ""


# fmt: off
SIBLINGS = "a blueprint imports no sibling blueprint"
RULES: tuple[Rule, ...] = (
    #    layer               may not import                          except
    Rule("portal.domain",    ("portal",),                            ("portal.domain",),
         why="the domain is plain Python and knows nothing of ours outside itself"),
    Rule("portal.models",    ("portal",),                            ("portal.domain", "portal.extensions"),
         why="the tables rest on the domain and the extensions only"),
    Rule("portal.services",  (*WEB, *BLUEPRINTS, *ENTRY_POINTS),
         why="services are called by the web, the CLI and jobs alike, and call none of them"),
    Rule("portal.queries",   (*WEB, *BLUEPRINTS, *ENTRY_POINTS, "portal.services"),
         why="read models only read: no web, no entry points, no services"),
    Rule("portal.web",       BLUEPRINTS,
         why="shared web code serves every blueprint and belongs to none"),
    Rule("portal.public",    siblings("portal.public"),              why=SIBLINGS),
    Rule("portal.auth",      siblings("portal.auth"),                why=SIBLINGS),
    Rule("portal.staff",     siblings("portal.staff"),               why=SIBLINGS),
    Rule("portal.manage",    siblings("portal.manage"),              why=SIBLINGS),
    Rule("portal.admin",     siblings("portal.admin"),               why=SIBLINGS),
    Rule("portal.health",    siblings("portal.health"),              why=SIBLINGS),
    Rule("portal",           ("portal.notifications.jobs",),
         why="the RQ entry points build the app; only the worker imports them, by name"),
    Rule("portal",           ("portal.app",),
         exempt=("portal", "portal.notifications.jobs"),  # and wsgi.py, outside portal/
         why="only the entry points build the application"),
)
# fmt: on


@dataclass(frozen=True)
class Import:
    line: int
    target: str  # the module (or module.name) imported, absolute
    statement: str  # as written, for the message


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_name(path: Path, root: Path = REPO) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    """Every import statement anywhere in `source`, as absolute names."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(node.lineno, alias.name, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                assert node.level - 1 < len(parts), f"{module}: relative import beyond the top package"
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            written = f"from {'.' * node.level}{node.module or ''} import"
            for alias in node.names:
                target = base if alias.name == "*" else f"{base}.{alias.name}"
                found.append(Import(node.lineno, target, f"{written} {alias.name}"))
    return found


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """One line per import that crosses a forbidden line, naming the module, the import and the rule."""
    problems: list[str] = []
    rules = [rule for rule in RULES if under(module, rule.layer) and module not in rule.exempt]
    for imported in imports_in(source, module, is_package=is_package):
        for rule in rules:
            if any(under(imported.target, name) for name in rule.forbidden) and not any(
                under(imported.target, name) for name in rule.allowed
            ):
                problems.append(
                    f"{module}, line {imported.line}: `{imported.statement}` imports {imported.target}"
                    f" — {rule.layer}: {rule.why}"
                )
    return problems


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


MODULES = [Module(module_name(path), path) for path in sorted(PORTAL.rglob("*.py"))]


@pytest.mark.parametrize("module", MODULES, ids=[module.name for module in MODULES])
def test_module_imports_only_what_its_layer_may(module: Module) -> None:
    source = module.path.read_text(encoding="utf-8")
    problems = violations(source, module.name, is_package=module.is_package)
    assert problems == [], "\n".join(problems)


def test_every_layer_in_the_rules_has_modules_to_check() -> None:
    """A renamed or moved package must not quietly switch its rule off."""
    names = {module.name for module in MODULES}
    for rule in RULES:
        assert any(under(name, rule.layer) for name in names), f"no module under {rule.layer}"
    assert {"portal", "portal.app", "portal.notifications.jobs", "portal.web.access"} <= names


CHECKER_CASES = [
    # (module the source pretends to be, its source, the import that must be reported or None)
    # the brief's example: a service reaching into the web layer
    ("portal.services.x", "from portal.web.access import deny\n", "portal.web.access.deny"),
    # ... inside a function, relatively, or as a plain import
    ("portal.services.x", "def f():\n    from ..web import access\n", "portal.web.access"),
    ("portal.services.x", "import portal.staff.views\n", "portal.staff.views"),
    ("portal.queries.x", "from portal.services import filing\n", "portal.services.filing"),
    ("portal.queries.x", "from . import y\nfrom portal import cli\n", "portal.cli"),
    ("portal.domain.x", "from portal.models import Ticket\n", "portal.models.Ticket"),
    ("portal.models", "from portal.services.settings import Rules\n", "portal.services.settings.Rules"),
    ("portal.web.x", "from portal.admin.forms import UserForm\n", "portal.admin.forms.UserForm"),
    ("portal.admin.views", "from ..staff import forms\n", "portal.staff.forms"),
    ("portal.staff", "from portal.manage.charts import bar\n", "portal.manage.charts.bar"),
    ("portal.services.x", "from portal.notifications import jobs\n", "portal.notifications.jobs"),
    ("portal.cli", "from portal.app import create_app\n", "portal.app.create_app"),
    # what the rules allow
    ("portal.domain.x", "from . import sla\nfrom portal.domain.errors import Conflict\n", None),
    ("portal.models", "from portal.domain import sla\nfrom portal.extensions import db\n", None),
    ("portal.services.x", "from portal.queries import visibility\nfrom portal.models import Ticket\n", None),
    ("portal.staff.views", "from portal.web.access import deny\nfrom .forms import NoteForm\n", None),
    ("portal.notifications.jobs", "def f():\n    from portal.app import create_app\n", None),
    ("portal", "def __getattr__(name):\n    from portal.app import create_app\n", None),
]


@pytest.mark.parametrize(
    ("module", "source", "reported"),
    CHECKER_CASES,
    ids=[
        f"{module} imports {reported}" if reported else f"{module} allowed"
        for module, _, reported in CHECKER_CASES
    ],
)
def test_the_rules_report_a_forbidden_import_and_only_that(
    module: str, source: str, reported: str | None
) -> None:
    """The checker itself: it can fail, and it fails on the right import."""
    is_package = module in {"portal", "portal.staff"}
    problems = violations(source, module, is_package=is_package)
    if reported is None:
        assert problems == []
    else:
        assert len(problems) == 1, problems
        assert problems[0].startswith(f"{module}, line "), problems
        assert f" imports {reported} — " in problems[0], problems
