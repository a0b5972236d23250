"""The plan table (plan against actual, per branch and for the committee) and the year-end
report with the structure counts the party statistics ask for.

Actual means: admission votes passed in the year (what the quota counts), admissions approved
in the year (the new probationary members, whose structure is counted), and the pipeline now
(open activists and candidates). For the current year the forward planner says whether the
pipeline can still fill the quota by 31 December.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from workflow import plans
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, DevelopmentPlan, Organisation, User
from workflow.services.clock import today
from workflow.services.directory import access
from workflow.services.plans import judging
from workflow.services.plans.store import parse_year, plans_of, view
from workflow.steps import parse_date


def _scope(actor: User, org: str | None) -> tuple[Organisation, list[Organisation]]:
    root = access.visible_org(actor, org) if org else actor.org
    if root.kind == "branch":
        return root, [root]
    ids = access.subtree_ids(root.id)
    branches = db.session.execute(db.select(Organisation).where(
        Organisation.id.in_(ids), Organisation.kind == "branch")
        .order_by(Organisation.code)).scalars()
    return root, list(branches)


def profiles(case_days: list[tuple[int, date]]) -> list[tuple[plans.Profile, date]]:
    """Each admitted person's answers, with the day they were admitted."""
    ids = sorted({c for c, _ in case_days})
    people = {case_id: person for case_id, person in db.session.execute(
        db.select(Case.id, Case.person).where(Case.id.in_(ids)))} if ids else {}
    found = []
    for case_id, day in case_days:
        p = people.get(case_id) or {}
        found.append((plans.Profile(p.get("gender"), parse_date(p.get("birth_date")),
                                    p.get("education"), p.get("occupation"),
                                    p.get("ethnicity")), day))
    return found


def _notice_days(branch_id: int, day: date) -> int:
    settings = repo.rulebook_for(branch_id).on(day).settings
    return int(settings["notice_working_days"]) if settings["notice_before_admission"] else 0


def overview(actor: User, org: str | None = None, year: Any = None) -> dict[str, Any]:
    """Every branch in scope for a year: its plan (versions, measures) and plan against
    actual; the committee's totals."""
    return _table(actor, org, year)[0]


def _table(actor: User, org: str | None, year: Any
           ) -> tuple[dict[str, Any], list[tuple[int, date]]]:
    root, branches = _scope(actor, org)
    on = today()
    year_n = parse_year(year, query=True) if year not in (None, "") else on.year
    ids = [b.id for b in branches]
    rows_by_org = {p.org_id: p for p in db.session.execute(db.select(DevelopmentPlan).where(
        DevelopmentPlan.org_id.in_(ids), DevelopmentPlan.year == year_n)).scalars()} if ids else {}
    seen = judging.years_of(branches, [year_n], on)
    pipe = judging.pipeline(ids) if year_n == on.year else {}
    kept = plans_of(ids, year_n)
    lines = []
    for b in branches:
        row = rows_by_org.get(b.id)
        y = seen[b.code, year_n]
        plan = kept.get(b.id)
        required = judging.required_for(b.id)
        over = plans.over_plan(plan, y.admissions, required)
        # the quota of the year: an adjustment made after the year judged none of its votes
        quota = plan.in_force(min(on, date(year_n, 12, 31))).quota if plan else None
        prospects = pipe.get(b.id, [])
        line: dict[str, Any] = {
            "org": b.code, "org_name": b.name, "plan": view(row) if row else None,
            "quota": quota,
            "votes_passed": len(y.admissions), "admitted": len(y.approved),
            "pipeline": {"activists": sum(p.stage == "activist" for p in prospects),
                         "candidates": sum(p.stage == "candidate" for p in prospects)},
            "targets_actual": plans.target_counts(profiles(y.approved)),
            "over_plan": [{"case_id": a.case_id, "step_record_id": v.step_seq,
                           "on": v.on.isoformat(), "message": v.detail}
                          for v in over for a in y.admissions if a.step_seq == v.step_seq],
            "no_plan": plan is None and any(required(a.on) for a in y.held),
            "gap": max(0, quota - len(y.admissions)) if quota is not None else None,
            "outlook": None,
        }
        if plan is not None and year_n == on.year:
            o = plans.outlook(plan, len(y.admissions), prospects, on,
                              _notice_days(b.id, on), repo.working_calendar())
            line["outlook"] = {"reachable": len(o.reachable), "later": len(o.later),
                               "reachable_cases": list(o.reachable), "gap": o.gap,
                               "cannot_fill": o.cannot_fill}
        lines.append(line)
    total = {
        "quota": sum(r["quota"] or 0 for r in lines),
        "votes_passed": sum(r["votes_passed"] for r in lines),
        "admitted": sum(r["admitted"] for r in lines),
        "activists": sum(r["pipeline"]["activists"] for r in lines),
        "candidates": sum(r["pipeline"]["candidates"] for r in lines),
        "branches_without_plan": sum(r["plan"] is None for r in lines),
        "over_plan": sum(len(r["over_plan"]) for r in lines),
    }
    admitted = [cd for b in branches for cd in seen[b.code, year_n].approved]
    return {"org": root.code, "org_name": root.name, "year": year_n, "as_of": on.isoformat(),
            "targets": [{"id": k, "label": zh, "label_en": en}
                        for k, (zh, en) in plans.TARGETS.items()],
            "rows": lines, "total": total}, admitted


def year_end(actor: User, org: str | None = None, year: Any = None) -> dict[str, Any]:
    """The year-end report: plan against actual per branch and for the committee, and the
    structure of the year's new probationary members."""
    table, admitted = _table(actor, org, year)
    s = plans.structure(profiles(admitted))
    table["structure"] = {"total": s.total, "gender": s.gender, "age": s.age,
                          "education": s.education, "occupation": s.occupation,
                          "ethnicity": s.ethnicity}
    table["structure_labels"] = STRUCTURE_LABELS
    return table


STRUCTURE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "gender": {"female": ("女", "Women"), "male": ("男", "Men"),
               "unknown": ("未填", "Not given")},
    "age": {**{str(top): (zh, en) for top, zh, en in plans.AGE_BANDS},
            "unknown": ("未填", "Not given")},
    "education": {"college": ("大专及以上", "College or above"),
                  "below_college": ("高中、中专及以下", "Below college"),
                  "unknown": ("未填", "Not given")},
    "occupation": {**plans.OCCUPATIONS, "unknown": ("未填", "Not given")},
    "ethnicity": {"han": ("汉族", "Han"), "minority": ("少数民族", "Ethnic minorities"),
                  "unknown": ("未填", "Not given")},
}
STRUCTURE_TITLES: dict[str, tuple[str, str]] = {
    "gender": ("性别", "Sex"), "age": ("年龄（批准时）", "Age when admitted"),
    "education": ("学历", "Education"), "occupation": ("职业", "Occupation"),
    "ethnicity": ("民族", "Ethnicity"),
}
