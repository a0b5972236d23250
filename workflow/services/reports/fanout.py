"""Reports over many branches, in several processes: one share of the branches each.

Replay is pure Python, so one process uses one core however many the server has; a table of
every branch of a province replays every case. Above `REPORT_PARALLEL_MIN_CASES` cases the
branches are split by their number of cases over `REPORT_PROCESSES` worker processes (default:
one per core). Each replays and scores its share over its own database connection and sends
back only the small results (table rows), never the replays: pickling a replay costs as much
as making it. Each share has its own process, living for one report, forked from a
forkserver (a clean single-threaded process with the app preloaded, so a fork never copies a
lock another thread of a web worker held; it stays, idle, beside each process that used it).
A worker's exception is raised again in the caller with its traceback; a worker whose caller
died stops. One set of report processes per calling process at a time: a second large report
in the same web worker meanwhile runs in that worker.

Below the threshold, with one process configured, on an in-memory database (which another
process cannot see) or inside a daemonic process (which may not start children), the task
runs in the calling process: the same function, the same result.
"""
from __future__ import annotations

import heapq
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from flask import current_app

from workflow.persistence.db import db
from workflow.persistence.models import Case

DEFAULT_MIN_CASES = 20_000  # below this a serial report takes seconds: not worth the starts


_RUNNING = threading.Lock()  # one set of report processes per process at a time


def processes(cases: int) -> int:
    """How many processes a report over `cases` cases uses (1: the calling process)."""
    conf = current_app.config
    configured = conf.get("REPORT_PROCESSES")
    wanted = (os.cpu_count() or 1) if configured is None else int(configured)
    url = db.engine.url
    in_memory = url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or "mode=memory" in str(url))
    if (wanted < 2 or cases < int(conf.get("REPORT_PARALLEL_MIN_CASES", DEFAULT_MIN_CASES))
            or in_memory or multiprocessing.current_process().daemon):
        return 1
    return wanted


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
    """`task(share, *args)` for shares of `branch_ids`, one result per share.

    `task` must be a module-level function (the workers import it by name) that reads what it
    needs itself; its result must be cheap to pickle. `weights` (cases per branch the task
    must replay) decide the processes and the shares; by default every case of a branch."""
    ids = list(branch_ids)
    counts = _case_counts(ids) if weights is None else weights
    n = processes(sum(counts.values()))
    # a second large report in this process meanwhile runs here, not in more processes
    if n == 1 or not _RUNNING.acquire(blocking=False):
        return [task(ids, *args)]
    try:
        return _fan_out(task, shares(counts, ids, n), args)
    finally:
        _RUNNING.release()


def _fan_out(task: Callable[..., Any], parts: list[list[int]], args: tuple[Any, ...]) -> list[Any]:
    # the factory the caller's app was made by (workflow.app puts it there): handed to each
    # child by reference, so this module never imports the app, which imports every adapter
    factory = current_app.extensions["workflow.factory"]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([factory.__module__])
    config = {k: v for k, v in current_app.config.items()
              if k.isupper() and isinstance(v, (str, int, float, bool))}
    started = []
    try:
        for part in parts:  # one process per share, so every share runs at the same time
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_child, daemon=True,
                                    args=(send, os.getpid(), factory, config, task, part, args),
                                    name=f"report-share-{len(started) + 1}")
            started.append((child, receive))
            child.start()
            send.close()
        return [_result(child, receive) for child, receive in started]
    finally:
        for child, receive in started:
            receive.close()
            if child.pid is None:  # its start failed
                continue
            if child.is_alive():
                child.terminate()
            child.join()


def _result(child: Any, receive: Any) -> Any:
    try:
        ok, value = receive.recv()
    except EOFError:
        child.join()
        raise RuntimeError(f"{child.name} ended without a result (exit code {child.exitcode})") \
            from None
    if not ok:
        raise RuntimeError(f"{child.name} failed:\n{value}")
    return value


def _case_counts(ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = db.session.execute(sa.select(Case.branch_id, sa.func.count())
                              .where(Case.branch_id.in_(ids)).group_by(Case.branch_id))
    return {branch_id: n for branch_id, n in rows}


def _child(send: Any, caller: int, factory: Callable[..., Any], config: dict[str, Any],
           task: Callable[..., Any], part: list[int], args: tuple[Any, ...]) -> None:
    """In a worker: an app on the caller's configuration, the task, its result sent back."""
    threading.Thread(target=_orphaned, args=(caller,), daemon=True).start()
    try:
        with factory(config).app_context():
            try:
                send.send((True, task(part, *args)))
            finally:
                db.session.remove()
    except BaseException:  # the caller re-raises it with the worker's traceback
        send.send((False, traceback.format_exc()))
    finally:
        send.close()


def _orphaned(caller: int) -> None:
    """Stop this worker when the process that asked for the report is gone (a web worker
    killed mid-request): its children belong to the forkserver and would go on replaying."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(caller, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # alive, owned by someone else: cannot happen here, harmless
            pass
