"""portal.domain stays plain Python: no web framework, ORM, form or template library, no clock.

Each import runs in a fresh interpreter (sys.executable -c ...) so modules this test session has
already loaded cannot hide a forbidden import.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOMAIN_DIR = REPO / "portal" / "domain"
FORBIDDEN = ("flask", "flask_sqlalchemy", "sqlalchemy", "wtforms", "jinja2", "holidays")
EXPECTED_MODULES = {"approval", "calendar", "errors", "ladder", "permissions", "sla", "workflow"}

IMPORT_ALL = """
import importlib, json, pkgutil, sys, types
if {bypass_parent!r}:
    # Stand in for portal/__init__.py so only the domain package's own imports are measured.
    parent = types.ModuleType("portal")
    parent.__path__ = [{portal_dir!r}]
    sys.modules["portal"] = parent
import portal.domain
names = sorted(m.name for m in pkgutil.iter_modules(portal.domain.__path__, "portal.domain."))
for name in names:
    importlib.import_module(name)
loaded = sorted({{m.split(".")[0] for m in sys.modules if m.split(".")[0].startswith({forbidden!r})}})
print(json.dumps({{"modules": names, "loaded": loaded}}))
"""


def import_domain_in_fresh_interpreter(*, bypass_parent: bool) -> dict[str, list[str]]:
    code = IMPORT_ALL.format(
        bypass_parent=bypass_parent, portal_dir=str(REPO / "portal"), forbidden=(*FORBIDDEN, "flask_")
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_domain_modules_import_no_framework_of_their_own() -> None:
    """Every module in portal/domain/, imported on its own, pulls in none of FORBIDDEN (design B7)."""
    report = import_domain_in_fresh_interpreter(bypass_parent=True)
    assert {name.rsplit(".", 1)[1] for name in report["modules"]} >= EXPECTED_MODULES
    assert report["loaded"] == []


def test_importing_portal_domain_loads_no_framework() -> None:
    """`import portal.domain`, as a script or worker would write it, loads no framework (design B7).

    This runs portal/__init__.py first, so the app factory's imports count too.
    """
    report = import_domain_in_fresh_interpreter(bypass_parent=False)
    assert {name.rsplit(".", 1)[1] for name in report["modules"]} >= EXPECTED_MODULES
    assert report["loaded"] == [], f"import portal.domain loaded {', '.join(report['loaded'])}"


CLOCK_READS = re.compile(r"\b(datetime\.now|datetime\.utcnow|date\.today|time\.time|time\.monotonic)\s*\(")


@pytest.mark.parametrize("path", sorted(DOMAIN_DIR.glob("*.py")), ids=lambda p: p.name)
def test_domain_module_never_reads_the_clock(path: Path) -> None:
    """Time-dependent rules take `now` as an argument (portal/domain/__init__.py)."""
    assert CLOCK_READS.findall(path.read_text(encoding="utf-8")) == []
