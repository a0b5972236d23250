"""Bulk tasks: one chunk of a run (services/bulk_runs.py), and the resumption of stalled runs.

`tasks.bulk_chunk` is acknowledged late and rejected when its worker process is lost, so the
broker redelivers the chunk of a killed worker (Redis after its visibility timeout, a prefork
pool's lost child at once); the chunk is idempotent, so a redelivery or a second copy writes
nothing twice. The embedded SQLAlchemy broker never redelivers a message a dead worker took:
`tasks.bulk_resume` (and the command that waits on a run) sends such chunks again.
"""
from __future__ import annotations

from typing import Any

from celery import Celery, Task, group, shared_task
from flask import Flask, current_app
from sqlalchemy.exc import OperationalError

from workflow.services import alerts as _alerts  # noqa: F401  (registers the rebuild kind)
from workflow.services import bulk_runs
from workflow.services import bulk_verify as _verify  # noqa: F401  (registers verify)
from workflow.services import reports as _reports  # noqa: F401  (the report kind, its tasks)
from workflow.services.reports import statistics as _statistics  # noqa: F401  (its share task)


@shared_task(name="tasks.bulk_chunk", bind=True, acks_late=True, reject_on_worker_lost=True,
             max_retries=5)
def bulk_chunk(self: Task, run_id: int, seq: int) -> str:
    """One chunk; a database busy past its timeout (SQLite's write lock under a long
    transaction) is retried after a pause, anything else fails the chunk (noted on its row)."""
    try:
        return bulk_runs.run_chunk(run_id, seq)
    except OperationalError as exc:
        if self.request.retries >= (self.max_retries or 0):
            bulk_runs.note_failure(run_id, seq, exc)
            raise
        raise self.retry(exc=exc, countdown=min(60, 2 ** self.request.retries)) from exc


@shared_task(name="tasks.bulk_resume", ignore_result=False)
def bulk_resume() -> dict[str, list[int]]:
    """Send again the chunks of unfinished runs that stalled (beat: every few minutes)."""
    return {str(k): v for k, v in bulk_runs.resume_all(sender(), beat=True).items()}


def celery_app(flask_app: Flask | None = None) -> Celery:
    """The Celery app bound to this Flask app, made on first use (the command line has none)."""
    from tasks.app import celery_init_app
    app = flask_app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions.get("celery") or celery_init_app(app)


def sender(flask_app: Flask | None = None) -> bulk_runs.Sender | None:
    """What sends a run's chunks to the workers, as one group; None when they are to run in
    this process: tasks run eagerly (CELERY_TASK_ALWAYS_EAGER) or BULK_LOCAL is set (by
    default under TESTING, whose tests start a worker only where they say so)."""
    app = flask_app or current_app
    config = app.config
    if config.get("CELERY_TASK_ALWAYS_EAGER") or config.get("BULK_LOCAL",
                                                            config.get("TESTING", False)):
        return None
    celery = celery_app(flask_app)

    def send(run_id: int, seqs: list[int]) -> None:
        signature: Any = celery.signature
        group(signature("tasks.bulk_chunk", args=(run_id, seq), immutable=True)
              for seq in seqs).apply_async()
    return send
