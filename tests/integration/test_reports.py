"""The rubric through the API and the services: scored to the point from recorded histories,
recomputed on every request, the committee table, and the annual statistics."""
from __future__ import annotations

from datetime import date

import pytest

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.helpers import drive, open_case, plan_year, post_step
from tests.unit.builders import HAPPY, PERSON, ROSTER, build, edit, until
from workflow.persistence.db import db
from workflow.persistence.models import User
from workflow.replay import replay
from workflow.services import reports
from workflow.services.reports import statistics
from workflow.services.errors import BadRequest, NotFound
from workflow.steps import STEPS

pytestmark = pytest.mark.db


@pytest.fixture
def pin(ctx, monkeypatch):
    """Pin the services' today: documents are attached "today" and count from that day on."""
    def set_day(day: str) -> None:
        monkeypatch.setitem(ctx.config, "TODAY", day)
    set_day("2026-01-15")
    return set_day


def steps_of(world, case_id: int) -> list[dict]:
    return world.get("org", f"/api/v1/cases/{case_id}").json["steps"]


def attach_all(world, case_id: int, *, skip: tuple[str, ...] = ()) -> None:
    """Register every listed document of every recorded step as a paper original on file."""
    for s in steps_of(world, case_id):
        for doc in STEPS[s["step"]].documents:
            if doc in skip:
                continue
            who = "org" if STEPS[s["step"]].recorder.value == "committee" else "sec1"
            r = world.post(who, f"/api/v1/cases/{case_id}/documents",
                           {"step_record_id": s["id"], "doc_type": doc, "on_file": True,
                            "reference": "档案柜 A-3"})
            assert r.status_code == 201, r.json


def record_all(world, case_id: int, entries) -> None:
    """Record entries[1:], acknowledging whatever violation they bring (it happened)."""
    for step, on, data in entries[1:]:
        r = post_step(world, case_id, step, on, data, acknowledge=True, reason="按实际情况补录")
        assert r.status_code == 201, (step, r.json)


def rubric(world, who="org", org="B1", year=2023, as_of=None) -> dict:
    url = f"/api/v1/rubric?org={org}&year={year}" + (f"&as_of={as_of}" if as_of else "")
    r = world.get(who, url)
    assert r.status_code == 200, r.json
    return r.json


def step_id(world, case_id: int, step: str) -> int:
    return next(s["id"] for s in steps_of(world, case_id) if s["step"] == step)


def actor(name: str) -> User:
    return db.session.execute(db.select(User).filter_by(username=name)).scalar_one()


# --- recomputed from history, paperwork ------------------------------------------------------

def test_paperwork_deduction_disappears_when_the_document_is_attached(world, pin):
    case = open_case(world)
    drive(world, case["id"], until="activist_assessed")
    pin("2026-01-10")
    attach_all(world, case["id"], skip=("interview_record",))
    pin("2026-01-15")
    before = rubric(world)
    interview = step_id(world, case["id"], "applicant_interviewed")
    assert before["items"]["13"]["score"] == 4
    assert [(d["kind"], d["case_id"], d["rule"], d["step_record_id"], d["points"])
            for d in before["items"]["13"]["deductions"]] == [
        ("paperwork", case["id"], "documents_complete", interview, 1)]
    assert "谈话记录" in before["items"]["13"]["deductions"][0]["fix"]
    r = world.post("sec1", f"/api/v1/cases/{case['id']}/documents",
                   {"step_record_id": interview, "doc_type": "interview_record", "on_file": True,
                    "reference": "档案柜 A-3"})
    assert r.status_code == 201
    after = rubric(world)
    assert after["items"]["13"] == {"max": 5, "score": 5, "deductions": []}
    # the document counts from the day it was registered, not before
    assert rubric(world, as_of="2026-01-14")["items"]["13"]["score"] == 4


def test_the_rubric_is_recomputed_from_history_on_every_request(world, pin):
    """No stored score: the API, the committee table and the branch report all follow the
    history the moment it changes, and each equals a fresh replay of that history."""
    case = open_case(world)
    drive(world, case["id"], until="activist_assessed")
    attach_all(world, case["id"])
    org, as_of = actor("org"), date(2026, 1, 15)

    def everywhere() -> set[int]:
        api = rubric(world)
        assert api == reports.system_rubric("B1", 2023, as_of)
        return {api["items"]["13"]["score"],
                reports.committee_table(org, None, 2023, as_of)["rows"][0]["13"],
                reports.branch_report(org, "B1", 2023, as_of)["items"]["13"]["score"]}

    assert everywhere() == {5}
    extra = post_step(world, case["id"], "activist_assessed", "2023-12-20",
                      {"period": "2023H2", "conclusion": "表现良好"})
    assert extra.status_code == 201, extra.json
    assert everywhere() == {4}
    assert [d["step_record_id"] for d in rubric(world)["items"]["13"]["deductions"]] == [
        extra.json["step"]["id"]]
    assert world.post("sec1", f"/api/v1/cases/{case['id']}/documents",
                      {"step_record_id": extra.json["step"]["id"], "doc_type": "assessment_record",
                       "on_file": True, "reference": "档案柜 A-3"}).status_code == 201
    assert everywhere() == {5}


# --- committee responsibility, floors, overdue conversion ------------------------------------

def test_a_committee_late_approval_costs_the_branch_nothing(world, pin):
    e = edit(HAPPY, "admission_approved", "2024-09-13")  # vote 2024-06-12: due 2024-09-12
    for step in ("admission_filed", "group_assigned", "oath_taken"):
        e = edit(e, step, "2024-09-15")
    case = open_case(world)
    record_all(world, case["id"], e)
    attach_all(world, case["id"])
    plan_year(world)
    r = rubric(world, year=2024)
    assert (r["items"]["13"]["score"], r["items"]["14"]["score"]) == (5, 3)
    assert r["items"]["13"]["deductions"] == []
    approval = step_id(world, case["id"], "admission_approved")
    assert [(d["rule"], d["step_record_id"], d["points"], d["on"]) for d in r["committee"]] == [
        ("approval_within_three_months", approval, 2, "2024-09-12")]
    table = reports.committee_table(actor("org"), "C", 2024, date(2026, 1, 15))
    assert [(d["org"], d["rule"], d["case_id"]) for d in table["committee"]] == [
        ("B1", "approval_within_three_months", case["id"])]
    assert [(row["org"], row["total"]) for row in table["rows"]] == [("B1", 8), ("B2", 8)]


def test_item_13_floors_at_zero(world, pin):
    case = open_case(world)
    drive(world, case["id"], until="admission_voted")  # nothing attached
    r = rubric(world, year=2024)
    branch_papers = [d for d in r["items"]["13"]["deductions"] if d["kind"] == "paperwork"]
    assert len(branch_papers) == 8 and sum(d["points"] for d in branch_papers) == 8
    assert r["items"]["13"]["score"] == 0
    # the committee's own misses (papers of training and pre-review, the approval never made)
    # are listed for the committee and not in the branch's 8 points
    assert sorted(d["rule"] for d in r["committee"]) == [
        "approval_within_three_months", "documents_complete", "documents_complete"]


def test_item_14_floors_at_zero(world, pin):
    ids = []
    for _ in range(4):
        case = open_case(world)
        drive(world, case["id"], until="activist_assessed")
        ids.append(case["id"])
    r = world.post("org", "/api/v1/trainings", {"title": "2023年秋季入党积极分子培训班",
                                                "start_on": "2023-10-09", "end_on": "2023-10-11",
                                                "hours": 24, "invitees": ids})
    assert r.status_code == 201, r.json
    for case_id in ids[:2]:
        a = world.post("org", f"/api/v1/trainings/{r.json['id']}/attendance",
                       {"case_id": case_id, "attended": False})
        assert a.status_code == 201, a.json
    got = rubric(world, as_of="2023-12-31")["items"]["14"]
    assert got["score"] == 0
    assert [(d["kind"], d["case_id"], d["points"]) for d in got["deductions"]] == [
        ("training_absence", i, 1) for i in ids]
    assert rubric(world, as_of="2023-10-11")["items"]["14"]["score"] == 3  # not ended yet


def test_the_table_reads_each_branchs_courses_as_its_rubric_does(world, pin):
    """The committee table reads the courses of every branch at once (`_trainings_of`): each
    branch's item 14 is its own absences, as the branch's rubric counts them."""
    _b2_case(world)  # B2 has a case, not invited
    invited = []
    for _ in range(3):
        case = open_case(world)
        drive(world, case["id"], until="activist_assessed")
        invited.append(case["id"])
    for title, start, end in (("秋季班", "2023-10-09", "2023-10-11"),
                              ("冬季班", "2023-11-06", "2023-11-08")):
        r = world.post("org", "/api/v1/trainings", {"title": title, "start_on": start,
                                                    "end_on": end, "hours": 24,
                                                    "invitees": invited})
        assert r.status_code == 201, r.json
    table = reports.committee_table(actor("org"), None, 2023, date(2023, 12, 31))
    by_org = {row["org"]: row for row in table["rows"]}
    for branch in ("B1", "B2"):
        api = rubric(world, org=branch, as_of="2023-12-31")["items"]["14"]
        assert by_org[branch]["items"]["14"] == {
            "max": 3, "score": api["score"], "deductions": len(api["deductions"])}
    assert (by_org["B1"]["14"], by_org["B2"]["14"]) == (0, 3)  # six absences in B1


def test_an_overdue_conversion_zeroes_item_13(world, pin):
    pin("2025-07-12")
    e = until(HAPPY, "conversion_notice_held") + [
        ("probation_assessed", "2025-06-30", {"period": "2025Q2", "conclusion": "合格"})]
    case = open_case(world)
    record_all(world, case["id"], e)
    attach_all(world, case["id"])
    on_time = rubric(world, year=2025, as_of="2025-07-12")["items"]["13"]
    assert on_time == {"max": 5, "score": 5, "deductions": []}
    late = rubric(world, year=2025, as_of="2025-07-13")["items"]["13"]
    assert late["score"] == 0
    assert [(d["kind"], d["rule"], d["step_record_id"], d["points"], d["on"])
            for d in late["deductions"]] == [
        ("overdue_conversion", "conversion_vote_on_time", None, 5, "2025-07-12")]


# --- the committee table ---------------------------------------------------------------------

def three_cases(world) -> tuple[int, int]:
    """A B1 case driven to the end with one kind of paper missing, a late B2 case (`_b2_case`)
    and a late B1 case transferred to B2: (the driven case, the moved case)."""
    case = open_case(world)
    drive(world, case["id"])
    attach_all(world, case["id"], skip=("assessment_record",))
    _b2_case(world)
    moved = open_case(world)
    assert post_step(world, moved["id"], "applicant_interviewed", "2023-04-05",
                     {"interviewer": "张伟"}, acknowledge=True, reason="补录").status_code == 201
    assert post_step(world, moved["id"], "case_transferred", "2023-06-01",
                     {"to_branch": "B2"}).status_code == 201
    return case["id"], moved["id"]


def _b2_case(world) -> int:
    """A B2 case whose interview was late in 2023 (−2) and has no papers (−1 per step: 1 left)."""
    r = world.post("sec2", "/api/v1/cases", {"branch": "B2", "person": {**PERSON, "name": "李娜"},
                                             "application_date": "2023-03-01"})
    assert r.status_code == 201
    late = post_step(world, r.json["id"], "applicant_interviewed", "2023-04-05",
                     {"interviewer": "王芳"}, who="sec2", acknowledge=True, reason="补录")
    assert late.status_code == 201
    return r.json["id"]  # type: ignore[no-any-return]


def test_committee_table_rows_trend_and_sorting_agree_with_the_api(world, pin):
    case = open_case(world)
    drive(world, case["id"])
    attach_all(world, case["id"], skip=("assessment_record",))  # −1 per assessment step
    _b2_case(world)
    plan_year(world)
    org = actor("org")
    table = reports.committee_table(org, None, 2024, date(2026, 1, 15))
    assert table["years"] == [2022, 2023, 2024] and table["org"] == "C"
    for row in table["rows"]:
        for t in row["trend"]:
            api = rubric(world, org=row["org"], year=t["year"])
            assert (t["13"], t["14"]) == (api["items"]["13"]["score"], api["items"]["14"]["score"])
    by_org = {r["org"]: r for r in table["rows"]}
    assert [t["total"] for t in by_org["B1"]["trend"]] == [8, 7, 5]  # 2023: one, 2024: three
    assert [t["total"] for t in by_org["B2"]["trend"]] == [8, 4, 8]
    assert (by_org["B1"]["change"], by_org["B2"]["change"]) == (-2, 4)
    ordered = reports.committee_table(org, None, 2024, date(2026, 1, 15), "total", "asc")
    assert [r["org"] for r in ordered["rows"]] == ["B1", "B2"]
    ordered = reports.committee_table(org, None, 2024, date(2026, 1, 15), "change", "asc")
    assert [r["org"] for r in ordered["rows"]] == ["B1", "B2"]
    ordered = reports.committee_table(org, None, 2024, date(2026, 1, 15), "total", "desc")
    assert [r["org"] for r in ordered["rows"]] == ["B2", "B1"]
    bogus = reports.committee_table(org, None, 2024, date(2026, 1, 15), "drop table", "sideways")
    assert (bogus["sort"], bogus["dir"]) == ("org", "asc")


def test_committee_table_counts_a_transferred_case_for_each_branch_that_held_it(world, pin):
    case = open_case(world)
    assert post_step(world, case["id"], "applicant_interviewed", "2023-04-05",
                     {"interviewer": "张伟"}, acknowledge=True, reason="补录").status_code == 201
    moved = post_step(world, case["id"], "case_transferred", "2023-06-01", {"to_branch": "B2"})
    assert moved.status_code == 201, moved.json
    assert post_step(world, case["id"], "activist_designated", "2023-07-10",
                     {"method": "member_recommendation", "committee_meeting_on": "2023-07-08"},
                     who="sec2").status_code == 201
    table = reports.committee_table(actor("org"), None, 2023, date(2026, 1, 15))
    for row in table["rows"]:
        api = rubric(world, org=row["org"])
        assert (row["13"], row["14"]) == (api["items"]["13"]["score"], api["items"]["14"]["score"])
    assert [(r["org"], r["13"]) for r in table["rows"]] == [("B1", 1), ("B2", 4)]


def test_committee_table_scope(world, pin):
    _b2_case(world)
    as_of = date(2026, 1, 15)

    def rows(who: str) -> list[str]:
        return [r["org"] for r in reports.committee_table(actor(who), None, 2023, as_of)["rows"]]

    assert (rows("sec1"), rows("aud"), rows("org2")) == (["B1"], ["B1", "B2"], ["B3"])
    with pytest.raises(NotFound):
        reports.committee_table(actor("sec1"), "C", 2023, as_of)
    with pytest.raises(NotFound):
        reports.committee_table(actor("org2"), "C", 2023, as_of)
    with pytest.raises(BadRequest):
        reports.committee_table(actor("org"), None, "twenty", as_of)


# --- annual development statistics -----------------------------------------------------------

def test_annual_statistics_per_branch_and_total(world, pin):
    full = open_case(world)
    drive(world, full["id"], until="activist_assessed")
    t = world.post("org", "/api/v1/trainings", {"title": "培训班", "start_on": "2023-10-09",
                                                "end_on": "2023-10-11", "hours": 24,
                                                "invitees": [full["id"]]}).json
    assert world.post("org", f"/api/v1/trainings/{t['id']}/attendance",
                      {"case_id": full["id"], "attended": True}).status_code == 201
    rest = [e for e in HAPPY if e[1] > "2023-09-30"]
    for step, on, data in rest:
        assert post_step(world, full["id"], step, on, data).status_code == 201, step
    b2 = _b2_case(world)
    assert post_step(world, b2, "activist_designated", "2023-05-10",
                     {"method": "member_recommendation", "committee_meeting_on": "2023-05-08"},
                     who="sec2").status_code == 201
    org = actor("org")
    counts = {y: statistics.annual(org, None, y, date(2026, 1, 15)) for y in (2023, 2024, 2025)}
    row = {y: {r["org"]: {k: v for k, v in r.items() if k not in ("org", "name")}
               for r in s["rows"]} for y, s in counts.items()}
    zero = dict.fromkeys([c for c, _ in statistics.COLUMNS], 0)
    assert row[2023]["B1"] == {**zero, "activists_designated": 1, "activists_trained": 1}
    assert row[2023]["B2"] == {**zero, "activists_designated": 1}
    assert counts[2023]["total"] == {**zero, "activists_designated": 2, "activists_trained": 1}
    assert row[2024]["B1"] == {**zero, "candidates_designated": 1, "admitted": 1}
    assert row[2025]["B1"] == {**zero, "converted": 1}
    mine = statistics.annual(actor("sec2"), None, 2023, date(2026, 1, 15))
    assert [r["org"] for r in mine["rows"]] == ["B2"]


def test_statistics_count_a_step_for_the_branch_holding_the_case_that_day():
    e = HAPPY[:8] + [("case_transferred", "2024-04-01", {"to_branch": "B2"})]
    e = sorted(e, key=lambda x: x[1])  # transferred before candidacy (2024-04-15)
    h = build(e)
    r = replay(h.records, date(2024, 12, 31), documents=h.documents, roster=ROSTER)
    assert statistics.count({1: r}, ["B1", "B2"], 2023)["B1"]["activists_designated"] == 1
    counted = statistics.count({1: r}, ["B1", "B2"], 2024)
    assert [counted[b]["candidates_designated"] for b in ("B1", "B2")] == [0, 1]


def test_an_extension_is_not_a_conversion():
    e = until(HAPPY, "conversion_notice_held") + [
        ("probation_assessed", "2025-06-30", {"period": "2025Q2", "conclusion": "合格"}),
        ("conversion_voted", "2025-07-01", {"vote": HAPPY[-3][2]["vote"], "outcome": "extend",
                                            "extend_months": 6}),
        ("conversion_approved", "2025-07-10", {"decision": "approved"})]
    h = build(e)
    r = replay(h.records, date(2025, 12, 31), documents=h.documents, roster=ROSTER)
    assert r.valid, r.invalid
    assert statistics.count({1: r}, ["B1"], 2025)["B1"]["converted"] == 0
