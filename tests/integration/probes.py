"""Waiting for child processes by events, not by the clock.

The multi-process tests start real processes (`flask run`, `flask alerts scan`, Celery workers)
and must act at a known point of theirs: kill the web process while a step write's transaction
is open, or right after it committed and before the answer; kill the sweep inside its second
chunk's transaction; start three sweeps before any goes on. A pause of the right length would
make the outcome depend on the machine's load, so the child says where it is instead:

    python -m tests.integration.probes flask --app wsgi run ...
    python -m tests.integration.probes celery -A tasks.worker worker ...

runs the program unchanged, with listeners on SQLAlchemy's engine and session events and on
Celery's `task_prerun` signal (library hooks: none of our code is replaced). The test arms a
point by writing a file into PROBE_DIR; when the child gets there it writes `reached-...` and
either holds there for good (the test kills it: "hold") or until the test writes
`release-<tag>` ("gate").

Points:
- "commit": a transaction that inserted into `match` (a table) is about to commit (SQLAlchemy's
  `commit` connection event, before the database's COMMIT): its writes are in flight;
- "after_commit": such a transaction has committed (the session's `after_commit`), and
  nothing after it, an answer or the next chunk, has happened yet;
- "task_prerun": a Celery task named `match` is about to run.

HANG_GUARD bounds every wait only so that a broken run ends instead of hanging CI: it is not a
statement about speed, and no test asserts how long anything took.
"""
from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HANG_GUARD = 600.0  # seconds; see the module docstring
PROBED = [sys.executable, "-m", "tests.integration.probes"]  # + "flask"/"celery" and its args
INSERT = re.compile(r'\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+"?(\w+)"?', re.IGNORECASE)


def wait_for(what: str, check: Callable[[], Any], every: float = 0.02,
             context: Callable[[], str] | None = None) -> Any:
    """Poll `check` until it returns something truthy (which is returned). `check` raises to
    fail at once (a child that died); only a run that hangs meets HANG_GUARD."""
    guard = time.monotonic() + HANG_GUARD
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > guard:
            tail = f"\n{context()}" if context else ""
            raise AssertionError(f"still waiting for {what} after {HANG_GUARD:.0f} s: the run "
                                 f"hangs{tail}")
        time.sleep(every)


def join_all(threads: list[threading.Thread]) -> None:
    """Join threads under one HANG_GUARD for all of them."""
    guard = time.monotonic() + HANG_GUARD
    for t in threads:
        t.join(timeout=max(0.0, guard - time.monotonic()))
    alive = [t.name for t in threads if t.is_alive()]
    assert not alive, f"threads still running after {HANG_GUARD:.0f} s (hung): {alive}"


# ------------------------------------------------------------------------- the test's side

class Probes:
    """The test's end of PROBE_DIR: arm points, wait for children to reach them, release."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        return {"PROBE_DIR": str(self.folder)}

    def arm(self, tag: str, point: str, match: str, *, nth: int = 1, gate: bool = False) -> None:
        """`hold`: the nth arrival at the point (in one process; the first process to get
        there wins) stops there for good. `gate`: every arrival waits for `release(tag)`."""
        assert point in ("commit", "after_commit", "task_prerun"), point
        _write(self.folder / f"arm-{tag}.json", {"tag": tag, "point": point, "match": match,
                                                  "nth": nth, "mode": "gate" if gate else "hold"})

    def reached(self, tag: str, alive: Callable[[], None] | None = None,
                context: Callable[[], str] | None = None) -> dict[str, Any]:
        """Wait until a child holds at `tag`'s point; what it said about it. `alive` raises
        when the child ended before getting there."""
        path = self.folder / f"reached-{tag}.json"

        def check() -> bool:
            if path.exists():
                return True
            if alive is not None:
                alive()
            return False
        wait_for(f"a child at the point {tag!r}", check, context=context)
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def arrivals(self, tag: str) -> list[dict[str, Any]]:
        """The children waiting at a gate (or gone through it)."""
        return [json.loads(p.read_text(encoding="utf-8"))
                for p in sorted(self.folder.glob(f"reached-{tag}-*.json"))]

    def release(self, tag: str) -> None:
        (self.folder / f"release-{tag}").touch()


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.rename(path)  # atomic: a reader sees all of it or nothing


# ------------------------------------------------------------------------- the child's side

class _Child:
    """Installed in the child process by `main`: counts arrivals, holds, waits at gates."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.local = threading.local()  # what this thread's last COMMIT wrote
        self.arrival = 0

    def at(self, point: str, names: set[str], notes: list[Any]) -> None:
        for arm_path in self.folder.glob("arm-*.json"):
            try:
                arm = json.loads(arm_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # claimed meanwhile, or being written
                continue
            if arm["point"] != point or arm["match"] not in names:
                continue
            with self.lock:
                self.counts[arm["tag"]] = n = self.counts.get(arm["tag"], 0) + 1
                self.arrival += 1
                seq = self.arrival
            said = {"tag": arm["tag"], "point": point, "pid": os.getpid(), "names": sorted(names),
                    "notes": notes, "count": n}
            if arm["mode"] == "gate":
                _write(self.folder / f"reached-{arm['tag']}-{os.getpid()}-{seq}.json", said)
                release = self.folder / f"release-{arm['tag']}"
                guard = time.monotonic() + HANG_GUARD
                while not release.exists() and time.monotonic() < guard:
                    time.sleep(0.01)
            elif n == arm["nth"]:
                try:  # one process, one thread takes it
                    arm_path.rename(arm_path.with_name(f"taken-{arm['tag']}.json"))
                except OSError:
                    continue
                _write(self.folder / f"reached-{arm['tag']}.json", said)
                threading.Event().wait()  # until the test kills this process

    # SQLAlchemy listeners -------------------------------------------------------------
    def before_cursor_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any,
                              context: Any, executemany: bool) -> None:
        m = INSERT.match(statement)
        if m:
            conn.info.setdefault("probe_inserted", set()).add(m.group(1))
            if m.group(1) == "step_records":  # the writes' notes name them to the test
                conn.info.setdefault("probe_notes", []).extend(
                    p.get("note") for p in getattr(context, "compiled_parameters", None) or [])

    def commit(self, conn: Any) -> None:
        tables = conn.info.pop("probe_inserted", set())
        notes = conn.info.pop("probe_notes", [])
        self.local.committing = (tables, notes)  # for the session's after_commit
        if tables:
            self.at("commit", tables, notes)

    def rollback(self, conn: Any) -> None:
        conn.info.pop("probe_inserted", None)
        conn.info.pop("probe_notes", None)

    def after_commit(self, session: Any) -> None:
        tables, notes = getattr(self.local, "committing", (set(), []))
        self.local.committing = (set(), [])
        if tables:
            self.at("after_commit", tables, notes)

    def task_prerun(self, sender: Any = None, **_: Any) -> None:
        self.at("task_prerun", {getattr(sender, "name", "")}, [])

    def install(self) -> None:
        import sqlalchemy as sa
        from sqlalchemy.orm import Session
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self.before_cursor_execute)
        sa.event.listen(sa.engine.Engine, "commit", self.commit)
        sa.event.listen(sa.engine.Engine, "rollback", self.rollback)
        sa.event.listen(Session, "after_commit", self.after_commit)
        try:
            from celery.signals import task_prerun
        except ImportError:  # pragma: no cover - celery is a dependency
            return
        task_prerun.connect(self.task_prerun, weak=False)


def main(argv: list[str]) -> None:
    """Run `flask ...` or `celery ...` (argv) with the listeners installed."""
    _Child(Path(os.environ["PROBE_DIR"])).install()
    program, args = argv[0], argv[1:]
    sys.argv = [program, *args]
    if program == "flask":
        from flask.cli import main as flask_main
        flask_main()
    elif program == "celery":
        from celery.__main__ import main as celery_main
        celery_main()
    else:
        raise SystemExit(f"probes: unknown program {program!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
