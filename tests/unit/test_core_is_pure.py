"""The workflow core imports no framework: it must run and be tested without an app."""
from __future__ import annotations

import ast
from pathlib import Path

CORE = ["machine", "steps", "rules", "rulesets", "calendar", "votes", "replay", "deadlines", "chain", "alerts",
        "rubric", "facts", "history"]
ROOT = Path(__file__).resolve().parents[2] / "workflow"
ALLOWED = {"transitions", "dateutil", "chinese_calendar", "workflow", "__future__"}


def _modules():
    yield from (ROOT / f"{name}.py" for name in CORE)
    yield from (ROOT / "states").glob("*.py")


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_core_imports_only_stdlib_and_its_libraries():
    import sys
    stdlib = sys.stdlib_module_names
    for path in _modules():
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in ALLOWED or top in stdlib, f"{path.name} imports {name}"


def test_core_never_reads_the_clock():
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        assert "date.today(" not in text and "datetime.now(" not in text, path.name
