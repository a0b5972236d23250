"""The import graph of our own code has no circle.

An import `a → b` is every `import`/`from … import` in `a`, at module level or inside a function
(a lazy import is still a dependency), plus what Python runs along with it: importing
`x.y.z` first runs the packages `x` and `x.y` (their re-exports included), except those that
contain the importer and so are already running. `from pkg import name` depends on the
submodule `pkg.name` when that is a module, else on `pkg` itself.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("workflow", "tasks", "config")


def modules() -> dict[str, Path]:
    found = {}
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules that importing `name` runs directly (see the module docstring)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            subs = {f"{module}.{a.name}" for a in node.names} & known.keys()
            targets |= subs
            if len(subs) < len(node.names):
                targets.add(module)
    mine = set(_ancestors(name))
    edges = set()
    for target in targets:
        if target not in known:
            continue
        edges.add(target)
        edges.update(a for a in _ancestors(target) if a in known and a not in mine)
    edges.discard(name)
    return edges


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(g.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_our_import_graph_has_no_circle():
    assert circles(graph()) == []


def test_the_check_finds_a_circle_when_there_is_one():
    g = graph()
    g["workflow.services.reports.fanout"].add("workflow.app")  # the circle this test replaced
    (found,) = circles(g)
    assert {"workflow.app", "workflow.services.reports.fanout", "workflow.web"} <= set(found)


def test_a_package_runs_its_re_exports_for_every_submodule_import():
    g = graph()
    # importing any submodule of cases runs cases/__init__, which imports recording
    assert "workflow.services.cases" in g["workflow.services.committee.pre_reviews"]
    # but a submodule never "imports" the package it belongs to by being imported from it
    assert "workflow.services.cases" not in g["workflow.services.cases.recording"]


def test_each_services_package_says_what_it_owns():
    services = ROOT / "workflow" / "services"
    for init in services.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 80, f"{init.parent.name} has no docstring saying what it owns"
        for module in init.parent.glob("*.py"):
            if module.name != "__init__.py":
                assert f"`{module.stem}`" in doc, f"{init.parent.name}: {module.stem} unnamed"
