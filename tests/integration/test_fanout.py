"""Reports in several processes (services/reports/fanout.py): real worker processes on the test
database, each with its share of the branches, giving exactly what one process gives."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.helpers import open_case
from tests.integration.probes import HANG_GUARD
from tests.integration.test_reports import _b2_case, actor, pin, three_cases  # noqa: F401
from workflow.persistence.db import db
from workflow.persistence.models import Organisation
from workflow.services import alerts as alerting, reports
from workflow.services.reports import fanout, statistics
from workflow.services.alerts import findings_store

pytestmark = pytest.mark.db


def where_run(share: list[int], tag: str) -> list[tuple[int, int, str]]:
    """A task for the workers (module level: they import it by name)."""
    return [(os.getpid(), org_id, tag) for org_id in share]


def refuse(share: list[int]) -> None:
    raise ValueError(f"no report for {share}")


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


def test_a_worker_failure_is_raised_in_the_caller_with_the_workers_traceback(world,
                                                                            two_processes):
    open_case(world)
    _b2_case(world)
    with pytest.raises(RuntimeError, match=r"(?s)report-share-\d failed:.*ValueError: no report"):
        fanout.over_branches(refuse, _branch_ids())


def test_below_the_threshold_the_task_runs_in_the_calling_process(world, ctx, monkeypatch):
    open_case(world)
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 2)
    monkeypatch.setitem(ctx.config, "REPORT_PARALLEL_MIN_CASES", 2)  # one case on record
    ids = _branch_ids()
    assert fanout.over_branches(where_run, ids, "t") == [[(os.getpid(), i, "t") for i in ids]]
    monkeypatch.setitem(ctx.config, "REPORT_PARALLEL_MIN_CASES", 1)
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 1)
    assert len(fanout.over_branches(where_run, ids, "t")) == 1


def test_a_second_report_while_one_runs_in_processes_runs_in_the_calling_process(
        world, two_processes):
    open_case(world)
    _b2_case(world)
    ids = _branch_ids()
    with fanout._RUNNING:  # another thread of this web worker is fanning out a report
        assert fanout.over_branches(where_run, ids, "t") == [[(os.getpid(), i, "t") for i in ids]]
    assert len(fanout.over_branches(where_run, ids, "t")) == 2


def test_a_report_process_whose_caller_died_stops():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    code = f"from workflow.services.reports.fanout import _orphaned; _orphaned({gone.pid})"
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

