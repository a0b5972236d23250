"""Yearly development plans (年度发展计划, issue 21): `store` sets, adjusts (new versions) and
reads plans and the branch's measures; `judging` reads the passed admission votes, approvals
and pipeline of branches in a year and judges them with workflow/plans.py (over plan, item 13's
`no_plan`, the verdict on a vote being recorded); `overview` builds the plan table and the
year-end report with the structure counts."""
from __future__ import annotations

from workflow.services.plans.judging import deductions, over_plan_of_case, verdict
from workflow.services.plans.overview import STRUCTURE_LABELS, STRUCTURE_TITLES, overview, year_end
from workflow.services.plans.store import (
    ADJUST_FIELDS,
    MEASURE_FIELDS,
    PLAN_FIELDS,
    add_measure,
    adjust,
    create,
    visible_plan,
)

__all__ = ["ADJUST_FIELDS", "MEASURE_FIELDS", "PLAN_FIELDS", "STRUCTURE_LABELS",
           "STRUCTURE_TITLES", "add_measure", "adjust", "create", "deductions",
           "over_plan_of_case", "overview", "verdict", "visible_plan",
           "year_end"]
