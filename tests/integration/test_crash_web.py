"""Kill the web process for real, mid-traffic, and check that nothing acknowledged is lost.

The app runs as `flask --app wsgi run` (what the Procfile runs, started through
tests/integration/probes.py, which lets it say where it is) in its own process group on the
session's database (SQLite file in WAL mode, or DATABASE_URL). Threads in the test fire
version-checked step writes at several cases over real HTTP; after a seeded number of
acknowledged writes the server gets SIGKILL (no shutdown, transactions in flight die with it)
at a known point, and a new one is started; the writers carry on until every case is through
its plan. The first kill lands while a step write's transaction is open (its COMMIT about to
be sent), the second right after a step write committed, before its answer. Then:

- every write answered 201 is in the history exactly once, with the id and version it was
  acknowledged with; every other record there comes from a request that got no answer (the
  server died after the commit and before the response), never from one answered 409;
- the write held at the first kill is not in the history, the one held at the second is,
  and neither was answered;
- no case has two records of one version, versions are 1..k, replay order = version order;
- `flask --app wsgi rederive` finds no mismatch, `flask --app wsgi verify` no broken chain,
  and the deadline rows are current.

The deadline sweep gets the same treatment from the command line: `flask alerts scan` killed
inside its deadline-row rebuild and again inside its alert inserts, then run to the end, must
leave exactly the outbox and deadline rows an uninterrupted sweep writes.

Waits are for events; each is bounded only by the hang guard (probes.HANG_GUARD), and no test
asserts how long anything took. Processes are killed in `finally`. Figures are printed (`-s`).
"""
from __future__ import annotations

import http.client
import json
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.helpers import open_case
from tests.integration.probes import HANG_GUARD, PROBED, Probes, join_all, wait_for
from tests.integration.test_concurrency_processes import (
    ROOT,
    check_history,
    child_env,
    kill,
    plan,
)
from tests.unit.builders import HAPPY
from workflow.persistence.db import db
from workflow.persistence.models import (
    Case,
    DeadlineBackfill,
    DeadlineRow,
    DeadlineSet,
    Notification,
    StepRecordRow,
)
from workflow.services import alerts as alerting, clock
from workflow.cli import synthetic
from workflow.services.bulk import CHUNK
from workflow.steps import STEPS

pytestmark = pytest.mark.db

SEED = 20260508
CASES, THREADS = 8, 8
# where each kill lands: inside a step write's transaction, then after one's commit
KILL_POINTS = ("commit", "after_commit")
STEPS_PER_CASE = HAPPY[1:13]  # interview .. branch committee review: 12 writes, one committee
SWEEP_CASES = CHUNK + 250  # synthetic cases for the sweep; ~96 % of them open: two chunks
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
DOWN = (OSError, http.client.HTTPException)  # refused, reset, cut off mid-answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One `flask run` process; `start` again after `kill` gives a new process on a new port."""

    def __init__(self, app: Any, folder: Path) -> None:
        self.env = {k: v for k, v in child_env(app).items() if not k.startswith("FLASK_")}
        self.folder, self.proc, self.starts = folder, None, 0
        self.base = ""
        folder.mkdir(parents=True, exist_ok=True)
        self.probes = Probes(folder / "probes")
        self.env.update(self.probes.env())

    def start(self) -> None:
        self.starts += 1
        port = free_port()
        with (self.folder / f"web-{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [*PROBED, "flask", "--app", "wsgi", "run", "--host", "127.0.0.1",
                 "--port", str(port), "--no-reload", "--no-debugger", "--with-threads"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        base = f"http://127.0.0.1:{port}/api/v1"

        def up() -> bool:
            self.alive()
            try:
                return call("GET", base + "/health", "")[0] == 200
            except DOWN:
                return False
        wait_for("the web process", up, every=0.1)
        self.base = base

    def alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the web process exited:\n{self.log()}")

    def kill(self) -> None:
        if self.proc is not None:
            kill(self.proc)

    def log(self) -> str:
        path = self.folder / f"web-{self.starts}.log"
        return path.read_text(encoding="utf-8", errors="replace")[-3000:]


def call(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with OPENER.open(request, timeout=HANG_GUARD) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"{}")


@dataclass
class Traffic:
    """What the writer threads saw, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: list[dict[str, Any]] = field(default_factory=list)
    unanswered: set[str] = field(default_factory=set)  # notes of writes that got no answer
    conflicts: int = 0
    down: int = 0  # reads that found no server
    errors: list[Any] = field(default_factory=list)
    attempted: int = 0


@pytest.fixture
def server(ctx, tmp_path) -> Iterator[Server]:
    s = Server(ctx, tmp_path / "web")
    try:
        yield s
    finally:
        s.kill()


def _writer(n: int, server: Server, tokens: dict[str, str], ids: list[int],
            steps: list[list[Any]], traffic: Traffic, stop: threading.Event) -> None:
    rng = random.Random(SEED * 100 + n)
    remaining, sent = list(ids), 0
    try:
        while remaining and not stop.is_set():
            case_id = rng.choice(remaining)
            base = server.base
            try:
                status, body = call("GET", f"{base}/cases/{case_id}", tokens["sec1"])
            except DOWN:
                with traffic.lock:
                    traffic.down += 1
                time.sleep(0.05)
                continue
            if status != 200:
                with traffic.lock:
                    traffic.errors.append(("GET", status, body))
                return
            version = body["version"]
            if version > len(steps):
                remaining.remove(case_id)
                continue
            step, on, data = steps[version - 1]
            sent += 1
            note = f"t{n}-{sent}"
            who = "org" if STEPS[step].recorder.value == "committee" else "sec1"
            with traffic.lock:
                traffic.attempted += 1
            try:
                status, body = call("POST", f"{base}/cases/{case_id}/steps", tokens[who],
                                    {"step": step, "occurred_on": on, "data": data,
                                     "version": version, "note": note})
            except DOWN:
                with traffic.lock:
                    traffic.unanswered.add(note)
                continue
            with traffic.lock:
                if status == 201:
                    traffic.acked.append({"case": case_id, "id": body["step"]["id"],
                                          "version": body["case"]["version"], "note": note,
                                          "step": step})
                elif status == 409 and body["error"]["code"] == "conflict":
                    traffic.conflicts += 1
                else:
                    traffic.errors.append(("POST", status, body))
                    return
    except Exception as exc:  # noqa: BLE001 - reported by the test, never lost in a thread
        with traffic.lock:
            traffic.errors.append(repr(exc))


def flask_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=HANG_GUARD,
                          check=False)


def test_killing_the_web_process_loses_no_acknowledged_write(world, ctx, server):
    ids = [open_case(world)["id"] for _ in range(CASES)]
    steps = plan(world, STEPS_PER_CASE)
    total = CASES * len(steps)
    rng = random.Random(SEED)
    kill_at = sorted(rng.sample(range(total // 8, total * 3 // 4), len(KILL_POINTS)))
    db.session.commit()
    server.start()
    traffic, stop = Traffic(), threading.Event()
    threads = [threading.Thread(target=_writer, args=(n, server, world.tokens, ids, steps,
                                                      traffic, stop)) for n in range(THREADS)]
    started = time.monotonic()
    kills = []
    try:
        for t in threads:
            t.start()
        for k, (target, point) in enumerate(zip(kill_at, KILL_POINTS)):
            wait_for(f"{target} acknowledged writes",
                     lambda n=target: len(traffic.acked) >= n or traffic.errors)
            assert not traffic.errors, traffic.errors
            # the next step write stops at the point and stays there until the kill
            server.probes.arm(f"kill-{k}", point, "step_records")
            held = server.probes.reached(f"kill-{k}", alive=server.alive, context=server.log)
            server.kill()
            with traffic.lock:
                kills.append({"point": point, "held": held["notes"], "acked": len(traffic.acked),
                              "unanswered": len(traffic.unanswered)})
            server.start()  # meanwhile the writers find no server
        join_all(threads)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.kill()
    wall = time.monotonic() - started
    assert not traffic.errors, traffic.errors

    db.session.commit()
    db.session.expire_all()
    rows = [row for c in ids for row in check_history(c)]
    notes = [r.note for r in rows if r.note is not None]
    by_note = {r.note: r for r in rows if r.note is not None}
    assert len(by_note) == len(notes), "one request landed twice"
    for ack in traffic.acked:  # acknowledged: there, once, as acknowledged
        row = by_note.get(ack["note"])
        assert row is not None, ("acknowledged write lost", ack)
        assert (row.id, row.case_id, row.case_version, row.step) == \
            (ack["id"], ack["case"], ack["version"], ack["step"])
    acked = {a["note"] for a in traffic.acked}
    assert set(by_note) - acked <= traffic.unanswered  # nothing answered 409 landed
    for kill_ in kills:  # the held write: never answered; landed only if it had committed
        [note] = kill_["held"]
        assert note in traffic.unanswered and note not in acked, kill_
        assert (note in by_note) == (kill_["point"] == "after_commit"), kill_
    twice = db.session.execute(
        sa.select(StepRecordRow.case_id, StepRecordRow.case_version)
        .group_by(StepRecordRow.case_id, StepRecordRow.case_version)
        .having(sa.func.count() > 1)).all()
    assert twice == []
    for c in ids:  # every case went through its whole plan, in order
        assert [r.step for r in check_history(c)] == [s for s, _, _ in HAPPY[:1 + len(steps)]]

    rederive = flask_cli(server.env, "rederive")
    assert rederive.returncode == 0 and "0 mismatch(es)" in rederive.stdout, rederive
    verify = flask_cli(server.env, "verify")
    assert verify.returncode == 0, verify
    assert f"{CASES} case(s) checked, 0 broken" in verify.stdout, verify.stdout
    assert alerting.stale_deadline_cases() == []

    landed_unacked = set(by_note) - acked
    figures = {"test": "web_kill", "db": db.engine.dialect.name, "threads": THREADS,
               "cases": CASES, "kills": len(kills), "kill_at_acked": [k["acked"] for k in kills],
               "kill_points": [k["point"] for k in kills],
               "attempted": traffic.attempted, "acked_201": len(traffic.acked),
               "conflicts_409": traffic.conflicts, "unanswered": len(traffic.unanswered),
               "unanswered_but_committed": len(landed_unacked),
               "reads_while_down": traffic.down, "records": len(rows),
               "wall_s": round(wall, 2)}
    print("FIGURES " + json.dumps(figures))
    assert len(kills) == len(KILL_POINTS) and server.starts == len(KILL_POINTS) + 1
    assert len(traffic.acked) + len(landed_unacked) == total  # every write of the plan, once
    assert len(rows) == CASES * (1 + len(steps))


# --- the sweep: `flask alerts scan` killed mid-run -------------------------------------------
# test_alerts_worker.py kills a Celery worker right after one of its commits, between two
# transactions. Here the CLI sweep dies inside a transaction, at its COMMIT (probes.py): once
# in the second chunk of its deadline-row rebuild (before any alert), once in a seeded chunk
# of its alert inserts; then it runs to the end and is compared with the same sweep run from
# scratch without interruption.

OUTBOX = (Notification.case_id, Notification.rule, Notification.kind, Notification.due_on,
          Notification.level, Notification.responsible, Notification.org_id,
          Notification.escalated_to_id)
DEADLINES = (DeadlineRow.case_id, DeadlineRow.rule, DeadlineRow.kind, DeadlineRow.due_on,
             DeadlineRow.met, DeadlineRow.met_on, DeadlineRow.org_id, DeadlineRow.responsible)


def _rows(*columns: Any) -> list[tuple[Any, ...]]:
    db.session.commit()  # a fresh snapshot: another process writes these rows
    return sorted((tuple(r) for r in db.session.execute(sa.select(*columns))), key=repr)


def _count(model: Any) -> int:
    db.session.commit()
    return int(db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar())


def _scan_killed(env: dict[str, str], probes: Probes, log: Path, as_of: str, table: str,
                 nth: int) -> dict[str, Any]:
    """Start `flask alerts scan` and SIGKILL it at the COMMIT of its `nth` transaction that
    inserted into `table`, while that transaction is still open."""
    tag = f"{table}-{nth}"
    probes.arm(tag, "commit", table, nth=nth)
    with log.open("wb") as out:
        proc = subprocess.Popen([*PROBED, "flask", "--app", "wsgi", "alerts", "scan",
                                 "--as-of", as_of], cwd=ROOT, env={**env, **probes.env()},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def alive() -> None:
            if proc.poll() is not None:
                raise AssertionError(f"the sweep ended before the kill ({proc.returncode}):\n"
                                     + log.read_text(encoding="utf-8", errors="replace"))
        return probes.reached(tag, alive=alive)
    finally:
        kill(proc)


def test_killing_the_cli_sweep_mid_run_loses_and_duplicates_nothing(ctx, tmp_path):
    env, as_of = child_env(ctx), clock.today().isoformat()
    # the killed sweeps commit 20 cases' alerts at a time (many commits to land between); the
    # reference below uses the default chunk: the chunk size must not change the outcome
    env["ALERT_SWEEP_CHUNK"] = "20"
    env["BULK_CHUNK_CASES"] = str(CHUNK)  # the rebuild's chunks: two of them, as below
    synthetic.seed(SWEEP_CASES, SEED, clock.today(), "K")
    rng = random.Random(SEED)
    open_cases = _count(sa.select(Case.id).where(Case.stage.in_(alerting.OPEN_STAGES))
                        .subquery())
    assert open_cases > CHUNK + 100  # the rebuild commits a chunk at a time: two of them
    started = time.monotonic()
    probes = Probes(tmp_path / "probes")
    # inside the second chunk of the rebuild: the first chunk's deadline sets committed
    _scan_killed(env, probes, tmp_path / "scan-1.log", as_of, "deadline_sets", 2)
    sets = _count(DeadlineSet)
    assert _count(Notification) == 0 and _count(DeadlineBackfill) == 0
    assert 0 < sets < open_cases  # killed inside the rebuild of the deadline rows
    alert_commits = rng.randint(2, 10)  # the seeded chunk of alerts it dies in
    _scan_killed(env, probes, tmp_path / "scan-2.log", as_of, "notifications", alert_commits)
    partial = _rows(*OUTBOX)
    rerun = flask_cli(env, "alerts", "scan", "--as-of", as_of)
    assert rerun.returncode == 0, rerun
    summary = dict(kv.split("=", 1) for kv in rerun.stdout.split())
    after, deadlines = _rows(*OUTBOX), _rows(*DEADLINES)
    assert len(after) == len(set(after))  # no alert twice
    assert set(partial) <= set(after)
    assert int(summary["created"]) == len(after) - len(partial)
    assert alerting.stale_deadline_cases() == []
    # the reference: the same sweep from scratch, in this process, never interrupted
    for model in (Notification, DeadlineRow, DeadlineSet, DeadlineBackfill):
        db.session.execute(sa.delete(model))
    db.session.commit()
    clean = alerting.scan(clock.today())
    reference = _rows(*OUTBOX)
    assert clean["created"] == len(reference) == int(summary["alerts"])
    assert after == reference  # none missing, none extra, each as the clean sweep wrote it
    assert deadlines == _rows(*DEADLINES)
    assert 0 < len(partial) < len(reference)
    figures = {"test": "cli_sweep_kill", "db": db.engine.dialect.name, "cases": SWEEP_CASES,
               "open_cases": open_cases, "deadline_sets_at_kill_1": sets,
               "outbox_rows": len(reference), "outbox_rows_at_kill_2": len(partial),
               "killed_in_alert_commit": alert_commits,
               "created_by_rerun": int(summary["created"]), "deadline_rows": len(deadlines),
               "wall_s": round(time.monotonic() - started, 2)}
    print("FIGURES " + json.dumps(figures))
