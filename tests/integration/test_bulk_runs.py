"""Bulk runs (services/bulk_runs.py): the rebuild of every case's deadline rows and findings as
chunks on real Celery workers, a worker killed mid-chunk, every case rebuilt exactly once; the
same run in-process without a worker; the verify run.

The reference rows come from a rebuild in the test process (`refresh_all_deadlines`, which runs
the same chunks here): what a worker writes must equal it. The workers are those of
tests/integration/test_alerts_worker.py (a subprocess on the test database, on the embedded
SQLAlchemy broker and on Redis); the kill is at a probe point (tests/integration/probes.py):
the worker holds inside a chunk's write transaction, before its COMMIT, and is SIGKILLed there.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from celery import Celery, group

from tests.integration.probes import Probes
from tests.integration.test_alerts_worker import (  # noqa: F401  (fixtures)
    Broker,
    _start,
    broker,
    cases,
    wait_for,
    workers,
)
from workflow.persistence.db import db
from workflow.persistence.models import (
    BulkChunk,
    BulkRun,
    DeadlineBackfill,
    DeadlineRow,
    DeadlineSet,
)
from workflow.services import alerts as alerting
from workflow.services import bulk_runs

pytestmark = pytest.mark.db


def _rows() -> list[tuple[Any, ...]]:
    db.session.commit()  # a fresh snapshot: a worker writes these rows
    d = DeadlineRow
    return sorted(tuple(r) for r in db.session.execute(
        sa.select(d.case_id, d.rule, d.kind, d.due_on, d.responsible, d.org_id, d.met,
                  d.met_on)))


def _sets() -> list[tuple[Any, ...]]:
    """Every set as a rebuild leaves it, without the moment it was written."""
    db.session.commit()
    s = DeadlineSet
    return sorted((r[0], *r[1:-1], repr(r[-1])) for r in db.session.execute(
        sa.select(s.case_id, s.case_version, s.complete_until, s.known_on, s.findings_from,
                  s.chain_length, s.findings_version, s.findings)))


def _stamps() -> dict[int, datetime]:
    db.session.commit()
    return {i: t for i, t in db.session.execute(
        sa.select(DeadlineSet.case_id, DeadlineSet.refreshed_at))}


def _chunks(run_id: int) -> list[BulkChunk]:
    db.session.commit()
    return list(db.session.execute(sa.select(BulkChunk).where(BulkChunk.run_id == run_id)
                                   .order_by(BulkChunk.seq)).scalars())


def _forget_rebuilds() -> None:
    """No rows, no sets, no rebuild recorded: what the run must write from nothing."""
    for model in (DeadlineRow, DeadlineSet, DeadlineBackfill):
        db.session.execute(sa.delete(model))
    db.session.commit()


def _sender(client: Celery) -> bulk_runs.Sender:
    def send(run_id: int, seqs: list[int]) -> None:
        group(client.signature("tasks.bulk_chunk", args=(run_id, seq), immutable=True)
              for seq in seqs).apply_async()
    return send


def test_a_worker_killed_mid_rebuild_leaves_every_case_rebuilt_exactly_once(
        world, cases, broker: Broker, workers, tmp_path):
    alerting.refresh_all_deadlines()  # the reference, in this process
    rows, sets = _rows(), _sets()
    assert rows and len(sets) == len(cases)
    _forget_rebuilds()
    points = Probes(tmp_path / "probes")
    # the second chunk's write transaction (it upserts the sets, deletes and inserts the
    # rows) holds before its COMMIT
    points.arm("mid-chunk", "commit", "deadline_sets", nth=2)
    first = _start(workers, broker, tmp_path / "first", probes=points)
    send = _sender(broker.client())
    run_id = bulk_runs.plan("rebuild", {"today": None}, size=1)  # a chunk per case
    bulk_runs.execute(run_id, send=send, wait=False)
    held = points.reached("mid-chunk", alive=first.alive, context=first.output)
    first.kill()  # SIGKILL, inside the chunk's write transaction
    before = _chunks(run_id)
    done_before = {c.seq for c in before if c.done_at is not None}
    killed = [c for c in before if c.done_at is None and c.attempts == 1]
    assert 1 <= len(done_before) < len(cases), held
    assert len(killed) == 1  # started, written, not committed: nothing of it is left
    early = {c.first_id for c in before if c.seq in done_before}
    stamps = _stamps()
    assert set(stamps) >= early
    assert {s[0] for s in _sets()} == early  # the killed chunk's writes were never committed
    second = _start(workers, broker, tmp_path / "second")
    # the embedded broker never redelivers what a dead worker took: a coordinator sends the
    # undone chunks again (`flask bulk resume`, the beat task, a waiting `rederive --fix`)
    bulk_runs.resume_all(send, lease=0)

    def finished() -> bool:
        second.alive()
        return bulk_runs.status(run_id).finished_at is not None
    wait_for("the run finished", finished, every=0.1, log=second)
    after = _chunks(run_id)
    assert all(c.done_at is not None and c.cases == 1 for c in after)
    # the killed chunk ran twice and committed once; every other chunk ran once
    assert sorted(c.attempts for c in after) == [1] * (len(cases) - 1) + [2]
    assert next(c for c in after if c.seq == killed[0].seq).attempts == 2
    # the chunks done before the kill were not rebuilt again: their sets keep their stamp
    now = _stamps()
    assert {i: now[i] for i in early} == {i: stamps[i] for i in early}
    assert all(now[i] > max(stamps.values()) for i in now if i not in early)
    assert _rows() == rows and _sets() == sets  # exactly what a rebuild here wrote
    db.session.commit()
    assert db.session.execute(sa.select(sa.func.count()).select_from(DeadlineBackfill)
                              ).scalar() == 1
    run = db.session.get(BulkRun, run_id)
    assert run is not None and run.finished_at is not None


def test_without_a_worker_the_chunks_run_here_and_a_done_chunk_writes_nothing(world, cases):
    alerting.refresh_all_deadlines()
    rows, sets = _rows(), _sets()
    _forget_rebuilds()
    runner = world.client.application.test_cli_runner()
    r = runner.invoke(args=["rederive", "--fix"])
    assert r.exit_code == 0, r.output
    run = db.session.execute(sa.select(BulkRun).order_by(BulkRun.id.desc())).scalars().first()
    assert run is not None and run.kind == "rebuild" and run.finished_at is not None
    assert f"rebuild: run {run.id} done" in r.output
    assert _rows() == rows and _sets() == sets
    chunks = _chunks(run.id)
    assert all(c.done_at is not None and c.attempts == 1 for c in chunks)
    stamps = _stamps()
    assert bulk_runs.run_chunk(run.id, 0) == "skipped"  # a redelivery of a done chunk
    assert _stamps() == stamps and _rows() == rows
    assert _chunks(run.id)[0].attempts == 1
    status = runner.invoke(args=["bulk", "status", str(run.id)])
    n = len(chunks)
    assert f"run {run.id} rebuild: {n}/{n} chunks" in status.output
    # a rebuild run, or no run at all, is not a verify report: one line, no traceback
    wrong = runner.invoke(args=["verify", "--run", str(run.id)])
    assert wrong.exit_code != 0 and "not a verify run" in wrong.output, wrong.output
    missing = runner.invoke(args=["verify", "--run", str(run.id + 1000)])
    assert missing.exit_code != 0 and "no bulk run" in missing.output, missing.output
    assert "Traceback" not in wrong.output + missing.output


def test_a_rebuild_rewrites_only_the_rows_that_differ_from_the_derivation(world, cases):
    """A rebuild compares each case's derived rows with those stored and rewrites only the
    cases that differ (a row missing, a row changed, a row too many); a rerun writes no row."""
    alerting.refresh_all_deadlines()
    want = _rows()
    d = DeadlineRow.__table__
    ids = _row_ids()
    missing, changed, extra = cases["probationary"], cases["voted"], cases["activist"]
    db.session.execute(sa.delete(d).where(d.c.id == min(ids[missing])))
    db.session.execute(sa.update(d).where(d.c.id == min(ids[changed]))
                       .values(due_on=date(2030, 1, 1)))
    branch = db.session.execute(sa.select(d.c.org_id).where(d.c.case_id == extra)).scalar()
    db.session.execute(sa.insert(d).values(case_id=extra, rule="r", kind="k",
                                           due_on=date(2030, 1, 1), responsible="branch",
                                           org_id=branch, met=False))
    db.session.commit()
    written: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        # the rows' DELETE: the INSERT after it goes by COPY on PostgreSQL, past this event
        if statement.lstrip().upper().startswith(("INSERT INTO DEADLINES",
                                                  "DELETE FROM DEADLINES")):
            written.append(statement)
    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        alerting.refresh_all_deadlines()
        assert _rows() == want
        after = _row_ids()
        assert {c for c in ids if after.get(c) != ids[c]} == {missing, changed, extra}
        assert written, "the three cases' rows were rewritten"
        written.clear()
        alerting.refresh_all_deadlines()  # nothing differs now
        assert written == [] and _rows() == want and _row_ids() == after
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)


def _row_ids() -> dict[int, list[int]]:
    db.session.commit()
    found: dict[int, list[int]] = {}
    for case_id, row_id in db.session.execute(sa.select(DeadlineRow.case_id, DeadlineRow.id)
                                              .order_by(DeadlineRow.id)):
        found.setdefault(case_id, []).append(row_id)
    return found


def test_a_chunk_that_keeps_failing_is_not_sent_again_by_beat(world, cases):
    run_id = bulk_runs.plan("rebuild", {"today": None}, size=2)
    chunk = _chunks(run_id)[0]
    db.session.execute(sa.update(BulkChunk).where(
        BulkChunk.run_id == run_id, BulkChunk.seq == chunk.seq).values(
        attempts=bulk_runs.MAX_ATTEMPTS, started_at=chunk.started_at, failed_at=sa.func.now(),
        error="boom"))
    db.session.commit()
    sent: list[int] = []
    again = bulk_runs.resend_stalled(run_id, lambda rid, seqs: sent.extend(seqs), lease=0,
                                     give_up=True)
    assert chunk.seq not in again and chunk.seq not in sent
    assert bulk_runs.resend_stalled(run_id, lambda rid, seqs: None, lease=0)  # by hand: yes


def test_a_run_resumes_with_its_undone_chunks(world, cases):
    alerting.refresh_all_deadlines()
    rows = _rows()
    _forget_rebuilds()
    run_id = bulk_runs.plan("rebuild", {"today": None}, size=2)
    assert bulk_runs.run_chunk(run_id, 1) == "done"  # one chunk; then the machine died
    stamps = _stamps()
    assert bulk_runs.status(run_id).done == 1 and bulk_runs.status(run_id).finished_at is None
    bulk_runs.execute(run_id)  # resumed here
    assert bulk_runs.status(run_id).finished_at is not None
    chunk = _chunks(run_id)[1]
    assert chunk.attempts == 1
    assert {i: _stamps()[i] for i in stamps if chunk.first_id <= i <= chunk.last_id} == \
        {i: t for i, t in stamps.items() if chunk.first_id <= i <= chunk.last_id}
    assert _rows() == rows


def test_a_large_report_is_made_by_the_workers_and_equals_the_table_made_here(
        world, cases, broker: Broker, workers, tmp_path, ctx, monkeypatch):
    from tests.integration.probes import HANG_GUARD
    from tests.integration.test_reports import actor
    from workflow.services import reports
    from workflow.services.reports import statistics
    org, as_of = actor("org"), date(2026, 1, 15)
    alerting.invalidate_deadlines()  # after a rule change every case is replayed
    db.session.commit()
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 1)
    alone = reports.committee_table(org, None, 2025, as_of, "total", "desc")
    counted = statistics.annual(org, None, 2025, as_of)
    assert {r["org"] for r in alone["rows"]} == {"B1", "B2"}
    before = db.session.execute(sa.select(sa.func.max(BulkRun.id))).scalar() or 0
    # from one case to replay, a report is a run; the waiting caller never does it itself
    monkeypatch.setitem(ctx.config, "REPORT_PARALLEL_MIN_CASES", 1)
    monkeypatch.setitem(ctx.config, "BULK_CHUNK_CASES", 1)
    monkeypatch.setitem(ctx.config, "BULK_WORKER_WAIT", HANG_GUARD)
    _start(workers, broker, tmp_path / "worker")

    def not_here(run_id: int, seq: int) -> str:
        raise AssertionError(f"chunk {seq} of run {run_id} ran in the waiting caller")
    monkeypatch.setattr(bulk_runs, "run_chunk", not_here)
    with bulk_runs.using(_sender(broker.client())):
        made = reports.committee_table(org, None, 2025, as_of, "total", "desc")
        assert statistics.annual(org, None, 2025, as_of) == counted
    assert made == alone
    runs = db.session.execute(sa.select(BulkRun).where(BulkRun.id > before)
                              .order_by(BulkRun.id)).scalars().all()
    assert [r.kind for r in runs] == ["report", "report"]
    assert runs[0].params["task"] == "workflow.services.reports.tables:table_share"
    for run in runs:  # a share per branch, each chunk done once, its rows read and cleared
        chunks = _chunks(run.id)
        assert run.finished_at is not None and len(chunks) == 2
        assert all(c.done_at is not None and c.attempts == 1 and c.result is None
                   for c in chunks)


def test_a_large_run_done_here_is_spread_over_local_processes(world, cases, ctx, monkeypatch):
    """`rederive --fix --local` and `verify --local` from REPORT_PARALLEL_MIN_CASES cases: the
    chunks run in REPORT_PROCESSES local processes (services/bulk_local.py), none in the
    command's own process, and write what a rebuild here wrote."""
    alerting.refresh_all_deadlines()
    rows, sets = _rows(), _sets()
    _forget_rebuilds()
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 2)
    monkeypatch.setitem(ctx.config, "REPORT_PARALLEL_MIN_CASES", 1)
    monkeypatch.setitem(ctx.config, "BULK_CHUNK_CASES", 1)

    def not_here(run_id: int, seq: int) -> str:
        raise AssertionError(f"chunk {seq} of run {run_id} ran in the command's process")
    monkeypatch.setattr(bulk_runs, "run_chunk", not_here)
    from workflow.services import bulk_local
    watched: list[int] = []
    watch = bulk_local._watch

    def spy(run_id: int, progress: Any, stop: Any) -> Any:  # the command's bar is fed
        watched.append(run_id)
        return watch(run_id, progress, stop)
    monkeypatch.setattr(bulk_local, "_watch", spy)
    runner = world.client.application.test_cli_runner()
    fixed = runner.invoke(args=["rederive", "--fix", "--local"])
    assert fixed.exit_code == 0, fixed.output
    assert _rows() == rows and _sets() == sets
    # the run's `finished` hook ran (in whichever process did the last chunk)
    assert db.session.execute(sa.select(sa.func.count()).select_from(DeadlineBackfill)
                              ).scalar() == 1
    checked = runner.invoke(args=["verify", "--local"])
    assert checked.exit_code == 0, checked.output
    assert f"{len(cases)} case(s) checked, 0 broken" in checked.output
    db.session.commit()
    runs = db.session.execute(sa.select(BulkRun).order_by(BulkRun.id.desc()).limit(2)
                              ).scalars().all()
    assert sorted(r.kind for r in runs) == ["rebuild", "verify"]
    assert sorted(watched) == sorted(r.id for r in runs)
    for run in runs:
        chunks = _chunks(run.id)
        assert run.finished_at is not None and len(chunks) == len(cases)
        assert all(c.done_at is not None and c.attempts == 1 for c in chunks)


def test_the_local_processes_report_progress_while_they_work(world, cases):
    """The command line's bar during a local run: the watcher reads the done chunks from the
    table while the caller's thread waits for the processes."""
    import threading

    from tests.integration.probes import HANG_GUARD
    from workflow.services import bulk_local
    run_id = bulk_runs.plan("rebuild", {"today": None}, size=1)
    bulk_runs.run_chunk(run_id, 0)
    seen: list[tuple[int, int]] = []
    reported = threading.Event()

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        reported.set()
    stop = threading.Event()
    watcher = bulk_local._watch(run_id, progress, stop)
    try:
        assert reported.wait(HANG_GUARD)
    finally:
        stop.set()
        watcher.join()
    assert seen[0] == (1, len(cases))


def test_the_command_line_sends_runs_to_the_workers_by_default_only_off_the_embedded_broker(
        world, cases, ctx, monkeypatch):
    """The embedded default's one solo worker rebuilt and verified more slowly than the local
    processes (docs/performance.md, sixteenth round): there `rederive --fix`, `verify` and
    `bulk resume` run here unless told `--workers` (or BULK_ON_WORKERS); on any other broker
    they go to the workers unless told `--local`. The app's sender is asked only when the run
    is to go to the workers (here it answers "do it here": tasks run in the test process)."""
    import config
    asked: list[bool] = []

    def sender(app):
        asked.append(True)
        return None
    monkeypatch.setitem(ctx.extensions, "workflow.bulk_sender", sender)
    runner = world.client.application.test_cli_runner()

    def goes_to_workers(*args: str) -> bool:
        asked.clear()
        r = runner.invoke(args=list(args))
        assert r.exit_code == 0, r.output
        return asked == [True]
    monkeypatch.delenv("BULK_ON_WORKERS", raising=False)
    assert not hasattr(config.load("testing"), "BULK_ON_WORKERS")  # unset: from the broker
    monkeypatch.setenv("BULK_ON_WORKERS", "no")
    assert config.load("testing").BULK_ON_WORKERS is False
    monkeypatch.setenv("BULK_ON_WORKERS", "1")
    assert config.load("testing").BULK_ON_WORKERS is True
    monkeypatch.delitem(ctx.config, "BULK_ON_WORKERS", raising=False)
    monkeypatch.setitem(ctx.config, "CELERY_BROKER_URL", "sqla+sqlite:///instance/broker.db")
    assert not goes_to_workers("verify")
    assert not goes_to_workers("rederive", "--fix")
    assert goes_to_workers("verify", "--workers")
    assert goes_to_workers("rederive", "--fix", "--workers")
    assert goes_to_workers("verify", "--background")
    run_id = bulk_runs.plan("rebuild", {"today": None})
    assert not goes_to_workers("bulk", "resume", str(run_id))
    monkeypatch.setitem(ctx.config, "BULK_ON_WORKERS", True)
    assert goes_to_workers("verify")
    monkeypatch.setitem(ctx.config, "CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delitem(ctx.config, "BULK_ON_WORKERS")
    assert goes_to_workers("verify")
    assert goes_to_workers("rederive", "--fix")
    assert not goes_to_workers("verify", "--local")
    run_id = bulk_runs.plan("rebuild", {"today": None})
    assert goes_to_workers("bulk", "resume", str(run_id))
    monkeypatch.setitem(ctx.config, "BULK_ON_WORKERS", False)
    assert not goes_to_workers("rederive", "--fix")
    # here and there at once is refused before anything is planned
    runs, asked[:] = bulk_runs.runs(), []
    for args in (["verify", "--local", "--workers"], ["rederive", "--fix", "--local",
                                                      "--background"]):
        refused = runner.invoke(args=args)
        assert refused.exit_code == 2 and "--local runs here" in refused.output, refused.output
    assert bulk_runs.runs() == runs and asked == []
