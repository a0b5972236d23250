"""Concurrent writers in separate PROCESSES on the session's real database.

Threads in one process (test_api_access.py) share one interpreter and one engine; here every
writer is its own `python` process with its own app, engine and connections, on the same
SQLite file (WAL) or PostgreSQL database as the test app, so the only thing ordering them is
the database: the case version check, the version-guarded update and the unique constraint
(case_id, case_version) on step_records.

Writers call the service layer (`cases.record_step`) from a small worker script; they start
together from a file barrier. Every write carries a unique note, so each acknowledged write
can be found in the history afterwards, and every record in the history can be traced back to
an acknowledged write. Waits are for events (a file a writer wrote); each is bounded only by
the hang guard of tests/integration/probes.py, and no test asserts how long anything took.
The processes are killed in `finally`.

The figures (attempts, writes that landed, conflicts, wall time) are printed; run with `-s`
to see them.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.helpers import map_roster, open_case, post_step
from tests.integration.probes import HANG_GUARD, wait_for
from tests.unit.builders import HAPPY
from workflow.persistence.db import db
from workflow.persistence.models import Case, StepRecordRow, User
from workflow.services import alerts as alerting, cases
from workflow.services.cases import history_chain
from workflow.steps import STEPS

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 6

# The writer: one process, one app. It reads its orders from a JSON file, touches
# ready-<me>-<tag> and waits for go-<tag> before each burst, and writes what happened to
# result-<me>.json. "stale" = refused by the version check before writing, "lost" = lost the
# race at commit (unique constraint, version-guarded update or SQLite's write lock). `guard`
# (the hang guard) only ends a run that hangs, and then as an error, never as fewer writes.
WORKER = r'''
import json, random, sys, time
from pathlib import Path

spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
folder, me = Path(spec["folder"]), spec["index"]
guard = time.monotonic() + spec["guard"]

from workflow.app import create_app
from workflow.persistence.db import db
from workflow.persistence.models import Case, User
from workflow.services import cases
from workflow.services.errors import Conflict, ServiceError
from workflow.steps import STEPS

app = create_app()
out = {"index": me, "won": [], "stale": 0, "lost": 0, "errors": [], "attempts": 0,
       "seconds": 0.0}


def wait_go(tag):
    (folder / f"ready-{me}-{tag}").touch()
    while not (folder / f"go-{tag}").exists():
        if time.monotonic() > guard:
            raise SystemExit(f"worker {me}: no go for {tag} (hang guard)")
        time.sleep(0.005)


def going():
    """False once an error was recorded; past the hang guard, that is an error too."""
    if time.monotonic() > guard and not out["errors"]:
        out["errors"].append(f"worker {me}: still writing after {spec['guard']:.0f} s "
                             "(hang guard)")
    return not out["errors"]


def who(step):
    return "org" if STEPS[step].recorder.value == "committee" else "sec1"


def attempt(case_id, step, on, data, version=None):
    out["attempts"] += 1
    note = f"p{me}-a{out['attempts']}"
    try:
        actor = db.session.get(User, spec["users"][who(step)])
        r = cases.record_step(actor, case_id, step, on, data, note=note, version=version)
        won = {"case": case_id, "id": r["step"]["id"], "version": r["case"]["version"],
               "note": note, "step": step}
        out["won"].append(won)
        return won
    except Conflict as exc:
        out["stale" if "version" in exc.extra else "lost"] += 1
    except ServiceError as exc:
        out["errors"].append(f"{type(exc).__name__}: {exc.message} {exc.extra}")
    except Exception as exc:
        out["errors"].append(repr(exc))
    finally:
        db.session.remove()
    return None


def version_of(case_id):
    try:
        return db.session.get(Case, case_id).version
    finally:
        db.session.remove()


with app.app_context():
    db.session.get(User, spec["users"]["sec1"])  # connect and warm up before the barrier
    db.session.remove()
    started = None
    if spec["mode"] == "rounds":  # everyone writes the same version, round after round
        for r, (step, on, data) in enumerate(spec["plan"]):
            wait_go(r)
            started = started or time.monotonic()
            attempt(spec["case"], step, on, data, version=spec["first_version"] + r)
    elif spec["mode"] == "loop":  # version-less writes on one case, retried until they land
        wait_go("start")
        started = time.monotonic()
        for j in range(spec["writes"]):
            while going():
                data = {"corrects": spec["target"], "reason": "并发更正",
                        "fields": {"interviewer": f"p{me}-{j}"}}
                if attempt(spec["case"], "step_corrected", spec["on"], data):
                    break
    elif spec["mode"] == "many":  # each case through the plan, version-checked
        wait_go("start")
        started = time.monotonic()
        rng = random.Random(spec["seed"] * 1000 + me)
        remaining = list(spec["cases"])
        while remaining and going():
            case_id = rng.choice(remaining)
            version = version_of(case_id)
            if version > len(spec["plan"]):
                remaining.remove(case_id)
                continue
            step, on, data = spec["plan"][version - 1]
            attempt(case_id, step, on, data, version=version)
    out["seconds"] = time.monotonic() - started
    db.engine.dispose()

tmp = folder / f"result-{me}.tmp"
tmp.write_text(json.dumps(out), encoding="utf-8")
tmp.rename(folder / f"result-{me}.json")
'''


def child_env(app: Any) -> dict[str, str]:
    """The test app's database, instance folder and key, for a process of our own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "CELERY_"))}
    env.update(APP_ENV="testing", INSTANCE_PATH=app.instance_path,
               SECRET_KEY=app.config["SECRET_KEY"], PYTHONPATH=str(ROOT),
               DATABASE_URL=db.engine.url.render_as_string(hide_password=False))
    return env


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=HANG_GUARD)


class Writers:
    """N worker processes with a file barrier; `run` releases one burst, `results` collects."""

    def __init__(self, app: Any, folder: Path, n: int, **spec: Any) -> None:
        self.app, self.folder, self.n, self.spec = app, folder, n, spec
        self.procs: list[subprocess.Popen[bytes]] = []
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "worker.py").write_text(WORKER, encoding="utf-8")

    def start(self) -> Writers:
        db.session.commit()  # nothing of ours stays open while they write
        users = {u.username: u.id for u in db.session.execute(sa.select(User)).scalars()}
        env = child_env(self.app)
        for i in range(self.n):
            orders = self.folder / f"spec-{i}.json"
            orders.write_text(json.dumps({**self.spec, "folder": str(self.folder), "index": i,
                                          "users": users, "guard": HANG_GUARD}),
                              encoding="utf-8")
            with (self.folder / f"log-{i}.txt").open("wb") as log:
                self.procs.append(subprocess.Popen(
                    [sys.executable, str(self.folder / "worker.py"), str(orders)], cwd=ROOT,
                    env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        return self

    def _alive(self) -> None:
        for i, p in enumerate(self.procs):
            if p.poll() is not None and not (self.folder / f"result-{i}.json").exists():
                raise AssertionError(f"writer {i} exited {p.returncode}:\n{self.log(i)}")

    def log(self, i: int) -> str:
        return (self.folder / f"log-{i}.txt").read_text(encoding="utf-8", errors="replace")[-3000:]

    def release(self, tag: Any) -> float:
        """Wait until every writer is at the barrier `tag`, then let them all go."""
        def ready() -> bool:
            self._alive()
            return all((self.folder / f"ready-{i}-{tag}").exists() for i in range(self.n))
        wait_for(f"{self.n} writers ready for {tag}", ready)
        (self.folder / f"go-{tag}").touch()
        return time.monotonic()

    def results(self) -> list[dict[str, Any]]:
        def done() -> bool:
            self._alive()
            return all((self.folder / f"result-{i}.json").exists() for i in range(self.n))
        wait_for("the writers' results", done)
        for p in self.procs:
            p.wait(timeout=HANG_GUARD)
        out = [json.loads((self.folder / f"result-{i}.json").read_text(encoding="utf-8"))
               for i in range(self.n)]
        errors = [(r["index"], e) for r in out for e in r["errors"]]
        assert not errors, errors
        db.session.commit()  # end our snapshot: the rows were written by other processes
        db.session.expire_all()
        return out

    def kill(self) -> None:
        for p in self.procs:
            kill(p)


@pytest.fixture
def writers(ctx, tmp_path) -> Iterator[list[Writers]]:
    made: list[Writers] = []
    try:
        yield made
    finally:
        for w in made:
            w.kill()


def _writers(made: list[Writers], app: Any, folder: Path, **spec: Any) -> Writers:
    w = Writers(app, folder, PROCESSES, **spec)
    made.append(w)
    return w.start()


def plan(world: Any, entries: list[Any]) -> list[list[Any]]:
    return [[step, on, map_roster(world, data)] for step, on, data in entries]


def figures(name: str, results: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    won = sum(len(r["won"]) for r in results)
    out = {"test": name, "db": db.engine.dialect.name, "processes": len(results),
           "attempted": sum(r["attempts"] for r in results), "won": won,
           "stale": sum(r["stale"] for r in results), "lost": sum(r["lost"] for r in results),
           "wall_s": round(wall, 2), "won_per_s": round(won / wall, 1) if wall else None}
    out["conflicts"] = out["stale"] + out["lost"]
    print("FIGURES " + json.dumps(out))
    return out


def history(case_id: int) -> list[StepRecordRow]:
    return list(db.session.execute(sa.select(StepRecordRow).filter_by(case_id=case_id)
                                   .order_by(StepRecordRow.case_version)).scalars())


def check_history(case_id: int) -> list[StepRecordRow]:
    """Versions 1..k with no gap or double, the case row at k, ids in version order."""
    rows = history(case_id)
    assert [r.case_version for r in rows] == list(range(1, len(rows) + 1))
    assert [r.id for r in rows] == sorted(r.id for r in rows)  # replay order = version order
    assert db.session.get(Case, case_id).version == len(rows)
    return rows


def check_acknowledged(results: list[dict[str, Any]], case_ids: list[int]) -> None:
    """Every acknowledged write is in the history exactly once, as acknowledged, and every
    record there (but the opening one) is an acknowledged write."""
    won = [w for r in results for w in r["won"]]
    rows = [row for c in case_ids for row in history(c) if row.note is not None]
    by_note = {row.note: row for row in rows}
    assert len(by_note) == len(rows), "a note appears twice: one attempt landed twice"
    assert sorted(by_note) == sorted(w["note"] for w in won)
    for w in won:
        row = by_note[w["note"]]
        assert (row.id, row.case_id, row.case_version, row.step) == \
            (w["id"], w["case"], w["version"], w["step"])


def check_derived_state() -> None:
    """Cached stage/state = replay, every hash chain intact, deadline rows current."""
    assert cases.rederive() == []
    checks, _heads = history_chain.verify()
    assert checks and all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert alerting.stale_deadline_cases() == []


def test_sqlite_runs_in_wal_mode(ctx):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    assert db.session.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.session.execute(sa.text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def test_processes_writing_one_version_land_exactly_once(world, ctx, writers, tmp_path):
    case = open_case(world)
    rounds = HAPPY[1:7]  # six rounds, each one version further: interview .. second assessment
    w = _writers(writers, ctx, tmp_path / "w", mode="rounds",
                 case=case["id"], first_version=case["version"], plan=plan(world, rounds))
    w.release(0)
    for r in range(1, len(rounds)):
        w.release(r)  # the next round waits until every writer is done with this one
    results = w.results()
    wall = max(r["seconds"] for r in results)
    fig = figures("one_version", results, wall)
    for r in range(len(rounds)):  # exactly one winner per round, everyone else a conflict
        version = case["version"] + r + 1
        winners = [x for res in results for x in res["won"] if x["version"] == version]
        assert len(winners) == 1, (version, winners)
    assert fig["won"] == len(rounds) and fig["conflicts"] == len(rounds) * (PROCESSES - 1)
    assert fig["attempted"] == len(rounds) * PROCESSES
    rows = check_history(case["id"])
    assert [r.step for r in rows] == [s for s, _, _ in HAPPY[:7]]
    check_acknowledged(results, [case["id"]])
    check_derived_state()


def test_processes_writing_without_version_lose_and_duplicate_nothing(world, ctx, writers,
                                                                      tmp_path):
    case = open_case(world)
    r = post_step(world, case["id"], "applicant_interviewed", "2023-03-15",
                  {"interviewer": "张伟"})
    assert r.status_code == 201, r.json
    target, per_process = r.json["step"]["id"], 12
    w = _writers(writers, ctx, tmp_path / "w", mode="loop",
                 case=case["id"], target=target, on="2023-03-20", writes=per_process)
    started = w.release("start")
    results = w.results()
    wall = time.monotonic() - started
    fig = figures("no_version_one_case", results, max(r["seconds"] for r in results))
    assert fig["won"] == PROCESSES * per_process
    assert all(len(r["won"]) == per_process for r in results)
    rows = check_history(case["id"])
    assert len(rows) == 2 + PROCESSES * per_process
    check_acknowledged(results, [case["id"]])
    check_derived_state()
    # the correction that counts is the last one by version: replay order is version order
    last = rows[-1]
    view = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert view["steps"][1]["data"]["interviewer"] == last.data["fields"]["interviewer"]
    print(f"wall {wall:.1f} s")


def test_processes_writing_many_cases_keep_every_acknowledged_write(world, ctx, writers, tmp_path):
    ids = [open_case(world)["id"] for _ in range(10)]
    steps = HAPPY[1:13]  # interview .. branch committee review (one of them a committee step)
    assert {STEPS[s].recorder.value for s, _, _ in steps} >= {"branch", "committee"}
    w = _writers(writers, ctx, tmp_path / "w", mode="many", cases=ids,
                 plan=plan(world, steps), seed=8)
    started = w.release("start")
    results = w.results()
    wall = time.monotonic() - started
    fig = figures("many_cases", results, max(r["seconds"] for r in results))
    assert fig["won"] == len(ids) * len(steps)
    for case_id in ids:
        rows = check_history(case_id)
        assert [r.step for r in rows] == [s for s, _, _ in HAPPY[:1 + len(steps)]]
        assert db.session.get(Case, case_id).state == \
            world.get("sec1", f"/api/v1/cases/{case_id}").json["state"]
    check_acknowledged(results, ids)
    check_derived_state()
    print(f"wall {wall:.1f} s")
