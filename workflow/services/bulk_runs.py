"""Bulk work over every case as runs of chunks, one engine for all of it: the Celery workers.

A run (`bulk_runs`) splits the cases by id range into chunks (`bulk_chunks`, one row each) of
`BULK_CHUNK_CASES` cases. A chunk is one Celery task (`tasks.bulk_chunk`); the chunks of a run
go out as one group, so however many worker processes exist on however many machines share
them. Kinds: `rebuild` (every case's deadline rows and findings: after an upgrade, a rule or
holiday change, `flask rederive --fix`; registered by services/alerts/deadline_rows) and
`verify` (every hash chain, compared with the latest valid checkpoint: `flask verify`;
registered by services/bulk_verify) and `report` (a share of the branches per chunk, not a
case-id range: a committee table or statistics report that must replay; registered by
services/reports/fanout).

A chunk is idempotent: it first reads and derives without writing anything (the costly part,
so that several workers fold at once even on SQLite, whose one write lock they take only to
write); then, in one transaction, it marks itself done (`done_at`, the statement that takes
the lock; a chunk already done is skipped), writes its results and commits. A worker killed
mid-chunk leaves nothing behind, and the chunk runs again: the task is acknowledged late and
rejected when its worker process is lost, so the broker redelivers it, and a coordinator
(the waiting command, `flask bulk resume`, the beat task) sends again the chunks that started
longer than `BULK_LEASE_SECONDS` ago and are still undone, or every undone chunk when nothing
moved for that long. Running a chunk twice at the same time writes once: the second waits for
the first's done mark and then finds it done. The run is resumable: only undone chunks are
ever sent.

Without a sender (no worker configured, CELERY_TASK_ALWAYS_EAGER, inside a worker's own task,
the tests) the chunks run in the calling process, one after another, or by the local executor
the caller gives (`execute(local=…)`): the same function, the same result. Progress is the
count of done chunks, read from the table: the command line draws a bar from it, the admin
page lists the runs.
"""
from __future__ import annotations

import contextlib
import contextvars
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import OperationalError

from workflow.persistence.db import db
from workflow.persistence.models import BulkChunk, BulkRun, Case, utcnow

DEFAULT_CHUNK_CASES = 1000  # per task: a few seconds of work, few enough messages at 1M cases
DEFAULT_LEASE_SECONDS = 600.0  # a chunk started this long ago and not done is sent again
DEFAULT_WORKER_WAIT = 15.0  # no chunk taken this long after sending: run them here instead

Sender = Callable[[int, list[int]], None]  # (run id, chunk seqs) → queued as one group
Progress = Callable[[int, int], None]  # (chunks done, chunks in all)
# (run id, chunk seqs, progress) → done here, by some means (services/bulk_local.py)
Local = Callable[[int, list[int], "Progress | None"], None]


@dataclass(frozen=True)
class Kind:
    """`prepare(first_id, last_id, run_params, chunk_params)` reads and derives, writing
    nothing; `write(prepared)` writes in the chunk's transaction (no commit) and returns
    (cases done, result to keep on the chunk row); `finished(run)` runs in the transaction
    that marks the run finished. `caller_only`: a run whose results only its waiting caller
    reads (a report): beat gives it up when it stalls instead of sending it again."""
    prepare: Callable[[int, int, dict[str, Any], Any], Any]
    write: Callable[[Any], tuple[int, Any]]
    finished: Callable[[BulkRun], None] | None = None
    caller_only: bool = False


KINDS: dict[str, Kind] = {}


def register(name: str, kind: Kind) -> None:
    KINDS[name] = kind


def caller_only(kind: str) -> bool:
    found = KINDS.get(kind)
    return found is not None and found.caller_only


# --- which executor: the caller's choice, in a context variable -------------------------------

@dataclass(frozen=True)
class _Sending:
    send: Sender | None = None
    progress: Progress | None = None
    wait: bool = True
    started: list[int] | None = None  # the runs started inside, for the caller to name
    local: Local | None = None  # what does a run here instead of chunk after chunk


_sending: contextvars.ContextVar[_Sending | None] = contextvars.ContextVar("bulk_sending",
                                                                           default=None)


@contextlib.contextmanager
def using(send: Sender | None, progress: Progress | None = None, *, wait: bool = True,
          started: list[int] | None = None, local: Local | None = None) -> Iterator[None]:
    """Runs started inside (by whatever service starts them: `rederive`'s rebuild, say) go
    to the workers through `send` and report to `progress`; with `wait=False` they are only
    sent. Their ids are appended to `started`; done here, `local` does them (the local
    processes). The command line sets this; a worker never does, so a rebuild inside a task
    (the sweep's catch-up) runs in that task, chunk after chunk."""
    token = _sending.set(_Sending(send, progress, wait, started, local))
    try:
        yield
    finally:
        _sending.reset(token)


def chunk_cases() -> int:
    return max(1, int(current_app.config.get("BULK_CHUNK_CASES") or DEFAULT_CHUNK_CASES))


# --- planning ---------------------------------------------------------------------------------

def plan(kind: str, params: dict[str, Any] | None = None, *,
         scope: Sequence[int] | None = None, size: int | None = None,
         chunk_params: Callable[[list[tuple[int, int]]], list[Any]] | None = None) -> int:
    """A new run of `kind` over every case (of the branches `scope`): its chunks, by id range,
    committed before any is sent. Returns the run id."""
    query = sa.select(Case.id).order_by(Case.id)
    if scope is not None:
        query = query.where(Case.branch_id.in_(list(scope)))
    ids = db.session.execute(query).scalars().all()
    step = size or chunk_cases()
    ranges = [(ids[i], ids[min(i + step, len(ids)) - 1]) for i in range(0, len(ids), step)]
    extras = chunk_params(ranges) if chunk_params else [None] * len(ranges)
    return plan_chunks(kind, params, [(first, last, extra) for (first, last), extra
                                      in zip(ranges, extras, strict=True)], len(ids))


def plan_chunks(kind: str, params: dict[str, Any] | None,
                chunks: Sequence[tuple[int, int, Any]], cases: int) -> int:
    """A new run of `kind` with the chunks given as (first id, last id, chunk params), for
    work not split by case-id range (a report's shares of branches); committed. Its id."""
    if kind not in KINDS:
        raise KeyError(f"unknown bulk kind {kind!r}")
    run = BulkRun(kind=kind, params={**(params or {}), "cases": cases}, chunks=len(chunks))
    db.session.add(run)
    db.session.flush()
    if chunks:
        db.session.execute(sa.insert(BulkChunk), [
            {"run_id": run.id, "seq": seq, "first_id": first, "last_id": last,
             "params": extra, "attempts": 0}
            for seq, (first, last, extra) in enumerate(chunks)])
    db.session.commit()
    return run.id


# --- one chunk --------------------------------------------------------------------------------

def run_chunk(run_id: int, seq: int) -> str:
    """Do one chunk, once: "done", or "skipped" when it was done already (a redelivery, a
    second copy sent by a coordinator). Raises what the chunk raised, after noting it."""
    c = BulkChunk
    row = db.session.execute(
        sa.select(BulkRun.kind, BulkRun.params.label("run_params"), c.first_id, c.last_id,
                  c.params.label("chunk_params"), c.done_at, BulkRun.finished_at)
        .join(BulkRun, BulkRun.id == c.run_id).where(c.run_id == run_id, c.seq == seq)).first()
    # a finished run whose chunk is undone was given up (`abandon`): nobody reads it any more
    if row is None or row.done_at is not None or row.finished_at is not None:
        db.session.rollback()
        return "skipped"
    kind = KINDS[row.kind]
    where = sa.and_(c.run_id == run_id, c.seq == seq)
    db.session.execute(sa.update(c).where(where, c.done_at.is_(None))
                       .values(attempts=c.attempts + 1, started_at=utcnow(), failed_at=None))
    db.session.commit()
    try:
        prepared = kind.prepare(row.first_id, row.last_id, row.run_params or {},
                                row.chunk_params)
        db.session.commit()  # end the reads: the writes below are one short transaction
        # the done mark first: it takes the write lock (SQLite) or the chunk row's lock
        # (PostgreSQL), so a second copy of this chunk waits here and then finds it done
        claimed = db.session.execute(sa.update(c).where(where, c.done_at.is_(None))
                                     .values(done_at=utcnow()))
        if claimed.rowcount != 1:
            db.session.rollback()
            return "skipped"
        cases, result = kind.write(prepared)
        db.session.execute(sa.update(c).where(where).values(cases=cases, result=result,
                                                            error=None))
        db.session.commit()
    except OperationalError:
        # a database busy past its timeout: the task retries it (tasks.bulk_chunk), so it is
        # not a failure yet; the task notes it when its retries run out
        db.session.rollback()
        raise
    except BaseException as exc:
        db.session.rollback()
        with contextlib.suppress(Exception):
            note_failure(run_id, seq, exc)
        raise
    finish(run_id)
    return "done"


def note_failure(run_id: int, seq: int, exc: BaseException) -> None:
    """Note on the chunk's row why it failed (shown by `flask bulk status` and the admin)."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()[-500:]
    c = BulkChunk
    db.session.execute(sa.update(c).where(c.run_id == run_id, c.seq == seq,
                                          c.done_at.is_(None))
                       .values(failed_at=utcnow(), error=text))
    db.session.commit()


def finish(run_id: int) -> bool:
    """Mark the run finished when every chunk is done (one statement: whoever commits the last
    chunk sees all of them, and only one finisher changes the row); True if this call did."""
    undone = sa.select(BulkChunk.seq).where(BulkChunk.run_id == run_id,
                                            BulkChunk.done_at.is_(None)).exists()
    changed = db.session.execute(
        sa.update(BulkRun).where(BulkRun.id == run_id, BulkRun.finished_at.is_(None),
                                 ~undone).values(finished_at=utcnow()))
    if changed.rowcount != 1:
        db.session.rollback()
        return False
    run = db.session.get(BulkRun, run_id)
    assert run is not None
    hook = KINDS[run.kind].finished
    if hook is not None:
        hook(run)
    db.session.commit()
    return True


# --- executing a run --------------------------------------------------------------------------

def run(kind: str, params: dict[str, Any] | None = None, **plan_options: Any) -> int:
    """Plan a run and execute it (on the workers when `using` gave a sender); its id."""
    run_id = plan(kind, params, **plan_options)
    given = _sending.get() or _Sending()
    if given.started is not None:
        given.started.append(run_id)
    execute(run_id)
    return run_id


def execute(run_id: int, send: Sender | None = None, progress: Progress | None = None,
            wait: bool | None = None, local: Local | None = None) -> None:
    """The undone chunks of `run_id`: sent to the workers and waited for (with `send`, or the
    one `using` gave), else run here: by `local` (the local processes, services/bulk_local.py),
    then whatever it left, one after another. `wait=False` only sends."""
    given = _sending.get() or _Sending()
    send = send or given.send
    progress = progress or given.progress
    local = local or given.local
    wait = given.wait if wait is None else wait
    if send is not None:
        seqs = undone(run_id)
        if seqs:
            _send(run_id, seqs, send)
        if not wait:
            return
        if _wait(run_id, send, progress):
            return
        # no worker took anything: do it here (a chunk a worker takes meanwhile is skipped)
    total = _total(run_id)
    if local is not None:
        local(run_id, undone(run_id), progress)
    for seq in undone(run_id):
        run_chunk(run_id, seq)
        if progress is not None:
            progress(total - len(undone(run_id)), total)
    finish(run_id)
    if progress is not None:
        progress(total, total)


def given_sender() -> Sender | None:
    """The sender `using` gave to this context (the command line), if any."""
    given = _sending.get()
    return given.send if given is not None else None


def on_workers(setting: str) -> bool:
    """Whether runs of a kind go to the Celery workers: `setting` (REPORT_ON_WORKERS,
    BULK_ON_WORKERS) as configured; unset, unless the broker is the embedded SQLAlchemy one,
    whose one solo worker does a run more slowly than the local processes (docs/performance.md,
    ninth and sixteenth rounds)."""
    configured = current_app.config.get(setting)
    if configured is not None:
        return bool(configured)
    broker = str(current_app.config.get("CELERY_BROKER_URL") or "")
    return not broker.startswith(("sqla+", "sqlalchemy+"))


def app_sender() -> Sender | None:
    """The app's sender to the Celery workers (workflow.app registers it; None when tasks run
    eagerly, under test or with BULK_LOCAL)."""
    make = current_app.extensions.get("workflow.bulk_sender")
    return make(current_app._get_current_object()) if make else None  # type: ignore[attr-defined]


def results(run_id: int, forget: bool = False) -> list[Any]:
    """The results kept on the chunk rows of a run, in chunk order; `forget`: then cleared
    (a report's rows are read once: the run's record stays, its payload does not)."""
    c = BulkChunk
    found = list(db.session.execute(sa.select(c.result).where(c.run_id == run_id)
                                    .order_by(c.seq)).scalars())
    if forget:
        db.session.execute(sa.update(c).where(c.run_id == run_id).values(result=None))
    db.session.commit()
    return found


def abandon(run_id: int, why: str) -> None:
    """Give up a run nobody waits for any more (a report whose caller failed or is gone): its
    undone chunks noted failed (a chunk's own error, where it has one, stays) and the run
    finished, so nothing sends, runs or lists it as running again."""
    c = BulkChunk
    db.session.rollback()
    db.session.execute(sa.update(c).where(c.run_id == run_id, c.done_at.is_(None))
                       .values(failed_at=utcnow(), error=sa.func.coalesce(c.error, why[:500])))
    db.session.execute(sa.update(BulkRun).where(BulkRun.id == run_id,
                                                BulkRun.finished_at.is_(None))
                       .values(finished_at=utcnow()))
    db.session.commit()


def undone(run_id: int) -> list[int]:
    return list(db.session.execute(
        sa.select(BulkChunk.seq).where(BulkChunk.run_id == run_id, BulkChunk.done_at.is_(None))
        .order_by(BulkChunk.seq)).scalars())


def _total(run_id: int) -> int:
    return int(db.session.execute(sa.select(BulkRun.chunks).where(BulkRun.id == run_id))
               .scalar_one())


def _send(run_id: int, seqs: list[int], send: Sender) -> None:
    c = BulkChunk
    db.session.execute(sa.update(c).where(c.run_id == run_id, c.seq.in_(seqs))
                       .values(dispatched_at=utcnow()))
    db.session.commit()  # before the group goes out: a worker may take a chunk at once
    send(run_id, seqs)


class ChunksFailed(RuntimeError):
    pass


def _wait(run_id: int, send: Sender, progress: Progress | None) -> bool:
    """Wait for the workers to finish the run: True when they did (or the run was given up),
    False when none took a chunk within BULK_WORKER_WAIT seconds of sending, or, for a run
    only its caller waits for (a report), when they stopped taking its chunks for that long
    (busy with other work): then the caller does the rest. Sends again what stalled (a killed
    worker's chunk, messages a dead worker had prefetched); raises ChunksFailed when every
    undone chunk has failed and none is running."""
    config = current_app.config
    patience = float(config.get("BULK_WORKER_WAIT", DEFAULT_WORKER_WAIT))
    lease = float(config.get("BULK_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))
    sent = moved_at = time.monotonic()
    last: tuple[int, int] | None = None
    while True:
        state = status(run_id)
        if progress is not None:
            progress(state.done, state.chunks)
        if state.finished_at is not None:
            return True
        if state.done == state.chunks:
            finish(run_id)
            continue
        now = time.monotonic()
        if (state.attempted, state.done) != last:
            last, moved_at = (state.attempted, state.done), now
        if state.attempted == 0 and now - sent > patience:
            return False
        if (caller_only(state.kind) and state.attempted < state.chunks
                and now - moved_at > patience):
            return False
        if state.failed and state.failed == state.chunks - state.done - state.running:
            raise ChunksFailed(f"{state.failed} chunk(s) of run {run_id} failed: "
                               f"{state.last_error}")
        resend_stalled(run_id, send, lease)
        time.sleep(0.5)


MAX_ATTEMPTS = 5  # a chunk failed this often is not sent again by beat


def resend_stalled(run_id: int, send: Sender, lease: float, give_up: bool = False) -> list[int]:
    """Send again the undone chunks of a run that stalled: started more than `lease` seconds
    ago, or all of them when no chunk of the run started, finished or was sent for that long
    (the workers that held them are gone). The chunks sent again."""
    c = BulkChunk
    cutoff = utcnow() - timedelta(seconds=lease)
    rows = db.session.execute(sa.select(c.seq, c.started_at, c.dispatched_at, c.done_at,
                                        c.failed_at, c.attempts)
                              .where(c.run_id == run_id)).all()
    db.session.commit()
    moved = max((t for r in rows for t in (r.started_at, r.dispatched_at, r.done_at)
                 if t is not None), default=None)
    quiet = moved is None or moved < cutoff
    # a chunk that failed MAX_ATTEMPTS times stays failed (shown in `flask bulk status`)
    # until `flask bulk resume` is asked for it by hand: beat does not loop on it forever
    again = [r.seq for r in rows if r.done_at is None and (
        quiet or (r.started_at is not None and r.started_at < cutoff))
        and not (give_up and r.failed_at is not None and r.attempts >= MAX_ATTEMPTS)]
    if again:
        _send(run_id, again, send)
    return again


def resume_all(send: Sender, lease: float | None = None,
               beat: bool = False) -> dict[int, list[int]]:
    """`resend_stalled` for every unfinished run (beat, `flask bulk resume`)."""
    lease = float(current_app.config.get("BULK_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)) \
        if lease is None else lease
    found = db.session.execute(sa.select(BulkRun.id, BulkRun.kind)
                               .where(BulkRun.finished_at.is_(None)).order_by(BulkRun.id)).all()
    result = {}
    for run_id, kind in found:
        if not undone(run_id):
            finish(run_id)
            continue
        if caller_only(kind):  # only its waiting caller sends it again
            # the caller re-sends what stalled after one lease: nothing moved for two, it is gone
            if beat and _quiet(run_id, 2 * lease):
                abandon(run_id, "given up: nobody waits for this run any more")
            continue
        result[run_id] = resend_stalled(run_id, send, lease, give_up=beat)
    return result


def _quiet(run_id: int, lease: float) -> bool:
    """Nothing of the run moved (planned, sent, started, done) for `lease` seconds."""
    c = BulkChunk
    moved = db.session.execute(sa.select(sa.func.max(c.done_at), sa.func.max(c.started_at),
                                         sa.func.max(c.dispatched_at))
                               .where(c.run_id == run_id)).one()
    planned = db.session.execute(sa.select(BulkRun.started_at)
                                 .where(BulkRun.id == run_id)).scalar_one()
    db.session.commit()
    latest = max(t for t in (*moved, planned) if t is not None)
    return latest < utcnow() - timedelta(seconds=lease)


# --- progress ---------------------------------------------------------------------------------

@dataclass
class Status:
    id: int
    kind: str
    chunks: int
    cases: int
    started_at: datetime
    finished_at: datetime | None
    done: int = 0
    running: int = 0
    attempted: int = 0
    failed: int = 0
    last_error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def status(run_id: int) -> Status:
    found = runs(ids=[run_id])
    if not found:
        raise KeyError(run_id)
    return found[0]


def runs(limit: int = 20, ids: Sequence[int] | None = None) -> list[Status]:
    """The latest runs with their chunk counts (the admin page's table): one query each."""
    query = sa.select(BulkRun).order_by(BulkRun.id.desc()).limit(limit)
    if ids is not None:
        query = sa.select(BulkRun).where(BulkRun.id.in_(list(ids)))
    found = {r.id: Status(r.id, r.kind, r.chunks, int((r.params or {}).get("cases", 0)),
                          r.started_at, r.finished_at, params=dict(r.params or {}))
             for r in db.session.execute(query).scalars()}
    if found:
        c = BulkChunk
        counts = db.session.execute(
            sa.select(c.run_id,
                      sa.func.count(c.done_at),
                      sa.func.sum(sa.case((sa.and_(c.done_at.is_(None), c.failed_at.is_(None),
                                                   c.started_at.is_not(None)), 1), else_=0)),
                      sa.func.sum(sa.case((c.attempts > 0, 1), else_=0)),
                      sa.func.sum(sa.case((sa.and_(c.done_at.is_(None),
                                                   c.failed_at.is_not(None)), 1), else_=0)),
                      sa.func.max(c.error))
            .where(c.run_id.in_(list(found))).group_by(c.run_id))
        for run_id, done, running, attempted, failed, error in counts:
            s = found[run_id]
            s.done, s.running, s.attempted = int(done or 0), int(running or 0), \
                int(attempted or 0)
            s.failed, s.last_error = int(failed or 0), error
    db.session.commit()  # a fresh snapshot for the next poll
    return sorted(found.values(), key=lambda s: -s.id)
