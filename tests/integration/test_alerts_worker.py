"""Deadline alerts end to end: deadline rows, the sweep, a real Celery worker on the embedded
SQLAlchemy broker and on Redis, delivery with retries, the in-app inbox.

The worker is a subprocess (`python -m celery -A tasks.worker worker --pool=solo`) on the same
database as the test app (SQLite file or DATABASE_URL), with its own instance folder whose
config.py shortens backoffs. Waits are for events, bounded only by the hang guard of
tests/integration/probes.py (no test asserts how long anything took); subprocesses are killed
in `finally`. The expected alerts come from replaying every case, never from the rows the sweep
(and GET /api/v1/alerts) read.
"""
from __future__ import annotations

import contextlib
import email
import email.policy
import os
import shutil
import signal
import socket
import socketserver
import sqlite3
import subprocess
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from celery import Celery

from tasks.app import celery_settings
from tests.integration import probes
from tests.integration.helpers import open_case, post_step
from tests.integration.probes import HANG_GUARD, PROBED, Probes
from tests.unit.builders import HAPPY, PERSON
from workflow.notifications import delivery, inapp
from workflow.notifications.base import DeliveryError, Message, Notifier
from workflow.persistence.db import db
from workflow.persistence.models import Case, DeadlineRow, DeadlineSet, Notification, User
from workflow.services import alerts as alerting
from workflow.services.alerts import deadline_rows, sweep

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2025-05-13"
Key = tuple[int, str, str, str]  # case_id, rule, due_on, level


# --- the scenario: five cases in two committees ---------------------------------------------

def _drive(world: Any, case_id: int, until: str) -> None:
    for step, on, data in HAPPY[1:]:
        r = post_step(world, case_id, step, on, data)
        assert r.status_code == 201, (step, r.json)
        if step == until:
            return


@pytest.fixture
def cases(world) -> dict[str, int]:
    """Probationary, voted-awaiting-approval and activist cases in B1, an applicant long overdue
    for the interview in B2, one whose interview is due within a week in B3 (committee C2)."""
    made = {}
    for name, until in (("probationary", "oath_taken"), ("voted", "admission_voted"),
                        ("activist", "cultivators_assigned")):
        made[name] = open_case(world)["id"]
        _drive(world, made[name], until)
    made["overdue_applicant"] = open_case(world, "sec2", "B2", "2025-03-01",
                                          {**PERSON, "name": "周末"})["id"]
    made["soon_applicant"] = open_case(world, "sec3", "B3", "2025-04-20",
                                       {**PERSON, "name": "吴月"})["id"]
    db.session.commit()
    return made


def _expected(world: Any, as_of: str) -> set[Key]:
    """Every alert due on `as_of`, from replaying every open case as it stood that day: never
    from the deadline rows the sweep and the alert list read."""
    from workflow import alerts
    from workflow.services.bulk import replay_cases
    day = date.fromisoformat(as_of)
    open_cases = db.session.execute(sa.select(Case).where(
        Case.stage.in_(alerting.OPEN_STAGES))).scalars().all()
    return {(case_id, d.rule, d.due_on.isoformat(), level)
            for case_id, r in replay_cases(open_cases, day).items()
            for d in r.deadlines if (level := alerts.level(d, day))}


def _listed(world: Any, as_of: str) -> set[Key]:
    """GET /api/v1/alerts over both committees."""
    items = []
    for who in ("org", "org2"):
        r = world.get(who, f"/api/v1/alerts?as_of={as_of}")
        assert r.status_code == 200, r.json
        items += r.json["items"]
    return {(i["case_id"], i["rule"], i["due_on"], i["level"]) for i in items}


def _outbox() -> list[Notification]:
    db.session.commit()  # end the read snapshot: other processes write these rows
    return list(db.session.execute(sa.select(Notification).order_by(Notification.id)).scalars())


def _keys(rows: list[Notification]) -> set[Key]:
    return {(n.case_id, n.rule, n.due_on.isoformat(), n.level) for n in rows}


def wait_for(what: str, check: Callable[[], Any], every: float = 0.05,
             log: Worker | None = None) -> Any:
    """probes.wait_for, with the worker's log in the message of a run that hangs."""
    return probes.wait_for(what, check, every,
                           context=(lambda: f"worker log:\n{log.output()}") if log else None)


# --- processes: a broker, a worker ----------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=HANG_GUARD)


@dataclass
class Broker:
    kind: str
    url: str
    results: str

    def client(self) -> Celery:
        """A Celery app in the test process that only sends tasks and reads results."""
        return Celery("alerts-test-client", set_as_current=False, config_source=celery_settings(
            {"CELERY_BROKER_URL": self.url, "CELERY_RESULT_BACKEND": self.results,
             "CELERY_BROKER_TRANSPORT_OPTIONS": {"polling_interval": 0.1}}))


@pytest.fixture(params=["sqla", "redis"])
def broker(request, tmp_path) -> Iterator[Broker]:
    if request.param == "sqla":
        yield Broker("sqla", f"sqla+sqlite:///{tmp_path / 'broker.db'}",
                     f"db+sqlite:///{tmp_path / 'results.db'}")
        return
    with redis_server(tmp_path) as redis_broker:
        yield redis_broker


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[Broker]:
    """A throwaway redis-server on a free port (the test is skipped where none is installed)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for("redis-server", lambda: _redis_up(port))
        yield Broker("redis", f"redis://127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/1")
    finally:
        _kill(proc)


def _redis_up(port: int) -> bool:
    import redis
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


class Worker:
    """`celery worker` in a subprocess on the test database; `settings` go to its config.py.
    The Procfile's solo worker, or with `concurrency` a process pool of that size (how
    docs/operations.md scales one host). With `probes`, it runs under tests/integration/
    probes.py, so that the test can stop it at a known point."""

    def __init__(self, broker: Broker, folder: Path, *, concurrency: int = 0,
                 probes: Probes | None = None, **settings: Any) -> None:
        self.broker, self.folder, self.settings = broker, folder, settings
        self.probes = probes
        self.pool = ["--pool=prefork", f"--concurrency={concurrency}"] if concurrency else \
            ["--pool=solo", "--concurrency=1"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / f"worker-{uuid.uuid4().hex[:6]}.log"

    def start(self) -> Worker:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = {"ALERT_DELIVERY_BACKOFF": 0.2, "ALERT_DELIVERY_BACKOFF_MAX": 1.0,
                  "CELERY_BROKER_TRANSPORT_OPTIONS": {"polling_interval": 0.1}, **self.settings}
        (self.folder / "config.py").write_text(
            "".join(f"{k} = {v!r}\n" for k, v in config.items()), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "CELERY_"))}
        env.update(DATABASE_URL=db.engine.url.render_as_string(hide_password=False),
                   INSTANCE_PATH=str(self.folder), APP_ENV="testing",
                   CELERY_BROKER_URL=self.broker.url, CELERY_RESULT_BACKEND=self.broker.results)
        program = [sys.executable, "-m", "celery"]
        if self.probes is not None:
            env.update(self.probes.env())
            program = [*PROBED, "celery"]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*program, "-A", "tasks.worker", "worker", *self.pool,
                 "--loglevel=info", "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "-n", f"{self.log.stem}@%h"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def kill(self) -> None:
        if self.proc is not None:
            _kill(self.proc)

    def alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the worker exited:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]


@pytest.fixture
def workers(tmp_path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        yield started
    finally:
        for w in started:
            w.kill()


def _start(workers: list[Worker], broker: Broker, folder: Path, **settings: Any) -> Worker:
    worker = Worker(broker, folder, **settings)
    workers.append(worker)
    return worker.start()


def _sweep(client: Celery, worker: Worker, as_of: str) -> dict[str, Any]:
    async_result = client.send_task("tasks.sweep", args=[as_of])

    def finished() -> bool:
        worker.alive()
        return bool(async_result.ready())
    try:
        wait_for("the sweep", finished, every=0.1)
        result: dict[str, Any] = async_result.get(timeout=5)
    except Exception as exc:
        raise AssertionError(f"sweep failed: {exc!r}\n{worker.output()}") from exc
    return result


def _all_delivered() -> bool:
    rows = _outbox()
    return bool(rows) and all(n.delivered_at is not None for n in rows)


# --- with a real worker ---------------------------------------------------------------------

def test_sweep_with_a_real_worker_is_exact_and_idempotent(world, cases, broker, workers, tmp_path):
    expected = _expected(world, AS_OF)
    assert (cases["soon_applicant"], "interview_within_one_month", "2025-05-20", "before_7") \
        in expected
    assert any(k[0] == cases["probationary"] and k[1] == "conversion_vote_not_early"
               for k in expected)
    client = broker.client()
    worker = _start(workers, broker, tmp_path / "w1")
    first = _sweep(client, worker, AS_OF)
    rows = _outbox()
    assert _keys(rows) == expected and len(rows) == len(expected)
    assert first["created"] == len(expected)
    second = _sweep(client, worker, AS_OF)
    assert second["created"] == 0 and second["refreshed"] == 0
    assert len(_outbox()) == len(expected)
    wait_for("every alert delivered", _all_delivered, log=worker)
    assert "alert notification-" in worker.output()  # the console channel (no MAIL_SERVER)
    assert "SADeprecationWarning" not in worker.output()
    escalated = [n for n in _outbox() if n.escalated_to_id is not None]
    assert escalated and all(n.level.startswith("overdue") and n.responsible == "branch"
                             for n in escalated)
    if broker.kind == "sqla":
        _check_broker_cleanup(client, tmp_path / "broker.db", worker)


def _check_broker_cleanup(client: Celery, path: Path, worker: Worker) -> None:
    def taken() -> int:
        with sqlite3.connect(path) as conn:
            return int(conn.execute("select count(*) from kombu_message where visible = 0")
                       .fetchone()[0])
    assert taken() > 0  # kombu leaves every delivered message behind
    client.send_task("tasks.cleanup_broker", kwargs={"older_than_seconds": 0})
    wait_for("delivered broker messages deleted", lambda: taken() == 0, log=worker)


def _deadline_rows() -> list[tuple[Any, ...]]:
    db.session.commit()  # a fresh snapshot: the worker writes these rows
    d = DeadlineRow
    return sorted(tuple(r) for r in db.session.execute(
        sa.select(d.case_id, d.rule, d.kind, d.due_on, d.met, d.met_on, d.org_id)))


def _stale_sets() -> set[int]:
    db.session.commit()
    return set(db.session.execute(sa.select(DeadlineSet.case_id).where(
        DeadlineSet.complete_until == date.min)).scalars())


def test_a_rule_change_marks_its_subtree_stale_and_the_beat_task_rebuilds_it(
        world, cases, broker, workers, tmp_path):
    """The admin's request only marks the rows stale (a full rebuild outlasts a web timeout at
    scale); a real worker running the beat task brings them to exactly a fresh rebuild."""
    from workflow.services.directory import admin
    from workflow.services import directory
    alerting.refresh_all_deadlines()
    before = _deadline_rows()
    admin.add_setting(directory.user_by_name("admin"), "C", "activist_assessment_months", 3,
                      "2020-01-01")
    under_c = {cases[k] for k in ("probationary", "voted", "activist", "overdue_applicant")}
    assert _stale_sets() == under_c  # B3 (committee C2) is not reached by C's setting
    assert _deadline_rows() == before  # nothing was replayed in the request
    worker = _start(workers, broker, tmp_path / "w")
    result = broker.client().send_task("tasks.rebuild_stale_deadlines")
    wait_for("the rebuild", lambda: result.ready(), every=0.1, log=worker)
    assert result.get(timeout=5) == len(under_c)
    rebuilt = _deadline_rows()
    assert _stale_sets() == set()
    alerting.refresh_all_deadlines()  # the reference: every case rebuilt in this process
    assert rebuilt == _deadline_rows() != before  # the activist's assessments moved


def test_killing_the_worker_mid_sweep_loses_and_duplicates_nothing(world, cases, broker,
                                                                    workers, tmp_path):
    expected = _expected(world, AS_OF)
    client = broker.client()
    # one case per commit; the worker stops right after its first commit of alerts and is
    # killed there, between two commits (probes.py)
    points = Probes(tmp_path / "probes")
    points.arm("first-alerts", "after_commit", "notifications")
    slow = _start(workers, broker, tmp_path / "slow", probes=points, ALERT_SWEEP_CHUNK=1)
    client.send_task("tasks.sweep", args=[AS_OF])
    points.reached("first-alerts", alive=slow.alive, context=slow.output)
    slow.kill()  # SIGKILL: no warm shutdown, no chance to finish the case in hand
    partial = _outbox()
    assert 0 < len(partial) < len(expected)
    assert _keys(partial) <= expected
    worker = _start(workers, broker, tmp_path / "again")
    rerun = _sweep(client, worker, AS_OF)
    rows = _outbox()
    assert _keys(rows) == expected and len(rows) == len(expected)
    assert rerun["created"] == len(expected) - len(partial)
    wait_for("every alert delivered", _all_delivered, log=worker)


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                self.server.received.append(data)  # type: ignore[attr-defined]
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_failed_email_is_retried_with_backoff_and_never_lost(world, cases, workers, tmp_path):
    for user in db.session.execute(sa.select(User)).scalars():
        user.email = f"{user.username}@example.org"
    db.session.commit()
    port = free_port()
    sqla = Broker("sqla", f"sqla+sqlite:///{tmp_path / 'broker.db'}",
                  f"db+sqlite:///{tmp_path / 'results.db'}")
    client = sqla.client()
    worker = _start(workers, sqla, tmp_path / "mail", MAIL_SERVER="127.0.0.1", MAIL_PORT=port,
                    MAIL_DEFAULT_SENDER="alerts@example.org", ALERT_DELIVERY_MAX_RETRIES=100)
    _sweep(client, worker, AS_OF)

    def failing_twice() -> bool:
        rows = _outbox()
        return bool(rows) and all(n.attempts >= 2 and n.delivered_at is None and "smtp" in (n.last_error or "")
                   for n in rows)
    wait_for("two failed attempts on every row", failing_twice, log=worker)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), _SMTPHandler)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        wait_for("delivery once the mail server is up", _all_delivered, log=worker)
    finally:
        server.shutdown()
        server.server_close()
    rows = _outbox()
    assert all(n.last_error is None and n.attempts >= 3 for n in rows)
    log = worker.log.read_text(encoding="utf-8", errors="replace")
    assert "Retry in 0.2s" in log and "Retry in 0.4s" in log  # base 0.2 s, doubling
    mails = [email.message_from_bytes(m, policy=email.policy.default)
             for m in server.received]  # type: ignore[attr-defined]
    assert len(mails) == len(rows)  # one e-mail per row: no row sent twice
    to_b1 = [m for m in mails if "sec1@example.org" in m["To"]]
    assert to_b1 and all("【发展党员提醒】" in m["Subject"] for m in to_b1)
    assert "到期日" in to_b1[0].get_content()


# --- in the test process ---------------------------------------------------------------------

@pytest.mark.parametrize("as_of", [AS_OF, "2025-06-20", "2024-11-30", "2023-10-20"])
def test_api_alert_list_agrees_with_the_sweep(world, cases, as_of):
    """Including days before some cases' latest step, where the sweep replays those cases."""
    summary = alerting.scan(date.fromisoformat(as_of))
    assert _keys(_outbox()) == _expected(world, as_of)
    assert summary["created"] == len(_outbox())


@pytest.mark.parametrize("as_of", [AS_OF, "2025-06-20", "2024-11-30", "2023-10-20"])
def test_api_alert_list_agrees_with_replaying_every_case(world, cases, as_of):
    """Before any sweep (rows from the writes), and on days before some cases' latest step,
    where the list replays those cases as they stood."""
    assert _listed(world, as_of) == _expected(world, as_of)
    alerting.scan(date.fromisoformat(as_of))
    assert _listed(world, as_of) == _expected(world, as_of)


def test_the_alert_list_reads_the_rows_and_replays_only_cases_it_cannot_trust(world, cases,
                                                                               monkeypatch):
    from workflow.services import bulk
    alerting.scan(date.fromisoformat("2025-05-01"))  # rows built, the backfill recorded
    replayed: list[int] = []
    real = bulk.replay_cases
    monkeypatch.setattr(bulk, "replay_cases", lambda rows, day: replayed.extend(
        r[0] if isinstance(r, tuple) else r.id for r in rows) or real(rows, day))
    listed = _listed(world, AS_OF)
    assert replayed == [] and listed == _expected(world, AS_OF)
    # deleting a case's rows silences it in the list: the list really reads the rows
    soon = cases["soon_applicant"]
    assert soon in {k[0] for k in _listed(world, AS_OF)}
    db.session.execute(sa.delete(DeadlineRow).where(DeadlineRow.case_id == soon))
    db.session.commit()
    assert soon not in {k[0] for k in _listed(world, AS_OF)}
    # a rule or holiday change marks the rows stale: those cases are replayed until rebuilt
    alerting.invalidate_deadlines()
    db.session.commit()
    replayed.clear()
    listed = _listed(world, AS_OF)
    assert sorted(set(replayed)) == sorted(cases.values())
    assert listed == _expected(world, AS_OF)


def test_the_sweep_reads_deadline_rows_and_replays_no_case(world, cases, monkeypatch):
    alerting.scan(date.fromisoformat("2025-05-01"))  # the first sweep builds the rows
    calls = []
    # a full replay (the sweep's fallback), or the fold a rebuild uses
    for module, name in ((sweep, "replay"), (deadline_rows, "fold")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, _real=real, **k: calls.append(1) or _real(*a, **k))
    summary = alerting.scan(date.fromisoformat(AS_OF))
    assert calls == [] and summary["refreshed"] == 0
    assert _keys(_outbox()) >= _expected(world, AS_OF)
    # deleting a case's rows silences it: the sweep really reads the rows
    soon = cases["soon_applicant"]
    db.session.execute(sa.delete(DeadlineRow).where(DeadlineRow.case_id == soon))
    db.session.execute(sa.delete(Notification))
    db.session.commit()
    alerting.scan(date.fromisoformat(AS_OF))
    assert soon not in {n.case_id for n in _outbox()}


def test_a_sweep_that_read_the_outbox_before_another_wrote_it_adds_nothing_twice(
        world, cases, monkeypatch):
    """Two sweeps at once: each reads the outbox keys first, so one can find missing what the
    other has written since. Its insert must skip those rows and count only its own (the
    unique key and the insert's ON CONFLICT DO NOTHING: on PostgreSQL the staging table's
    INSERT … SELECT)."""
    day = date.fromisoformat(AS_OF)
    alerting.scan(day)
    before = _outbox()
    assert _keys(before) == _expected(world, AS_OF)
    # one case's alerts are missing; the other cases' are there, unknown to this sweep
    gone = cases["probationary"]
    missing = [n.id for n in before if n.case_id == gone]
    assert missing and len(missing) < len(before)
    db.session.execute(sa.delete(Notification).where(Notification.id.in_(missing)))
    db.session.commit()
    monkeypatch.setattr(sweep, "_outbox_keys", lambda due: set())  # read before the other wrote
    summary = alerting.scan(day, chunk=2)  # some chunks all written, some with the gone case
    assert summary["created"] == len(missing)
    after = _outbox()
    assert _keys(after) == _keys(before) and len(after) == len(before)
    kept = {n.id for n in before} - set(missing)
    assert kept <= {n.id for n in after}  # the other sweep's rows untouched
    # the conflict skipped is the unique key's only: an alert of no case still fails
    first = before[0]
    row = sweep._alert(sweep.CaseRef(10**9, first.org_id, "x"), first.rule, first.kind, day,
                       sweep.Responsible.BRANCH, first.org_id, "overdue", day, first.org_id,
                       first.created_at)
    with pytest.raises(sa.exc.IntegrityError) as raised:
        sweep._insert([row])  # no such case: the outbox's foreign key
    assert "foreign key" in str(raised.value).lower()
    db.session.rollback()
    assert len(_outbox()) == len(after)


def test_refresh_deadlines_follows_the_history(world, cases):
    case = db.session.get(Case, cases["soon_applicant"])
    alerting.refresh_deadlines(case)
    db.session.commit()

    def interview() -> DeadlineRow:
        return db.session.execute(sa.select(DeadlineRow).filter_by(
            case_id=case.id, kind="interview_due")).scalar_one()
    assert not interview().met and interview().due_on == date(2025, 5, 20)
    r = post_step(world, case.id, "applicant_interviewed", "2025-05-10", {"interviewer": "张伟"},
                  who="sec3")
    assert r.status_code == 201, r.json
    alerting.refresh_deadlines(db.session.get(Case, case.id))  # what cases.py calls on write
    db.session.commit()
    assert interview().met and interview().met_on == date(2025, 5, 10)
    alerting.scan(date.fromisoformat(AS_OF))
    assert case.id not in {n.case_id for n in _outbox()}


def test_refreshing_a_case_keeps_one_row_per_deadline(world, cases):
    case = db.session.get(Case, cases["probationary"])
    first = alerting.refresh_deadlines(case)
    second = alerting.refresh_deadlines(case)
    db.session.commit()
    rows = db.session.execute(sa.select(DeadlineRow).filter_by(case_id=case.id)).scalars().all()
    assert first == second == len(rows) > 0
    assert len({(d.rule, d.kind, d.due_on) for d in rows}) == len(rows)


def test_inbox_shows_own_and_escalated_alerts_with_per_user_read_marks(world, cases):
    alerting.scan(date.fromisoformat(AS_OF))
    users = {u.username: u for u in db.session.execute(sa.select(User)).scalars()}
    sec1, sec2, org = users["sec1"], users["sec2"], users["org"]
    b1 = inapp.inbox(sec1)
    assert b1 and {i["case_id"] for i in b1} <= {cases["probationary"], cases["voted"],
                                                 cases["activist"]}
    assert all(i["case_id"] != cases["overdue_applicant"] for i in b1)
    committee = inapp.inbox(org)
    assert any(i["escalated"] and i["case_id"] == cases["overdue_applicant"] for i in committee)
    assert any(i["responsible"] == "committee" and not i["escalated"] for i in committee)
    assert all(i["case_id"] != cases["soon_applicant"] for i in committee)  # other committee
    assert inapp.unread_count(sec1) == len(b1)
    foreign = inapp.inbox(sec2)[0]["id"]
    assert inapp.mark_read(sec1, [b1[0]["id"], foreign]) == 1  # not one's own: ignored
    assert inapp.unread_count(sec1) == len(b1) - 1
    assert inapp.unread_count(org) == len(committee)  # reads are per user
    assert [i["id"] for i in inapp.inbox(sec1, unread_only=True)] == \
        [i["id"] for i in b1 if i["id"] != b1[0]["id"]]
    assert inapp.mark_read(sec1) == len(b1) - 1 and inapp.unread_count(sec1) == 0


class _Failing(Notifier):
    name = "failing"

    def send(self, message: Message) -> None:
        raise DeliveryError("mail server down")


class _Collecting(Notifier):
    name = "collecting"

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.sent.append(message)


def test_delivery_records_failures_and_sets_delivered_only_on_success(world, cases):
    alerting.scan(date.fromisoformat(AS_OF))
    row = _outbox()[0]
    with pytest.raises(DeliveryError):
        delivery.deliver(row.id, [_Failing()])
    failed = _outbox()[0]
    assert (failed.delivered_at, failed.attempts, failed.claimed_until) == (None, 1, None)
    assert "mail server down" in failed.last_error
    assert row.id in delivery.undelivered()
    channel = _Collecting()
    assert delivery.deliver(row.id, [channel]) == "delivered"
    assert delivery.deliver(row.id, [channel]) == "skipped"
    assert len(channel.sent) == 1 and channel.sent[0].template == "alert"
    assert {r.username for r in channel.sent[0].recipients} >= {"sec1"}
    done = _outbox()[0]
    assert done.delivered_at is not None and done.attempts == 2 and done.last_error is None
    assert row.id not in delivery.undelivered()


# --- the embedded broker's fixes, in process ------------------------------------------------

def test_embedded_broker_honours_polling_interval_and_stays_quiet(tmp_path):
    settings = celery_settings({"CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'b.db'}",
                                "CELERY_BROKER_TRANSPORT_OPTIONS": {"polling_interval": 0.25},
                                "CELERY_BEAT_SCHEDULE": {"s": {"task": "t",
                                                               "schedule": "30 6 * * *"}}})
    assert settings["broker_transport"] == "tasks.broker:Transport"
    assert settings["beat_schedule"]["s"]["schedule"].hour == {6}
    app = Celery("broker-test", set_as_current=False, config_source=settings)
    before = list(warnings.filters)
    with app.connection_for_write() as conn:  # warnings are errors here: the noload one too
        assert conn.transport.polling_interval == 0.25
        queue = conn.SimpleQueue("probe")
        queue.put({"n": 1})
        message = queue.get(timeout=HANG_GUARD)
        assert message.payload == {"n": 1}
        message.ack()
        queue.close()
    assert warnings.filters == before  # silenced where kombu's models are set up, not globally


def test_rederive_can_find_and_fix_stale_deadline_rows(world, cases):
    alerting.refresh_all_deadlines()
    assert alerting.stale_deadline_cases() == []
    soon, voted = cases["soon_applicant"], cases["voted"]
    db.session.execute(sa.delete(DeadlineRow).where(DeadlineRow.case_id == soon))
    db.session.execute(sa.delete(DeadlineSet).where(DeadlineSet.case_id == soon))  # missing
    db.session.execute(sa.update(Case).where(Case.id == voted)  # changed behind the rows' back
                       .values(version=Case.version + 1))
    db.session.commit()
    assert alerting.stale_deadline_cases() == sorted([soon, voted])
    alerting.refresh_all_deadlines()
    assert alerting.stale_deadline_cases() == []
