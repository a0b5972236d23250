"""Integrity tasks: the daily signed checkpoint of every case's chain head (beat runs it).

Safe to run twice: each run writes a new file under its own time-stamped name and never
replaces one, and `verify` uses the latest valid one.
"""
from __future__ import annotations

from celery import shared_task

from workflow.services.cases import checkpoints


@shared_task(name="tasks.checkpoint", ignore_result=False, acks_late=True)
def checkpoint() -> dict[str, object]:
    """The same as `flask checkpoint`: write the file and say where and how many cases."""
    path, count = checkpoints.write()
    return {"path": str(path), "cases": count}
