"""Alerts and the rubric over the caller's scope, derived from the recorded histories.

No score is stored or typed in (spec section 8): every table is scored on request from what
each case's history gives on the scoring date. For that, the findings kept with each case's
deadline rows (services/alerts/findings_store.py) stand in for replaying it; they are rewritten in
the transaction of every step and document, so a document attached or a step corrected a
minute ago shows in the next page, file or API answer, and any case whose findings cannot be
trusted for the day is replayed instead.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from workflow import alerts, rubric
from workflow.history import Replay
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, Organisation, TrainingInvitee, User
from workflow.persistence.repository import held_by_any
from workflow.rules import REGISTRY
from workflow.services.alerts import findings_store, sweep
from workflow.services.cases.views import violation
from workflow.services.committee import trainings_for_rubric
from workflow.services.directory import access
from workflow.services.errors import BadRequest, Invalid
from workflow.services.plans import deductions as plan_deductions
from workflow.services.reports import fanout
from workflow.steps import STEPS, YEAR_MAX, YEAR_MIN

TREND_YEARS = 3  # the committee table shows the scored year and the two before it
SORT_KEYS = ("org", "name", "13", "14", "total", "change")


def _replays(case_rows: list[Case] | list[tuple[int, int, str]], as_of: date) -> dict[int, Replay]:
    from workflow.services.bulk import replay_cases
    return replay_cases(case_rows, as_of)


replays_of = _replays  # the public name; worklist still imports the old one


def alert_list(actor: User, as_of: date, org: str | None = None) -> dict[str, Any]:
    """Every deadline in scope in an alert window on `as_of`: what the sweep alerts on, read
    from the same deadline rows (a replay only for cases whose rows cannot be trusted)."""
    scope = access.subtree_ids(actor.org_id)
    if org:
        scope &= access.subtree_ids(access.visible_org(actor, org).id)
    items = []
    for case_id, code, d in sweep.due_in(as_of, scope):
        lvl = alerts.level(d, as_of)
        if lvl:
            items.append({"case_id": case_id, "rule": d.rule, "kind": d.kind,
                          "due_on": d.due_on.isoformat(), "level": lvl,
                          "responsible": d.responsible.value, "org": code})
    items.sort(key=lambda i: (i["case_id"], i["due_on"], i["kind"]))
    return {"items": items}


def scope_cases(org_ids: set[int]) -> list[tuple[int, int, str]]:
    """(id, branch id, branch code) of every case the branches may have held, for
    `services.bulk`: plain rows; loading the cases, and each one's branch, as objects took 8 %
    of a full replay and scoring under the profiler."""
    return [tuple(row) for row in db.session.execute(
        sa.select(Case.id, Case.branch_id, Organisation.code)
        .join(Organisation, Organisation.id == Case.branch_id)
        .where(held_by_any(org_ids)).order_by(Case.id))]


def scored(org_ids: set[int], as_of: date, years: list[int] | None = None,
           replayed: bool = False) -> dict[int, rubric.Scored]:
    """The cases the branches may have held as the rubric sees them on `as_of` (for scoring
    `years`, all when None): their kept findings where those can be trusted for the day
    (services/alerts/findings_store), else replays; `replayed` replays every one (the benchmark's
    full replay, and tests comparing the two)."""
    if replayed:
        from workflow.services.bulk import scored_cases
        return dict(scored_cases(scope_cases(org_ids), as_of, years))
    return findings_store.scored(held_by_any(org_ids), as_of, years)


def branch_rubric(actor: User, org: str, year: Any, as_of: date) -> dict[str, Any]:
    return _score(access.visible_org(actor, org), year, as_of)


def system_rubric(org: str, year: Any, as_of: date) -> dict[str, Any]:
    """The CLI's view: the whole system, no user scope."""
    return _score(access.org_by_code(org), year, as_of)


def parse_year(year: Any) -> int:
    try:
        year_n = int(year)
    except (TypeError, ValueError):
        raise BadRequest("year 必须是年份，例如 2025") from None
    if not YEAR_MIN <= year_n <= YEAR_MAX:  # the years any date of the system may have
        raise BadRequest("year 必须是年份，例如 2025")
    return year_n


def _score(branch: Organisation, year: Any, as_of: date, english: bool = False
           ) -> dict[str, Any]:
    year_n = parse_year(year)
    if branch.kind != "branch":
        raise Invalid("考核按党支部计分", {"org": "请指定党支部代码"})
    result = rubric.score(branch.code, year_n, as_of, scored({branch.id}, as_of, [year_n]),
                          _trainings(branch.id),
                          plan_deductions([branch], [year_n], as_of)[branch.code, year_n])
    return rubric_view(result, english)


def _trainings(branch_id: int) -> list[rubric.Training]:
    """The courses of every committee above the branch, with their invitees."""
    return _trainings_of([branch_id])[branch_id]


def _trainings_of(branch_ids: list[int]) -> dict[int, list[rubric.Training]]:
    """`_trainings` of many branches from two reads (the courses of every committee above
    them, and those courses' invitees): the committee table read them per branch and per
    course, 1.3 s of its 10 s at 100,000 cases and 1,666 branches."""
    chains = {b: repo.ancestors(b) for b in branch_ids}
    committees = {org for chain in chains.values() for org in chain}
    courses = sorted(trainings_for_rubric(committees), key=lambda t: t.id)
    invited: dict[int, list[int]] = {t.id: [] for t in courses}
    if courses:  # the invitees of exactly the courses read: which courses count is said once
        i = TrainingInvitee.__table__
        for training_id, case_id in db.session.execute(
                sa.select(i.c.training_id, i.c.case_id)
                .where(i.c.training_id.in_(list(invited)))
                .order_by(i.c.training_id, i.c.case_id)):
            invited[training_id].append(case_id)
    by_org: dict[int, list[rubric.Training]] = {}
    for t in courses:
        by_org.setdefault(t.org_id, []).append(rubric.Training(
            t.id, t.title, t.start_on, t.end_on, tuple(invited[t.id])))
    return {b: [course for org in chain for course in by_org.get(org, ())]
            for b, chain in chains.items()}


def _deduction(d: rubric.Deduction, english: bool = False) -> dict[str, Any]:
    """A deduction as the API gives it; `english`: with its English texts too (the pages)."""
    view = {"kind": d.kind, "case_id": d.case_id, "rule": d.rule,
            "step_record_id": d.step_record_id, "points": d.points, "message": d.message,
            "on": d.on.isoformat(), "fix": d.fix}
    if english:
        view |= {"message_en": d.message_en, "fix_en": d.fix_en, "documents": list(d.documents)}
    return view


def rubric_view(r: rubric.Rubric, english: bool = False) -> dict[str, Any]:
    return {"org": r.org, "year": r.year, "as_of": r.as_of.isoformat(),
            "items": {k: {"max": i.max, "score": i.score,
                          "deductions": [_deduction(d, english) for d in i.deductions]}
                      for k, i in r.items.items()},
            "committee": [_deduction(d, english) for d in r.committee]}


# --- the pages' and report files' views --------------------------------------------------------

def person_names(case_ids: set[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    rows = db.session.execute(db.select(Case.id, Case.person_name).where(Case.id.in_(case_ids)))
    return {cid: name for cid, name in rows}


KIND_LABELS = {"procedure": "程序不到位", "paperwork": "手续不齐全",
               "overdue_conversion": "转正超期", "training_absence": "未参加党校培训",
               "no_plan": "无年度发展计划"}


def rule_label(rule: str, lang: str = "zh") -> str:
    if rule in REGISTRY:
        return REGISTRY[rule].message(lang)
    if rule in STEPS:
        return STEPS[rule].en if lang == "en" else STEPS[rule].zh
    return rule


def _named(deductions: list[dict[str, Any]], names: dict[int, str]) -> None:
    """Add what a reader needs beside the API's ids: the person, the kind and rule in words."""
    for d in deductions:
        d["person"] = names.get(d["case_id"], "")
        d["kind_label"] = KIND_LABELS.get(d["kind"], d["kind"])
        d["rule_label"] = rule_label(d["rule"])


def branch_report(actor: User, org: str, year: Any, as_of: date) -> dict[str, Any]:
    """The API's rubric plus what a reader needs: the branch's name and each person's name."""
    branch = access.visible_org(actor, org)
    result = _score(branch, year, as_of, english=True)
    everything = [d for i in result["items"].values() for d in i["deductions"]]
    everything += result["committee"]
    names = person_names({d["case_id"] for d in everything})
    _named(everything, names)
    result["org_name"] = branch.name
    result["total"] = sum(i["score"] for i in result["items"].values())
    result["max_total"] = sum(i["max"] for i in result["items"].values())
    return result


def branches_in(root: Organisation) -> list[Organisation]:
    scope = access.subtree_ids(root.id)
    query = db.select(Organisation).where(Organisation.id.in_(scope), Organisation.kind == "branch")
    return list(db.session.execute(query.order_by(Organisation.code)).scalars())


def table_root(actor: User, org: str | None) -> Organisation:
    """The organisation a table is about: the one asked for (within scope) or the actor's own."""
    return access.visible_org(actor, org) if org else actor.org


def committee_table(actor: User, org: str | None, year: Any, as_of: date,
                    sort: str = "org", direction: str = "asc") -> dict[str, Any]:
    """Every branch under `org` for a year and the years before it, from each case's kept
    findings (or its replay, where they cannot be trusted for the day).

    All years are scored on the same date, so each cell equals what the branch page (and
    GET /api/v1/rubric) shows for that year and date: a late document or a correction raises
    the past years too, as it does everywhere else. When many cases must be replayed (after a
    rule change, or for a past date), the table is computed in several processes, a share of
    the branches each (services/reports/fanout.py).
    """
    root = table_root(actor, org)
    year_n = parse_year(year)
    years = list(range(year_n - TREND_YEARS + 1, year_n + 1))
    root_code, root_name = root.code, root.name  # a run's commits expire the objects read
    branches = branches_in(root)
    ids, codes = [b.id for b in branches], [b.code for b in branches]
    done = {row["org"]: (row, committee) for share in fanout.over_branches(
        table_share, ids, years, as_of, weights=findings_store.to_replay(ids, as_of))
        for row, committee in share}
    rows = [done[code][0] for code in codes]
    committee = [d for code in codes for d in done[code][1]]
    _named(committee, person_names({d["case_id"] for d in committee}))
    sort, direction = _sort(rows, sort, direction)
    return {"org": root_code, "org_name": root_name, "year": year_n, "years": years,
            "as_of": as_of.isoformat(), "rows": rows, "committee": committee,
            "sort": sort, "dir": direction}


@fanout.share_task
def table_share(branch_ids: list[int], years: list[int], as_of: date,
                replayed: bool = False) -> list[list[Any]]:
    """The committee table's rows of some branches, with the committee's own deductions found
    in each: every case the branches may have held read (or replayed) once, each branch scored
    for each year. A share task (fanout): a worker may run it by name, its result is JSON."""
    from workflow.services.bulk import collector_paused
    branches = list(db.session.execute(db.select(Organisation).where(
        Organisation.id.in_(branch_ids)).order_by(Organisation.code)).scalars())
    with collector_paused():  # every case is kept until the last branch is scored
        held = _held_by(scored(set(branch_ids), as_of, years, replayed))
        planned = plan_deductions(branches, years, as_of)
        result = []
        courses = _trainings_of([b.id for b in branches])
        for b in branches:
            trainings = courses[b.id]
            mine = held.get(b.code, {})
            history = [rubric.score(b.code, y, as_of, mine, trainings, planned[b.code, y],
                                    explain=False) for y in years]
            result.append([_table_row(b, history),
                           [{**_deduction(d, english=True), "org": b.code,
                             "org_name": b.name}
                            for d in history[-1].committee]])
    return result


def score_everything(as_of: date, replayed: bool = False) -> int:
    """Every branch of every committee scored for as_of's year, as the committee table does
    (the benchmark's workload; `replayed`: from every history instead of the kept findings);
    the number of branches scored."""
    ids = list(db.session.execute(db.select(Organisation.id).where(
        Organisation.kind == "branch")).scalars())
    weights = None if replayed else findings_store.to_replay(ids, as_of)
    return sum(len(share) for share in fanout.over_branches(
        table_share, ids, [as_of.year], as_of, replayed, weights=weights))


def _held_by(replays: dict[int, rubric.Scored]) -> dict[str, dict[int, rubric.Scored]]:
    """Group cases by every branch that ever held them, so that scoring one branch looks only
    at its own cases (the rubric attributes each miss to one of these branches anyway)."""
    held: dict[str, dict[int, rubric.Scored]] = {}
    for case_id, r in replays.items():
        for code in {r.org, *(org for _, org in r.orgs)}:
            held.setdefault(code, {})[case_id] = r
    return held


def _table_row(branch: Organisation, history: list[rubric.Rubric]) -> dict[str, Any]:
    current = history[-1]
    trend = [{"year": r.year, "13": r.items["13"].score, "14": r.items["14"].score,
              "total": sum(i.score for i in r.items.values())} for r in history]
    return {"org": branch.code, "name": branch.name,
            "items": {k: {"max": i.max, "score": i.score, "deductions": len(i.deductions)}
                      for k, i in current.items.items()},
            "13": current.items["13"].score, "14": current.items["14"].score,
            "total": trend[-1]["total"], "max_total": sum(i.max for i in current.items.values()),
            "change": trend[-1]["total"] - trend[-2]["total"] if len(trend) > 1 else 0,
            "trend": trend, "committee": len(current.committee)}


def _sort(rows: list[dict[str, Any]], sort: str, direction: str) -> tuple[str, str]:
    """Sort in place by one column; ties keep the branch-code order so the table is stable."""
    sort = sort if sort in SORT_KEYS else "org"
    direction = "desc" if direction == "desc" else "asc"
    rows.sort(key=lambda r: r["org"])
    rows.sort(key=lambda r: r[sort], reverse=direction == "desc")
    return sort, direction


__all__ = ["alert_list", "branch_report", "branch_rubric", "committee_table", "rubric_view",
           "violation"]
