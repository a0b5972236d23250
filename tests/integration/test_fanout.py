"""Reports as bulk runs (services/reports/fanout.py), done by the local executor: real report
processes on the test database, each running some of the run's chunks (a share of the branches
each), giving exactly what one process gives; the results read back from the chunk rows and
cleared. The same runs on a real Celery worker: tests/integration/test_bulk_runs.py."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.helpers import open_case
from tests.integration.probes import HANG_GUARD
from tests.integration.test_reports import _b2_case, actor, pin, three_cases  # noqa: F401
from workflow.persistence.db import db
from workflow.persistence.models import BulkChunk, BulkRun, Organisation
from workflow.services import alerts as alerting, bulk_local, bulk_runs, reports
from workflow.services.reports import fanout, statistics
from workflow.services.alerts import findings_store

pytestmark = pytest.mark.db


@fanout.share_task
def where_run(share: list[int], tag: str) -> list[list[Any]]:
    """A task for the workers (module level, marked: they find it by name; JSON-shaped)."""
    return [[os.getpid(), org_id, tag] for org_id in share]


@fanout.share_task
def refuse(share: list[int]) -> None:
    raise ValueError(f"no report for {share}")


def unmarked(share: list[int]) -> list[int]:
    return share


def _last_run() -> BulkRun:
    db.session.commit()
    run = db.session.execute(sa.select(BulkRun).order_by(BulkRun.id.desc())).scalars().first()
    assert run is not None
    return run


def _chunks(run_id: int) -> list[BulkChunk]:
    return list(db.session.execute(sa.select(BulkChunk).where(BulkChunk.run_id == run_id)
                                   .order_by(BulkChunk.seq)).scalars())


def _branch_ids() -> list[int]:
    return list(db.session.execute(db.select(Organisation.id).where(
        Organisation.kind == "branch").order_by(Organisation.id)).scalars())


@pytest.fixture
def two_processes(ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 2)
    monkeypatch.setitem(ctx.config, "REPORT_PARALLEL_MIN_CASES", 1)


def test_shares_run_in_separate_worker_processes_and_cover_every_branch_once(world, two_processes):
    open_case(world)
    _b2_case(world)
    ids = _branch_ids()
    results = fanout.over_branches(where_run, ids, "t")
    pids = {pid for share in results for pid, _, _ in share}
    assert len(results) == 2 and len(pids) == 2 and os.getpid() not in pids
    assert sorted(org_id for share in results for _, org_id, _ in share) == ids
    assert {tag for share in results for _, _, tag in share} == {"t"}
    # a finished run of two chunks, one share each, whose results were read and cleared
    run = _last_run()
    assert run.kind == "report" and run.finished_at is not None and run.chunks == 2
    assert run.params["task"] == "tests.integration.test_fanout:where_run"
    chunks = _chunks(run.id)
    assert sorted(i for c in chunks for i in c.params["branches"]) == ids
    assert all(c.done_at is not None and c.attempts == 1 and c.result is None for c in chunks)


def test_a_worker_failure_is_raised_in_the_caller_with_the_workers_traceback(world,
                                                                            two_processes):
    open_case(world)
    _b2_case(world)
    with pytest.raises(RuntimeError, match=r"(?s)bulk-share-\d failed:.*ValueError: no report"):
        fanout.over_branches(refuse, _branch_ids())
    # nobody waits for it any more: given up (finished, its chunks failed and never done)
    run = _last_run()
    assert run.kind == "report" and run.finished_at is not None
    chunks = _chunks(run.id)
    assert chunks and all(c.done_at is None and c.failed_at is not None for c in chunks)
    assert "no report" in " ".join(c.error or "" for c in chunks)
    assert bulk_runs.run_chunk(run.id, 0) == "skipped"  # a copy still queued writes nothing


def test_a_task_not_marked_for_the_workers_is_refused_before_any_run(world, two_processes):
    open_case(world)
    _b2_case(world)
    before = db.session.execute(sa.select(sa.func.count()).select_from(BulkRun)).scalar()
    with pytest.raises(ValueError, match="not marked share_task"):
        fanout.over_branches(unmarked, _branch_ids())
    assert db.session.execute(sa.select(sa.func.count()).select_from(BulkRun)).scalar() == before


def test_below_the_threshold_the_task_runs_in_the_calling_process(world, ctx, monkeypatch):
    open_case(world)
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 2)
    monkeypatch.setitem(ctx.config, "REPORT_PARALLEL_MIN_CASES", 2)  # one case on record
    ids = _branch_ids()
    # in the caller, without a run: the task's own JSON-shaped value
    assert fanout.over_branches(where_run, ids, "t") == [[[os.getpid(), i, "t"] for i in ids]]
    monkeypatch.setitem(ctx.config, "REPORT_PARALLEL_MIN_CASES", 1)
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 1)
    assert len(fanout.over_branches(where_run, ids, "t")) == 1


def test_a_second_report_while_one_runs_in_processes_runs_in_the_calling_process(
        world, two_processes):
    open_case(world)
    _b2_case(world)
    ids = _branch_ids()
    with bulk_local._RUNNING:  # another thread of this web worker runs a set of processes
        results = fanout.over_branches(where_run, ids, "t")
    # the same run, its chunks done one after another in this process
    assert len(results) == 2 and {pid for share in results for pid, _, _ in share} == {
        os.getpid()}
    assert sorted(org_id for share in results for _, org_id, _ in share) == ids
    assert _last_run().finished_at is not None
    assert {pid for share in fanout.over_branches(where_run, ids, "t")
            for pid, _, _ in share} - {os.getpid()}


def test_a_report_process_whose_caller_died_stops():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    code = f"from workflow.services.bulk_local import _orphaned; _orphaned({gone.pid})"
    orphan = subprocess.run([sys.executable, "-c", code], timeout=HANG_GUARD, check=False)
    assert orphan.returncode == 1


def test_the_committee_table_in_two_processes_equals_the_table_in_one(world, pin, ctx,
                                                                      monkeypatch):
    three_cases(world)
    org, as_of = actor("org"), date(2026, 1, 15)
    # after a rule change every case is replayed: the table processes have work to share
    alerting.invalidate_deadlines()
    db.session.commit()
    assert sum(findings_store.to_replay(_branch_ids(), as_of).values()) == 3  # every case
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 1)
    alone = reports.committee_table(org, None, 2024, as_of, "total", "desc")
    alone_2023 = reports.committee_table(org, None, 2023, as_of)
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 2)
    monkeypatch.setitem(ctx.config, "REPORT_PARALLEL_MIN_CASES", 1)
    assert reports.committee_table(org, None, 2024, as_of, "total", "desc") == alone
    assert reports.committee_table(org, None, 2023, as_of) == alone_2023
    # not two empty tables: both branches lost points in 2023 (B1 also for the moved case)
    assert {r["org"]: r["items"]["13"]["deductions"] > 0 for r in alone_2023["rows"]} == {
        "B1": True, "B2": True}
    assert reports.score_everything(as_of) == 3  # B1, B2 and the other committee's B3
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 1)
    counted = [statistics.annual(org, None, y, as_of) for y in (2023, 2024)]
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 2)
    assert [statistics.annual(org, None, y, as_of) for y in (2023, 2024)] == counted
    assert counted[0]["total"]["activists_designated"] > 0



def test_beat_never_sends_a_report_again_and_gives_up_one_whose_caller_is_gone(world):
    open_case(world)
    ids = _branch_ids()
    run_id = bulk_runs.plan_chunks(fanout.KIND, {"task": "tests.integration.test_fanout:where_run",
                                                 "args": ["t"]},
                                   [(i, i, {"branches": [i], "cases": 1}) for i in ids], len(ids))
    sent: list[tuple[int, list[int]]] = []

    def send(run: int, seqs: list[int]) -> None:
        sent.append((run, seqs))
    # just planned, its caller about to send it: beat leaves it alone
    assert bulk_runs.resume_all(send, lease=3600, beat=True) == {}
    assert not sent and all(c.failed_at is None for c in _chunks(run_id))
    # by hand neither: only the page that asked reads it
    runner = world.client.application.test_cli_runner()
    refused = runner.invoke(args=["bulk", "resume", str(run_id)])
    assert refused.exit_code != 0 and "is a report" in refused.output, refused.output
    assert all(c.attempts == 0 for c in _chunks(run_id))
    # nothing moved for twice the lease: the caller that would have sent it again is gone
    assert bulk_runs.resume_all(send, lease=0, beat=True) == {}
    assert not sent
    chunks = _chunks(run_id)
    assert all(c.failed_at is not None and c.done_at is None
               and "nobody waits" in (c.error or "") for c in chunks)
    assert _last_run().finished_at is not None  # given up: not listed as running for ever
    assert bulk_runs.run_chunk(run_id, 0) == "skipped"


def test_a_report_whose_chunks_the_workers_stop_taking_is_finished_by_its_caller(
        world, two_processes, ctx, monkeypatch):
    """The workers took one chunk and then none (busy with a rebuild): after BULK_WORKER_WAIT
    without a move the caller does the rest itself, and the table is whole."""
    open_case(world)
    _b2_case(world)
    ids = _branch_ids()
    monkeypatch.setitem(ctx.config, "BULK_WORKER_WAIT", 1.0)
    taken: list[int] = []

    def one_worker_then_none(run_id: int, seqs: list[int]) -> None:
        if not taken:  # the only chunk a worker ever takes, done at once
            taken.append(seqs[0])
            assert bulk_runs.run_chunk(run_id, seqs[0]) == "done"
    with bulk_runs.using(one_worker_then_none):
        results = fanout.over_branches(where_run, ids, "t")
    assert sorted(org_id for share in results for _, org_id, _ in share) == ids
    run = _last_run()
    assert run.finished_at is not None and len(taken) == 1
    assert all(c.done_at is not None and c.attempts == 1 for c in _chunks(run.id))


def test_reports_go_to_the_workers_by_default_only_off_the_embedded_broker(ctx, monkeypatch):
    """The embedded default's one solo worker made a replayed table slower than the page alone
    (docs/performance.md, ninth round): there a large report stays with the web worker. The
    broker is read from the app's configuration (environment or instance/config.py)."""
    import config
    monkeypatch.delenv("REPORT_ON_WORKERS", raising=False)
    assert not hasattr(config.load("testing"), "REPORT_ON_WORKERS")  # unset: from the broker
    monkeypatch.setenv("REPORT_ON_WORKERS", "0")
    assert config.load("testing").REPORT_ON_WORKERS is False
    monkeypatch.setenv("REPORT_ON_WORKERS", "yes")
    assert config.load("testing").REPORT_ON_WORKERS is True
    monkeypatch.delitem(ctx.config, "REPORT_ON_WORKERS", raising=False)
    monkeypatch.setitem(ctx.config, "CELERY_BROKER_URL", "sqla+sqlite:///instance/broker.db")
    assert fanout.on_workers() is False
    monkeypatch.setitem(ctx.config, "CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    assert fanout.on_workers() is True
    monkeypatch.setitem(ctx.config, "REPORT_ON_WORKERS", False)
    assert fanout.on_workers() is False
    monkeypatch.setitem(ctx.config, "CELERY_BROKER_URL", "sqla+sqlite:///instance/broker.db")
    monkeypatch.setitem(ctx.config, "REPORT_ON_WORKERS", True)
    assert fanout.on_workers() is True


def test_with_reports_off_the_workers_the_app_sender_is_not_asked(world, two_processes, ctx,
                                                                  monkeypatch):
    open_case(world)
    _b2_case(world)
    asked: list[bool] = []

    def sender(app):
        asked.append(True)
        return None
    monkeypatch.setitem(ctx.extensions, "workflow.bulk_sender", sender)
    monkeypatch.setitem(ctx.config, "REPORT_ON_WORKERS", False)
    fanout.over_branches(where_run, _branch_ids(), "t")
    assert asked == []
    monkeypatch.setitem(ctx.config, "REPORT_ON_WORKERS", True)
    fanout.over_branches(where_run, _branch_ids(), "t")
    assert asked == [True]


def test_the_report_tasks_give_json_shaped_values_so_every_path_gives_the_same(world, pin):
    """A report made in the caller (no run) must equal one read back from a run's chunk rows:
    the share tasks' results survive JSON unchanged (lists, string keys, ISO dates)."""
    import json
    three_cases(world)
    ids, as_of = _branch_ids(), date(2026, 1, 15)
    for result in (reports.table_share(ids, [2023, 2024], as_of, True),
                   statistics.count_share(ids, 2023, as_of)):
        assert json.loads(json.dumps(result)) == result
    # not empty values: branches lost points in 2023 (B1 and B2; B3 of the other committee not)
    assert any(row["items"]["13"]["deductions"] > 0
               for row, _ in reports.table_share(ids, [2023], as_of, True))
