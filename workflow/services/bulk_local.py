"""The local executor of bulk runs (services/bulk_runs.py): a run's chunks over several
processes of this machine, when no Celery worker does them.

Replay is pure Python, so one process uses one core however many the machine has. From
`REPORT_PARALLEL_MIN_CASES` cases in a run, `REPORT_PROCESSES` processes (default one per core)
each run some of its chunks (`bulk_runs.run_chunk`, the very function a worker runs) over their
own database connection; the results are where a worker leaves them, on the chunk rows. Used
for a report's run without workers (services/reports/fanout.py) and for the command line's
local runs (`rederive --fix --local`, `verify --local`, a run no worker took), never inside a
worker's task (the workers are that machine's parallelism).

The processes live for one run and are forked from a forkserver (a clean single-threaded
process with the app preloaded, so a fork never copies a lock another thread of a web worker
held; it stays, idle, beside each process that used it). A process's exception is raised again
in the caller with its traceback; a process whose caller died stops. One set per calling
process at a time: a second run meanwhile does its chunks in the caller. In-memory SQLite
(another process cannot see it) and daemonic callers (which may not start children) run
every chunk in the caller.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app
from sqlalchemy.exc import OperationalError

from workflow.persistence.db import db
from workflow.services import bulk_runs

DEFAULT_MIN_CASES = 20_000  # below this a run takes seconds: not worth the processes' starts

_RUNNING = threading.Lock()  # one set of processes per process at a time


def large(cases: int) -> bool:
    """Whether a run over `cases` cases is worth other processes (and may have them)."""
    url = db.engine.url
    in_memory = url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or "mode=memory" in str(url))
    minimum = int(current_app.config.get("REPORT_PARALLEL_MIN_CASES", DEFAULT_MIN_CASES))
    return cases >= minimum and not in_memory and not multiprocessing.current_process().daemon


def width(cases: int) -> int:
    """How many local processes a run over `cases` cases uses (1: the calling process)."""
    configured = current_app.config.get("REPORT_PROCESSES")
    wanted = (os.cpu_count() or 1) if configured is None else int(configured)
    return wanted if wanted >= 2 and large(cases) else 1


def executor(modules: Iterable[str] = ()) -> bulk_runs.Local:
    """What runs a run's chunks in local processes, as many as `width` gives for its cases;
    what it leaves undone (a small run, a set already running here), `execute` does in the
    caller. `modules`: imported in each process besides the one that registered the run's kind
    (a report's task)."""
    extra = tuple(modules)

    def local(run_id: int, seqs: list[int], progress: bulk_runs.Progress | None = None) -> None:
        state = bulk_runs.status(run_id)
        n = min(width(state.cases), len(seqs))
        if n < 2 or not _RUNNING.acquire(blocking=False):
            return
        stop = threading.Event()
        watcher = None
        try:
            if progress is not None:
                watcher = _watch(run_id, progress, stop)
            needed = (bulk_runs.KINDS[state.kind].prepare.__module__, *extra)
            fan_out(_run_chunks, [seqs[i::n] for i in range(n)], (run_id, needed))
        finally:
            stop.set()
            if watcher is not None:
                watcher.join()
            _RUNNING.release()
    return local


def _watch(run_id: int, progress: bulk_runs.Progress, stop: threading.Event) -> threading.Thread:
    """Report the done chunks every half second while the processes work (the command line's
    bar): the caller's own thread waits for them meanwhile."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def watch() -> None:
        with app.app_context():
            try:
                while not stop.wait(0.5):
                    state = bulk_runs.status(run_id)
                    progress(state.done, state.chunks)
            finally:
                db.session.remove()
    thread = threading.Thread(target=watch, name=f"bulk-progress-{run_id}", daemon=True)
    thread.start()
    return thread


def _run_chunks(seqs: list[int], run_id: int, modules: tuple[str, ...]) -> None:
    """In a local process: the modules that register the run's kind (and task), then its
    chunks. The names come from the caller's code, never from the database. A chunk the busy
    database refused stays undone for the caller (a worker's task would retry it)."""
    for name in modules:
        importlib.import_module(name)
    for seq in seqs:
        try:
            bulk_runs.run_chunk(run_id, seq)
        except OperationalError:  # the database busy past its timeout (SQLite's one writer):
            db.session.rollback()  # left undone, the caller runs it after the processes


def fan_out(task: Callable[..., Any], parts: list[list[int]], args: tuple[Any, ...]) -> list[Any]:
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
                                    name=f"bulk-share-{len(started) + 1}")
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


def _child(send: Any, caller: int, factory: Callable[..., Any], config: dict[str, Any],
           task: Callable[..., Any], part: list[int], args: tuple[Any, ...]) -> None:
    """In a local process: an app on the caller's configuration, the task, its result sent
    back."""
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
    """Stop this process when the one that asked for the run is gone (a web worker killed
    mid-request): its children belong to the forkserver and would go on replaying."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(caller, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # alive, owned by someone else: cannot happen here, harmless
            pass
