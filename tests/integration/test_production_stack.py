"""The production stack, run for real: gunicorn with config/gunicorn.conf.py and several workers,
APP_ENV=production, on the session's database (SQLite file in WAL mode, or DATABASE_URL:
PostgreSQL with psycopg 3), and several Celery worker processes on a real Redis.

Web: `python -m gunicorn -c config/gunicorn.conf.py wsgi:app` with WEB_CONCURRENCY=3, in its
own process group. Threads send bearer-token API traffic over HTTP:

- version-checked step writes at several cases at once (the writers of test_crash_web.py);
  a third of the way in, the master gets SIGHUP (a deploy: every worker is replaced) and not one
  request may go unanswered; then rounds in which every thread writes the same version of one
  case at a barrier: exactly one 201 per version, every other answer 409;
- the history holds every acknowledged write once and nothing else; versions 1..k per case,
  cached state = replay, hash chains intact, deadline rows current;
- the access log (its format carries the worker pid) has every request, with the statuses the
  clients saw, answered by the master's own worker processes (read from /proc): at least two
  workers of one generation, and the post-reload traffic only by the new generation;
- SIGTERM: the master stops its workers gracefully and exits 0.

Reports: with REPORT_PROCESSES=2 from the first case (and BULK_LOCAL: the report's run is
done by the web worker's report processes), a committee organiser logs in through the
login form (CSRF token, Secure session cookie carried by hand) and downloads the committee table;
every cell equals the table made in the test process alone, and the worker that served it has
the forkserver its report processes came from.
And on Redis, where a large report's run goes to the Celery workers by default, gunicorn
serves the table a prefork worker made (the web worker may neither fork nor take the chunks
over), equal cell by cell to the one made in the test process.

Celery: two worker nodes on Redis, the Procfile's solo worker and a `--pool=prefork
--concurrency=2` one, three sweeps sent at once plus the deliveries they fan out; each sweep
waits at its start until all three have started (tests/integration/probes.py), so they run
at the same time on the three executors whatever the machine's load. The outbox is
exactly what a replay of every case computes (as in test_alerts_worker.py, which runs one
worker at a time), every sweep saw every alert, the sweeps' `created` add up to the rows, and
every row was sent exactly once. Skipped only when redis-server is not installed.

Waits are for events, bounded only by the hang guard (probes.HANG_GUARD); no test asserts how
long anything took. Processes are killed in `finally`. Figures are printed (`-s`).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration import test_alerts_worker
from tests.integration.conftest import PASSWORD
from tests.integration.helpers import open_case, post_step
from tests.integration.probes import HANG_GUARD, Probes, join_all, wait_for
from tests.integration.test_alerts_worker import (
    Broker,
    Worker,
    _expected,
    _keys,
    _outbox,
    redis_server,
    workers,  # noqa: F401  (fixture)
)
from tests.integration.test_concurrency_processes import (
    ROOT,
    check_derived_state,
    check_history,
    child_env,
    kill,
    plan,
)
from tests.integration.test_crash_web import DOWN, Traffic, _writer, call, free_port
from tests.unit.builders import HAPPY
from workflow.persistence.db import db
from workflow.persistence.models import StepRecordRow
from workflow.steps import STEPS

pytestmark = pytest.mark.db

CONFIG = ROOT / "config" / "gunicorn.conf.py"
WEB_WORKERS, THREADS, CASES = 3, 8, 6
STEPS_PER_CASE = HAPPY[1:13]  # interview .. branch committee review: 12 writes, one committee
ROUNDS = HAPPY[1:7]  # every thread writes the same version, six times
ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) .*'
                    r'worker=<(?P<pid>\d+)>$')
AS_OF = test_alerts_worker.AS_OF
cases = test_alerts_worker.cases  # the fixture: five cases in two committees


# --- gunicorn ---------------------------------------------------------------------------------

def children(pid: int) -> set[int]:
    """Processes whose parent is `pid`, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(text.split(" ", 1)[0]))
    return found


class Gunicorn:
    """The master process; `workers()` are its children."""

    def __init__(self, app: Any, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "gunicorn.log"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.env = {k: v for k, v in child_env(app).items() if not k.startswith("FLASK_")}
        self.env.update(APP_ENV="production", BIND=f"127.0.0.1:{self.port}",
                        WEB_CONCURRENCY=str(WEB_WORKERS))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Gunicorn:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "wsgi:app"], cwd=ROOT,
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def up() -> bool:
            self.alive()
            try:
                return call("GET", self.base + "/health", "")[0] == 200
            except DOWN:
                return False
        wait_for("gunicorn to answer", up, every=0.1)
        wait_for(f"{WEB_WORKERS} gunicorn workers", lambda: len(self.workers()) == WEB_WORKERS)
        return self

    def alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"gunicorn exited {self.proc.returncode}:\n{self.log()}")

    def workers(self) -> set[int]:
        assert self.proc is not None
        return children(self.proc.pid)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        if self.proc is not None:
            kill(self.proc)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def access(self) -> list[dict[str, str]]:
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [m.groupdict() for line in lines if (m := ACCESS.search(line))]


@pytest.fixture
def web(ctx, tmp_path) -> Iterator[Gunicorn]:
    server = Gunicorn(ctx, tmp_path / "web")
    try:
        yield server
    finally:
        server.kill()


def who(step: str) -> str:
    return "org" if STEPS[step].recorder.value == "committee" else "sec1"


def _rounds(base: str, tokens: dict[str, str], case_id: int, first_version: int,
            steps: list[list[Any]]) -> list[list[tuple[int, Any]]]:
    """THREADS threads post the same version at a barrier, round after round."""
    barrier = threading.Barrier(THREADS, timeout=HANG_GUARD)
    answers: list[list[tuple[int, Any]]] = [[] for _ in steps]
    lock = threading.Lock()

    def one(n: int) -> None:
        for r, (step, on, data) in enumerate(steps):
            barrier.wait()
            try:
                answer = call("POST", f"{base}/cases/{case_id}/steps", tokens[who(step)],
                              {"step": step, "occurred_on": on, "data": data,
                               "version": first_version + r, "note": f"r{r}-t{n}"})
            except Exception as exc:  # noqa: BLE001 - counted as a failure below
                answer = (0, repr(exc))
            with lock:
                answers[r].append(answer)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    join_all(threads)
    return answers


def test_gunicorn_workers_serve_version_checked_writes_through_a_reload(world, ctx, web):
    ids = [open_case(world)["id"] for _ in range(CASES)]
    steps = plan(world, STEPS_PER_CASE)
    total = CASES * len(steps)
    race = open_case(world)
    db.session.commit()  # nothing of ours stays open while they write
    web.start()
    first = web.workers()
    traffic, stop = Traffic(), threading.Event()
    threads = [threading.Thread(target=_writer, args=(n, web, world.tokens, ids, steps,
                                                      traffic, stop)) for n in range(THREADS)]
    started = time.monotonic()
    try:
        for t in threads:
            t.start()
        wait_for("a third of the writes", lambda: len(traffic.acked) >= total // 3
                 or traffic.errors)
        web.signal(signal.SIGHUP)  # reload: new workers first, then the old ones stop

        def replaced() -> bool:
            web.alive()
            now = web.workers()
            return len(now) == WEB_WORKERS and not now & first
        wait_for("the old workers replaced", replaced)
        second = web.workers()
        join_all(threads)
        assert not traffic.errors, traffic.errors
        reloaded_at = len(web.access())
        answers = _rounds(web.base, world.tokens, race["id"], race["version"],
                          plan(world, ROUNDS))
        web.signal(signal.SIGTERM)  # graceful stop
        assert web.proc is not None
        returncode = web.proc.wait(timeout=HANG_GUARD)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        web.kill()
    wall = time.monotonic() - started
    assert returncode == 0, web.log()
    assert "Shutting down: Master" in web.log()

    # every request answered, through the reload too
    assert traffic.unanswered == set() and traffic.down == 0
    for r, got in enumerate(answers):
        statuses = sorted(status for status, _ in got)
        assert statuses == [201] + [409] * (THREADS - 1), (r, got)
        assert all(body["error"]["code"] == "conflict" for status, body in got if status == 409)

    # the history: every acknowledged write once, nothing else
    db.session.commit()
    db.session.expire_all()
    rows = [row for c in ids for row in check_history(c)]
    by_note = {r.note: r for r in rows if r.note is not None}
    assert len(by_note) == len(traffic.acked) == total
    for ack in traffic.acked:
        row = by_note[ack["note"]]
        assert (row.id, row.case_id, row.case_version, row.step) == \
            (ack["id"], ack["case"], ack["version"], ack["step"])
    for c in ids:
        assert [r.step for r in check_history(c)] == [s for s, _, _ in HAPPY[:1 + len(steps)]]
    raced = check_history(race["id"])
    assert [r.step for r in raced] == [s for s, _, _ in HAPPY[:1 + len(ROUNDS)]]
    winners = {body["step"]["id"] for got in answers for status, body in got if status == 201}
    assert winners == {r.id for r in raced[1:]}
    twice = db.session.execute(
        sa.select(StepRecordRow.case_id, StepRecordRow.case_version)
        .group_by(StepRecordRow.case_id, StepRecordRow.case_version)
        .having(sa.func.count() > 1)).all()
    assert twice == []
    check_derived_state()

    # the access log: every write logged as answered, by the master's own workers
    access = web.access()
    posts = [a for a in access if a["method"] == "POST"]
    assert len(posts) == traffic.attempted + THREADS * len(ROUNDS)
    assert Counter(a["status"] for a in posts) == Counter(
        {"201": total + len(ROUNDS), "409": traffic.conflicts + (THREADS - 1) * len(ROUNDS)})
    pids = Counter(int(a["pid"]) for a in access)
    assert set(pids) <= first | second
    after = {int(a["pid"]) for a in access[reloaded_at:]}
    assert after and after <= second  # the reload really replaced the code that serves
    served = {"before_reload": len(set(pids) & first), "after_reload": len(set(pids) & second)}
    assert max(served.values()) >= 2, pids  # several workers really serve

    figures = {"test": "gunicorn", "db": db.engine.dialect.name, "workers": WEB_WORKERS,
               "threads": THREADS, "requests": len(access), "acked_201": len(traffic.acked),
               "conflicts_409": traffic.conflicts, "serving_workers": served,
               "requests_per_worker": sorted(pids.values()), "wall_s": round(wall, 2)}
    print("FIGURES " + json.dumps(figures))


# --- Celery on Redis --------------------------------------------------------------------------

@pytest.fixture
def redis_broker(tmp_path) -> Iterator[Broker]:
    with redis_server(tmp_path) as broker:
        yield broker


def test_celery_workers_on_redis_sweep_at_once_and_send_each_alert_once(world, cases,
                                                                        redis_broker, workers,
                                                                        tmp_path):
    expected = _expected(world, AS_OF)
    assert expected
    # one executor takes one message at a time (prefetch 1, late ack); each sweep waits at its
    # start until the three are running, so none is over before the others are taken
    settings = {"ALERT_SWEEP_CHUNK": 1, "CELERY_WORKER_PREFETCH_MULTIPLIER": 1}
    points = Probes(tmp_path / "probes")
    points.arm("sweeps", "task_prerun", "tasks.sweep", gate=True)
    solo = Worker(redis_broker, tmp_path / "solo", probes=points, **settings)
    pool = Worker(redis_broker, tmp_path / "pool", concurrency=2, probes=points, **settings)
    nodes = [solo, pool]
    executors = {solo: 1, pool: 2}
    workers.extend(nodes)
    for node in nodes:
        node.start()
    for node in nodes:
        def ready(node: Worker = node) -> bool:
            assert node.proc is not None
            if node.proc.poll() is not None:
                raise AssertionError(f"the worker exited:\n{node.output()}")
            return "ready." in node.output()
        wait_for("the worker to be ready", ready)
    client = redis_broker.client()

    def outcomes() -> list[str]:
        return [m for node in nodes for m in re.findall(
            r"Task tasks\.deliver\[[^\]]+\] succeeded in [^:]+: '(\w+)'",
            node.log.read_text(encoding="utf-8", errors="replace"))]
    started = time.monotonic()
    try:
        results = [client.send_task("tasks.sweep", args=[AS_OF]) for _ in range(3)]

        def all_started() -> bool:
            for node in nodes:
                node.alive()
                taken = len(re.findall(r"Task tasks\.sweep\[[^\]]+\] received",
                                       node.log.read_text(encoding="utf-8", errors="replace")))
                assert taken <= executors[node], ("more sweeps than executors", node.output())
            return len(points.arrivals("sweeps")) == 3
        wait_for("three sweeps started, one per executor", all_started)
        points.release("sweeps")

        def swept() -> bool:
            for node in nodes:
                node.alive()
            return all(r.ready() for r in results)
        wait_for("three sweeps", swept)
        summaries = [r.get(timeout=5) for r in results]

        def delivered() -> bool:
            rows = _outbox()
            return bool(rows) and all(n.delivered_at is not None for n in rows)
        wait_for("every alert delivered", delivered)
        queued = sum(s["queued"] for s in summaries)  # delivery tasks the sweeps sent
        wait_for(f"{queued} delivery tasks done", lambda: len(outcomes()) == queued)
    finally:
        client.close()
    wall = time.monotonic() - started

    rows = _outbox()
    assert _keys(rows) == expected and len(rows) == len(expected)
    assert sum(s["created"] for s in summaries) == len(expected)
    assert all(s["alerts"] == len(expected) for s in summaries)
    assert all(n.attempts == 1 and n.last_error is None for n in rows)  # one send per row
    texts = [node.log.read_text(encoding="utf-8", errors="replace") for node in nodes]
    logs = "".join(texts)
    sent = Counter(re.findall(r"alert notification-(\d+) to", logs))
    assert sent == Counter({str(n.id): 1 for n in rows})
    assert Counter(outcomes()) == Counter({"delivered": len(rows), "skipped": queued - len(rows)})
    # prefetch 1: the pool node holds at most two sweeps, so the solo node had one
    received = [len(re.findall(r"Task tasks\.sweep\[[^\]]+\] received", text))
                for text in texts]
    assert sum(received) == 3 and all(received), received
    assert "Traceback" not in logs

    figures = {"test": "celery_redis", "db": db.engine.dialect.name, "nodes": len(nodes),
               "sweeps_received": received, "created": [s["created"] for s in summaries],
               "rows": len(rows), "deliver_tasks": queued,
               "wall_s": round(wall, 2)}
    print("FIGURES " + json.dumps(figures))


# --- a report in several processes, served by gunicorn -------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the login's Set-Cookie is on the redirect itself


PAGES = urllib.request.build_opener(_NoRedirect)


def _page(url: str, cookie: str = "", form: dict[str, str] | None = None
          ) -> tuple[int, Any, bytes]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers={"Cookie": cookie} if cookie else {})
    try:
        with PAGES.open(request, timeout=HANG_GUARD) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


def _session(headers: Any) -> str:
    # by hand: the production cookie is Secure, which a cookie jar keeps off plain http
    return next(c.split(";", 1)[0] for c in headers.get_all("Set-Cookie") or ()
                if c.startswith("session="))


def _login(root: str, username: str) -> str:
    status, headers, body = _page(root + "/login")
    assert status == 200, body[:500]
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body)
    assert token, body[:2000]
    status, headers, body = _page(root + "/login", _session(headers), {
        "csrf_token": token.group(1).decode(), "username": username, "password": PASSWORD})
    assert status == 302, body[:2000]
    return _session(headers)


def _cells(xlsx: bytes) -> list[list[Any]]:
    import io

    import openpyxl
    book = openpyxl.load_workbook(io.BytesIO(xlsx), read_only=True)
    return [[list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets]


def _two_branches(world: Any) -> None:
    """A case of B1 taken to the committee's review (back-filled), one of B2."""
    from tests.integration.test_reports import _b2_case
    case = open_case(world)
    for step, on, data in HAPPY[1:8]:
        assert post_step(world, case["id"], step, on, data, acknowledge=True,
                         reason="补录").status_code == 201
    _b2_case(world)


def _served_and_made_here(ctx: Any, web: Gunicorn, monkeypatch: Any
                          ) -> tuple[bytes, bytes, dict[str, Any]]:
    """The committee table as gunicorn serves it to the organiser (logged in through the form),
    and the same file made in this process alone, without a run."""
    from datetime import date

    from tests.integration.test_reports import actor
    from workflow.services import reports
    from workflow.services.reports import files as report_files
    web.start()
    root = web.base.removesuffix("/api/v1")
    url = root + "/reports/committee.xlsx?org=C&year=2024&as_of=2026-01-15"
    status, _, served = _page(url, _login(root, "org"))
    assert status == 200, served[:2000]
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 1)
    monkeypatch.setitem(ctx.config, "REPORT_PARALLEL_MIN_CASES", 10**9)
    table = reports.committee_table(actor("org"), "C", 2024, date(2026, 1, 15))
    expected, _ = report_files.render(report_files.committee_report(table), "xlsx")
    return served, expected, table


def test_gunicorn_serves_a_committee_table_made_in_report_processes(world, ctx, web,
                                                                    monkeypatch):
    _two_branches(world)
    # its run done by the web worker's own report processes (the workers' path: below)
    web.env.update(REPORT_PROCESSES="2", REPORT_PARALLEL_MIN_CASES="1", BULK_LOCAL="1")
    served, expected, table = _served_and_made_here(ctx, web, monkeypatch)
    assert _cells(served) == _cells(expected)
    assert {row["org"] for row in table["rows"]} == {"B1", "B2"}
    # the worker that served it started a forkserver for its report processes, which stays
    commands = [Path(f"/proc/{child}/cmdline").read_bytes() for worker in web.workers()
                for child in children(worker)]
    assert any(b"forkserver" in command for command in commands), commands


def test_gunicorn_serves_a_committee_table_the_celery_workers_made(world, ctx, web,
                                                                  redis_broker, workers,
                                                                  tmp_path, monkeypatch):
    """The scale-out path of a large report: gunicorn on Redis (REPORT_ON_WORKERS on by
    default there), the app's own sender (workflow.app → tasks.bulk), a prefork worker doing
    the report run's chunks. The web worker may neither fork report processes
    (REPORT_PROCESSES=1) nor take the chunks over (BULK_WORKER_WAIT beyond the hang guard):
    the table it serves was made by the workers, and equals the one made here."""
    from workflow.persistence.models import BulkChunk, BulkRun
    from workflow.services import alerts as alerting
    _two_branches(world)
    alerting.invalidate_deadlines()  # after a rule change every case is replayed
    db.session.commit()
    before = db.session.execute(sa.select(sa.func.max(BulkRun.id))).scalar() or 0
    worker = Worker(redis_broker, tmp_path / "pool", concurrency=2)
    workers.append(worker)
    worker.start()
    wait_for("the worker to be ready", lambda: worker.alive() or "ready." in worker.output())
    web.env.update(CELERY_BROKER_URL=redis_broker.url, CELERY_RESULT_BACKEND=redis_broker.results,
                   REPORT_PROCESSES="1", REPORT_PARALLEL_MIN_CASES="1", BULK_CHUNK_CASES="1",
                   BULK_WORKER_WAIT=str(HANG_GUARD * 2))
    web.env.pop("REPORT_ON_WORKERS", None)
    web.env.pop("BULK_LOCAL", None)
    served, expected, _ = _served_and_made_here(ctx, web, monkeypatch)
    assert _cells(served) == _cells(expected)
    db.session.commit()
    runs = db.session.execute(sa.select(BulkRun).where(BulkRun.id > before)).scalars().all()
    assert [r.kind for r in runs] == ["report"] and runs[0].finished_at is not None
    chunks = db.session.execute(sa.select(BulkChunk).where(BulkChunk.run_id == runs[0].id)
                                ).scalars().all()
    assert len(chunks) == 2  # a share per branch (B1, B2), a case or more each
    assert all(c.done_at is not None and c.dispatched_at is not None and c.result is None
               for c in chunks)
    assert "tasks.bulk_chunk" in worker.output()
