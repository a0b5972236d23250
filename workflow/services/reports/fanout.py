"""Reports over many branches as bulk runs: a share of the branches per chunk.

Replay is pure Python, so one process uses one core however many the server has; a table of
every branch of a province replays every case. From `REPORT_PARALLEL_MIN_CASES` cases to
replay, a report is a run of the `report` kind (services/bulk_runs.py): the branches split by
their number of cases into shares, one chunk each, whose task (a function marked with
`share_task`, named on the run) replays and scores its share and keeps its small result (table
rows, never the replays) on the chunk's row; the caller reads them back in order and clears
them. The run goes to the Celery workers, as one group, when the app has a sender for reports
(a worker on a scale-out broker, `REPORT_ON_WORKERS`; not under test), else the local executor
does it (services/bulk_local.py: `REPORT_PROCESSES` processes of this machine). When the
workers stop taking a report's chunks (busy with a rebuild) the caller does the rest itself. A
run whose caller failed is given up (undone chunks failed, the run finished); beat never sends
a report's chunks again, and gives up one that has stalled (its caller is gone: nobody reads
the result).

Below the threshold, with neither workers nor two processes, on an in-memory database (which
another process cannot see) or inside a daemonic process (which may not start children), the
task runs in the calling process without a run: the same function, and, as its result is
JSON-shaped, the same value a run gives back.
"""
from __future__ import annotations

import contextlib
import heapq
import math
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from workflow.persistence.db import db
from workflow.persistence.models import Case
from workflow.services import bulk_local, bulk_runs

KIND = "report"
_TASKS: dict[str, Callable[..., Any]] = {}


def share_task(task: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a module-level `task(branch_ids, *args)` as one a chunk may run by its name. Its
    arguments are JSON (dates are carried as such); its result must be JSON-shaped (lists, not
    tuples; string keys), so that it is the same value whether it came through a run's chunk
    row or straight from the caller (tests/integration/test_fanout.py checks the report
    tasks)."""
    _TASKS[_name(task)] = task
    return task


def _name(task: Callable[..., Any]) -> str:
    return f"{task.__module__}:{task.__qualname__}"


def _task(name: str) -> Callable[..., Any]:
    """A marked task by the name a run gives: never imported from that name (the workers
    import the report modules, tasks/bulk.py; a local process imports the module its caller
    names: services/bulk_local.py)."""
    try:
        return _TASKS[name]
    except KeyError:
        raise LookupError(f"{name} is not a share task known to this process") from None


large = bulk_local.large  # whether a report is made as a run (else in the caller)
processes = bulk_local.width  # how many local processes its run uses without workers


def _sender() -> bulk_runs.Sender | None:
    """The command line's sender, else the app's (workflow.app: the Celery workers; None under
    test, with tasks run eagerly, or when REPORT_ON_WORKERS is off: by default on the embedded
    broker, whose single worker is slower at this than the local processes)."""
    send = bulk_runs.given_sender()
    return send if send is not None or not on_workers() else bulk_runs.app_sender()


def on_workers() -> bool:
    """REPORT_ON_WORKERS as set (environment, instance/config.py); unset: unless the broker is
    the embedded SQLAlchemy one."""
    return bulk_runs.on_workers("REPORT_ON_WORKERS")


def shares(weights: dict[int, int], ids: Sequence[int], n: int) -> list[list[int]]:
    """`ids` in at most `n` shares of about equal total weight (heaviest first, each to the
    lightest share so far); every id in exactly one share, none empty."""
    heap = [(0, i, []) for i in range(min(n, len(ids)))]
    for org_id in sorted(ids, key=lambda o: (-weights.get(o, 0), o)):
        load, i, share = heapq.heappop(heap)
        share.append(org_id)
        heapq.heappush(heap, (load + weights.get(org_id, 0), i, share))
    return [share for _, _, share in sorted(heap, key=lambda s: s[1]) if share]


def over_branches(task: Callable[..., Any], branch_ids: Sequence[int], *args: Any,
                  weights: dict[int, int] | None = None) -> list[Any]:
    """`task(share, *args)` for shares of `branch_ids`, one result per share, in order.

    `task` must be marked `share_task`; it reads what it needs itself. `weights` (cases per
    branch the task must replay) decide whether a run is made and the shares; by default every
    case of a branch."""
    name = _name(task)
    if _TASKS.get(name) is not task:
        raise ValueError(f"{name} is not marked share_task")
    ids = list(branch_ids)
    counts = _case_counts(ids) if weights is None else weights
    total = sum(counts.values())
    width = processes(total)
    send = _sender() if ids and large(total) else None
    if send is None and width == 1:
        return [task(ids, *args)]
    n = max(width, 2, math.ceil(total / bulk_runs.chunk_cases())) if send else width
    parts = shares(counts, ids, n)
    chunks = [(min(p), max(p), {"branches": p, "cases": sum(counts.get(i, 0) for i in p)})
              for p in parts]
    run_id = bulk_runs.plan_chunks(KIND, {"task": name, "args": _encode(list(args))},
                                   chunks, total)
    try:
        bulk_runs.execute(run_id, send=send, wait=True,
                          local=bulk_local.executor([task.__module__]))
        state = bulk_runs.status(run_id)
        if state.done != state.chunks:  # given up meanwhile (beat: nothing moved for long)
            raise bulk_runs.ChunksFailed(f"report run {run_id} was given up: {state.last_error}")
        return bulk_runs.results(run_id, forget=True)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            bulk_runs.abandon(run_id, f"report given up: {type(exc).__name__}: {exc}")
        raise


def _prepare(first_id: int, last_id: int, run_params: dict[str, Any],
             chunk_params: dict[str, Any]) -> tuple[int, Any]:
    task = _task(run_params["task"])
    return int(chunk_params["cases"]), task(chunk_params["branches"],
                                            *_decode(run_params["args"]))


bulk_runs.register(KIND, bulk_runs.Kind(_prepare, lambda prepared: prepared,
                                     caller_only=True))


def _encode(value: Any) -> Any:
    """JSON for a task's arguments: dates as {"__date__": "YYYY-MM-DD"}; a moment has no
    place in a report's arguments (its day is the organisation's, given as a date)."""
    if isinstance(value, datetime):
        raise TypeError("a share task takes dates, not moments")
    if isinstance(value, date):
        return {"__date__": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__date__"}:
            return date.fromisoformat(value["__date__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _case_counts(ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = db.session.execute(sa.select(Case.branch_id, sa.func.count())
                              .where(Case.branch_id.in_(ids)).group_by(Case.branch_id))
    return {branch_id: n for branch_id, n in rows}
