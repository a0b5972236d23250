"""The workflow core imports no framework and none of our adapters: it must run and be tested
without an app. Its modules may import the standard library, its three libraries and each
other, nothing else (relative imports and `from workflow import x` included)."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = ["machine", "steps", "rules", "rulesets", "calendar", "votes", "replay", "deadlines",
        "chain", "alerts", "rubric", "facts", "history", "findings", "citations", "messages"]
ROOT = Path(__file__).resolve().parents[2] / "workflow"
LIBRARIES = {"transitions", "dateutil", "chinese_calendar", "__future__"}


def _core_paths() -> list[Path]:
    return [ROOT / f"{name}.py" for name in CORE] + sorted((ROOT / "states").glob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


CORE_MODULES = {_module_name(p) for p in _core_paths()}


def _imports(path: Path, source: str | None = None) -> list[str]:
    """Every module an import in `path` names, relative ones resolved, `from a import b`
    as `a.b` when that is a core module (else `a`)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.append(sub if sub in CORE_MODULES or module == "workflow" else module)
    return found


def _forbidden(path: Path, source: str | None = None) -> list[str]:
    bad = []
    for name in _imports(path, source):
        top = name.split(".")[0]
        if top == "workflow":
            if name not in CORE_MODULES:
                bad.append(name)
        elif top not in LIBRARIES and top not in sys.stdlib_module_names:
            bad.append(name)
    return bad


@pytest.mark.parametrize("path", _core_paths(), ids=lambda p: _module_name(p))
def test_core_imports_only_stdlib_its_libraries_and_itself(path):
    assert _forbidden(path) == []


@pytest.mark.parametrize("line", [
    "from workflow.persistence.db import db",
    "from workflow import services",
    "from .persistence import models",
    "import flask",
    "from ..services import clock",
])
def test_the_check_refuses_any_import_of_ours_outside_the_core(line):
    assert _forbidden(ROOT / "states" / "candidate.py", line) != []


def test_the_check_accepts_the_core_importing_itself():
    assert _forbidden(ROOT / "findings.py",
                      "from workflow import deadlines\nfrom .replay import fold\n"
                      "from workflow.states.transition import Transition") == []


def test_core_never_reads_the_clock():
    for path in _core_paths():
        text = path.read_text(encoding="utf-8")
        assert "date.today(" not in text and "datetime.now(" not in text, path.name
