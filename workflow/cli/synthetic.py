"""Synthetic histories for benchmarks: many realistic cases, written with bulk inserts.

The histories come from the demo's step template (the same data builders), cut at a random
stage, with realistic miss rates (late interviews, skipped assessments, show-of-hands votes,
short notices); the cached state is computed with the machine's lookup table. Bulk Core
inserts, not the API: a million cases must take minutes, not days.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from workflow import chain, machine
from workflow.cli.demo import TEMPLATE, _data, _name
from workflow.persistence.db import db
from workflow.persistence.models import (
    Case,
    Organisation,
    RosterMember,
    StepRecordRow,
    utcnow,
)
from workflow.services.cases import history_chain
from workflow.steps import STEPS

BRANCHES_PER_COMMITTEE = 20
CASES_PER_BRANCH = 60
BATCH = 2000
MISTAKES = (("late_interview", 0.10), ("skip_assessment", 0.06), ("show_of_hands", 0.03),
            ("short_notice", 0.04))


def _orgs(prefix: str, n_cases: int, rng: random.Random) -> list[tuple[int, str, list[int]]]:
    """Committees and branches enough for n_cases, each branch with a small roster."""
    n_branches = max(1, n_cases // CASES_PER_BRANCH)
    orgs = []
    for b in range(n_branches):  # one flush for all of them, then one for all rosters
        if b % BRANCHES_PER_COMMITTEE == 0:
            committee = Organisation(code=f"{prefix}C{b // BRANCHES_PER_COMMITTEE:05d}",
                                     name=f"合成党委 {b // BRANCHES_PER_COMMITTEE}", kind="committee")
            db.session.add(committee)
        orgs.append(Organisation(code=f"{prefix}B{b:06d}", name=f"合成党支部 {b}",
                                 kind="branch", parent=committee))
    db.session.add_all(orgs)
    db.session.flush()
    rosters = [[RosterMember(org_id=branch.id, name=_name(rng), status="full",
                             since=date(2000 + k, 7, 1)) for k in range(4)] for branch in orgs]
    db.session.add_all([m for members in rosters for m in members])
    db.session.flush()
    branches = [(branch.id, branch.code, [m.id for m in members])
                for branch, members in zip(orgs, rosters)]
    db.session.commit()
    return branches


def _history(app: date, today: date, roster: list[int], rng: random.Random
             ) -> list[tuple[str, date, dict[str, Any]]]:
    mistakes = {m for m, p in MISTAKES if rng.random() < p}
    stop = rng.randint(0, len(TEMPLATE))
    steps = []
    for step, offset, raw in TEMPLATE[:stop]:
        if step == "activist_assessed" and "skip_assessment" in mistakes and offset == 200:
            continue
        offset += 20 if step == "applicant_interviewed" and "late_interview" in mistakes else 0
        day = app + timedelta(offset)
        if day > today:
            break
        steps.append((step, day, _data(step, offset, raw, app, roster, rng, mistakes)))
    return steps


def _state(steps: list[tuple[str, date, dict[str, Any]]]) -> str:
    state = machine.step(machine.INITIAL_STATE, "application_submitted", {})
    for step, _, data in steps:
        state = machine.step(state, step, data)
    return state


def _rows(n: int, branches: list[tuple[int, str, list[int]]], today: date, seed: int,
          next_case: int, next_step: int) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    rng = random.Random(seed)
    key = history_chain.key()
    cases: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    now = utcnow().replace(microsecond=0)
    for i in range(n):
        branch_id, code, roster = branches[i % len(branches)]
        app = today - timedelta(rng.randint(10, 6 * 365))
        person = {"name": _name(rng), "gender": rng.choice(("male", "female")),
                  "birth_date": (app - timedelta(rng.randint(19 * 365, 45 * 365))).isoformat()}
        history = _history(app, today, roster, rng)
        state = _state(history)
        case_id = next_case + i
        cases.append({"id": case_id, "branch_id": branch_id, "person_name": person["name"],
                      "person": person, "application_date": app, "stage": machine.stage_of(state),
                      "state": state, "version": len(history) + 1, "created_at": now,
                      "updated_at": now})
        head = chain.GENESIS
        for version, (step, day, data) in enumerate(
                [("application_submitted", app, {"person": person, "branch": code})] + history, 1):
            role = "committee" if STEPS[step].recorder.value == "committee" else "branch"
            row = {"id": next_step, "case_id": case_id, "case_version": version, "step": step,
                   "occurred_on": day, "data": data, "recorded_at": now, "recorded_by_role": role,
                   "note": None, "recorded_by_id": None, "acknowledged_reason": None,
                   "decided_by_member_id": None, "session_ref": None,
                   "chain_index": version, "prev_hash": head}
            row["chain_hash"] = head = chain.link(key, head, history_chain.payload(
                "step", SimpleNamespace(**row)))
            steps.append(row)
            next_step += 1
        cases[-1] |= {"chain_head": head, "chain_length": len(history) + 1}
        if len(cases) >= BATCH:
            yield cases, steps
            cases, steps = [], []
    if cases:
        yield cases, steps


def seed(n: int, seed_value: int, today: date, prefix: str = "S") -> dict[str, int]:
    rng = random.Random(seed_value)
    branches = _orgs(prefix, n, rng)
    next_case = (db.session.execute(sa.select(sa.func.max(Case.id))).scalar() or 0) + 1
    next_step = (db.session.execute(sa.select(sa.func.max(StepRecordRow.id))).scalar() or 0) + 1
    total_steps = 0
    for cases, steps in _rows(n, branches, today, seed_value, next_case, next_step):
        db.session.execute(sa.insert(Case.__table__), cases)  # Core executemany
        db.session.execute(sa.insert(StepRecordRow.__table__), steps)
        db.session.commit()
        next_step += len(steps)
        total_steps += len(steps)
    _advance_sequences()
    return {"cases": n, "steps": total_steps, "branches": len(branches)}


def _advance_sequences() -> None:
    """The rows above carry their own ids; PostgreSQL's sequences must move past them or the
    next case or step recorded through the service would collide. (SQLite takes max + 1.)"""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for table in (Case.__table__, StepRecordRow.__table__):
        db.session.execute(sa.text(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"(SELECT coalesce(max(id), 1) FROM {table.name}))"))
    db.session.commit()
