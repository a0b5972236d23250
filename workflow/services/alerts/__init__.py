"""Deadlines kept as rows and swept into alerts.

`deadline_rows`: each open case's deadlines and findings, rewritten with every change to the
case, marked stale by a rule or holiday change and rebuilt; `findings_store`: the findings kept
on a case's deadline set, which reports score instead of replaying; `sweep`: the daily pass that
turns the rows in an alert window into outbox rows, once (notifications deliver them).
"""
from __future__ import annotations

from workflow.services.alerts.deadline_rows import (
    HORIZON_DAYS,
    LOOKAHEAD_DAYS,
    OPEN_STAGES,
    invalidate_deadlines,
    rebuild_stale,
    refresh_all_deadlines,
    refresh_deadlines,
    stale_deadline_cases,
)
from workflow.services.alerts.sweep import SWEEP_CHUNK, due_in, scan

__all__ = ["HORIZON_DAYS", "LOOKAHEAD_DAYS", "OPEN_STAGES", "SWEEP_CHUNK", "due_in",
           "invalidate_deadlines", "rebuild_stale", "refresh_all_deadlines", "refresh_deadlines",
           "scan", "stale_deadline_cases"]
