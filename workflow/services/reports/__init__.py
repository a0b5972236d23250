"""What is derived over a scope of branches, from the recorded histories.

`tables`: the alert list, a branch's rubric and the committee's table (scored from the kept
findings, or replayed); `worklist`: the work queues of the home pages; `statistics`: the annual
statistics; `files`: the same tables as Excel and PDF; `fanout`: large reports as bulk runs
of branch shares (on the Celery workers, else in local report processes).
"""
from __future__ import annotations

from workflow.services.reports.tables import (
    KIND_LABELS,
    SORT_KEYS,
    TREND_YEARS,
    alert_list,
    branch_report,
    branch_rubric,
    branches_in,
    committee_table,
    held_by_any,
    parse_year,
    person_names,
    replays_of,
    rubric_view,
    rule_label,
    scope_cases,
    score_everything,
    scored,
    system_rubric,
    table_root,
    table_share,
)

__all__ = ["KIND_LABELS", "SORT_KEYS", "TREND_YEARS", "alert_list", "branch_report",
           "branch_rubric", "branches_in", "committee_table", "held_by_any", "parse_year",
           "person_names", "replays_of", "rubric_view", "rule_label", "score_everything",
           "scope_cases", "scored", "system_rubric", "table_root", "table_share"]
