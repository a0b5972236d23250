"""Records in and out through the services: Excel round trip, refusals, idempotence, XES.

The round trip is the contract of the import format: a branch's cases exported to Excel and
imported into an empty database replay to the same state, violations and deadlines.
"""
from __future__ import annotations

import io
from datetime import date
from xml.etree import ElementTree as ET

import pytest
from openpyxl import load_workbook

from tests.conftest import _empty_tables
from tests.integration.conftest import PASSWORD
from tests.integration.helpers import drive, open_case, post_step
from tests.unit.builders import HAPPY, PERSON, ROSTER, build, edit, vote
from workflow.persistence.db import db
from workflow.persistence.models import Case, Document, StepRecordRow, User, ViolationRow
from workflow.services.interchange import excel_export as case_export, excel_import as imports
from workflow.services import directory
from workflow.services.errors import BadRequest, Forbidden, NotFound
from workflow.steps import STEPS, id_number_valid

pytestmark = pytest.mark.db
AS_OF = "2025-08-01"
NAMES = {i: m.name for i, m in ROSTER.items()}


def user(name: str) -> User:
    return db.session.execute(db.select(User).filter_by(username=name)).scalar_one()


def counts() -> tuple[int, ...]:
    return tuple(db.session.execute(db.select(db.func.count()).select_from(t)).scalar()
                 for t in (Case, StepRecordRow, ViolationRow, Document))


def book(people: list[tuple[dict, list[dict]]]) -> bytes:
    return case_export.import_workbook(people)


def happy_row(entries=HAPPY, person=PERSON, applied="2023-03-01", papers="") -> tuple:
    records = build(entries).records
    return case_export.person_rows(person, date.fromisoformat(applied), records, NAMES, papers)


def snapshot(world, case_id: int) -> dict:
    """What must survive a round trip: state, violations and deadlines (ids aside)."""
    c = world.get("org", f"/api/v1/cases/{case_id}?as_of={AS_OF}").json
    steps = {s["id"]: s["step"] for s in c["steps"]}
    names = {m["id"]: m["name"] for m in world.get("org", "/api/v1/orgs/B1/roster").json["items"]}

    def named(data: dict) -> str:  # roster ids differ between databases; names do not
        return repr(sorted((k, [names[i] for i in v] if k in ("cultivators", "introducers")
                            else v) for k, v in data.items()))

    return {"stage": c["stage"], "state": c["state"],
            "violations": sorted((v["rule"], steps.get(v["step_record_id"]), v["on"],
                                  v["due_on"] or "", v["responsible"], v["detail"])
                                 for v in c["violations"]),
            "deadlines": sorted((d["rule"], d["kind"], d["due_on"], d["status"])
                                for d in c["deadlines"]),
            "steps": sorted((s["step"], s["occurred_on"], named(s["data"]))
                            for s in c["steps"] if s["step"] != "step_corrected")}


def _branch_cases(world) -> dict[str, int]:
    """B1's cases: a full member with papers on file, a failed then passed admission vote,
    a late interview with five assessments (spills into 续表), a correction, a closed case."""
    ids = {}
    ids["陈晓"] = open_case(world)["id"]
    drive(world, ids["陈晓"])
    for s in world.get("sec1", f"/api/v1/cases/{ids['陈晓']}").json["steps"][:3]:
        for doc in STEPS[s["step"]].documents:
            world.post("sec1", f"/api/v1/cases/{ids['陈晓']}/documents",
                       {"step_record_id": s["id"], "doc_type": doc, "on_file": True,
                        "reference": "档案柜 A-3"})
    ids["王磊"] = open_case(world, person={**PERSON, "name": "王磊"})["id"]
    drive(world, ids["王磊"], until="application_form_completed")
    assert post_step(world, ids["王磊"], "admission_voted", "2024-06-12",
                     {"vote": vote(yes=4, no=5)}).status_code == 201
    assert post_step(world, ids["王磊"], "admission_voted", "2024-07-02",
                     {"vote": vote()}).status_code == 201
    ids["李娜"] = open_case(world, person={**PERSON, "name": "李娜"})["id"]
    late = edit(HAPPY, "applicant_interviewed", "2023-04-05")
    late = late[:7] + [("activist_assessed", d, {"period": p, "conclusion": "合格"}) for d, p in (
        ("2023-06-30", "2023H1"), ("2023-12-30", "2023H2"), ("2024-01-30", "2024H1"))] + late[7:8]
    for step, on, data in late[1:]:
        r = post_step(world, ids["李娜"], step, on, data, acknowledge=True, reason="补录")
        assert r.status_code == 201, (step, r.json)
    ids["赵雷"] = open_case(world, person={**PERSON, "name": "赵雷", "gender": "male"})["id"]
    r = post_step(world, ids["赵雷"], "applicant_interviewed", "2023-03-20", {"interviewer": "张伟"})
    post_step(world, ids["赵雷"], "step_corrected", "2023-03-21",
              {"corrects": r.json["step"]["id"], "fields": {"occurred_on": "2023-03-18"},
               "reason": "日期录错"})
    ids["孙丽"] = open_case(world, person={**PERSON, "name": "孙丽"})["id"]
    assert post_step(world, ids["孙丽"], "case_closed", "2023-06-01",
                     {"reason": "withdrawn"}).status_code == 201
    return ids


def _fresh_world() -> None:
    """An empty database with the same branch, secretary and roster names (new ids)."""
    from workflow.persistence.models import Organisation
    _empty_tables()
    directory.create_org("C", "测试党委", "committee")
    directory.create_org("B1", "第一党支部", "branch", "C")
    directory.create_user("sec1", PASSWORD, "branch_secretary", "B1")
    directory.create_user("org", PASSWORD, "committee_organizer", "C")
    b1 = db.session.execute(db.select(Organisation).filter_by(code="B1")).scalar_one()
    for name, status, since in (("李强", "full", "2010-07-01"), ("王芳", "full", "2005-07-01"),
                                ("张伟", "full", "2000-01-01"),
                                ("赵敏", "probationary", "2024-01-01")):
        directory.add_roster_member(user("sec1"), b1.code, {"name": name, "status": status,
                                                             "since": since})


def test_round_trip_replays_every_case_to_the_same_state(world):
    ids = _branch_cases(world)
    before = {name: snapshot(world, case_id) for name, case_id in ids.items()}
    assert before["王磊"]["state"].startswith("candidate")
    assert any(v[0] == "interview_within_one_month" for v in before["李娜"]["violations"])
    data = case_export.export_import_format(user("sec1"), branch="B1")
    wb = load_workbook(io.BytesIO(data))
    assert wb["案件"].max_row == 6 and wb["续表"].max_row >= 3  # 2nd vote, 4th/5th assessment

    _fresh_world()
    world.tokens["org"] = directory.create_token("org")
    report = imports.confirm(user("org"), data, "B1")  # it holds the committee's steps
    assert report["counts"] == {"new": 5, "existing": 0, "refused": 0}
    after = {c.person_name: snapshot(world, c.id)
             for c in db.session.execute(db.select(Case)).scalars()}
    for name in ids:
        assert after[name] == before[name], name
    paper = db.session.execute(db.select(Document).filter_by(reference="档案柜 A-3")).scalars()
    assert {d.case_id for d in paper} == {c.id for c in db.session.execute(
        db.select(Case).filter_by(person_name="陈晓")).scalars()}

    written = counts()
    again = imports.confirm(user("org"), data, "B1")
    assert again["counts"] == {"new": 0, "existing": 5, "refused": 0}
    assert counts() == written


def test_import_records_violations_with_the_import_reason(world):
    late = edit(HAPPY, "applicant_interviewed", "2023-04-05")[:3]
    data = book([happy_row(late)])
    report = imports.preview(user("sec1"), data)
    assert report["ok"] and counts() == (0, 0, 0, 0)
    row = report["rows"][0]
    assert row["status"] == "new" and [s["label"] for s in row["steps"]] == [
        "递交入党申请书", "党组织派人谈话", "推荐和确定入党积极分子"]
    assert "一个月" in row["steps"][1]["violations"][0]
    imports.confirm(user("sec1"), data)
    acks = db.session.execute(db.select(ViolationRow)).scalars().all()
    assert acks and {a.reason for a in acks} == {"历史档案导入"}
    rows = db.session.execute(db.select(StepRecordRow).order_by(StepRecordRow.id)).scalars().all()
    assert [r.recorded_by_role for r in rows] == ["branch"] * 3


def test_committee_steps_are_stored_as_committee_records(world):
    imports.confirm(user("org"), book([happy_row()]), "B1")
    rows = db.session.execute(db.select(StepRecordRow)).scalars().all()
    roles = {r.step: r.recorded_by_role for r in rows}
    assert roles["admission_approved"] == "committee" and roles["oath_taken"] == "branch"
    assert {r.recorded_by_id for r in rows} == {user("org").id}  # who typed the archive in
    case = db.session.execute(db.select(Case)).scalar_one()
    assert case.stage == "full_member" and case.branch.code == "B1"


def test_a_branch_cannot_put_the_committees_decisions_on_record_by_import(world):
    """A secretary's file with a pre-review or an approval in it would otherwise record a
    decision the committee never took: every committee cell is refused, nothing written."""
    with pytest.raises(imports.ImportRefused) as refused:
        imports.confirm(user("sec1"), book([happy_row()]))
    problems = refused.value.report["problems"]
    columns = {p["column"] for p in problems}
    assert {"上级党委预审日期", "上级党委审批日期"} <= columns, columns
    assert all(p["row"] == 2 and "上级党委组织员导入" in p["message"] for p in problems)
    assert counts() == (0, 0, 0, 0)
    # the branch's own steps still import, by the branch
    assert imports.confirm(user("sec1"), book([happy_row(HAPPY[:3])]))["counts"]["new"] == 1


def _broken_file() -> bytes:
    good = happy_row()
    bad_date = happy_row(person={**PERSON, "name": "甲"})
    bad_date[0]["党组织派人谈话日期"] = "2023-02-30"
    unknown = happy_row(person={**PERSON, "name": "乙"})
    unknown[0]["指定培养联系人·培养联系人"] = "张伟、钱多多"
    votes = happy_row(person={**PERSON, "name": "丙"})
    votes[0]["支部大会讨论表决·实到人数"] = 12
    assert not id_number_valid("110101199505011234")
    id_number = happy_row(person={**PERSON, "name": "丁", "id_number": "110101199505011234"})
    too_early = happy_row(person={**PERSON, "name": "戊"})
    too_early[0]["上级党委审批日期"] = date(2024, 6, 1)
    return book([good, bad_date, unknown, votes, id_number, too_early])


def test_broken_rows_refuse_the_whole_file_with_a_precise_report(world):
    with pytest.raises(imports.ImportRefused) as refused:
        imports.confirm(user("org"), _broken_file(), "B1")
    problems = {(p["sheet"], p["row"], p["column"]): p["message"]
                for p in refused.value.report["problems"]}
    assert {row for _, row, _ in problems} == {3, 4, 5, 6, 7}  # row 2 is fine, yet not written
    assert {("案件", 3, "党组织派人谈话日期"), ("案件", 4, "指定培养联系人·培养联系人"),
            ("案件", 5, "支部大会讨论表决·实到人数"), ("案件", 6, "身份证号码"),
            ("案件", 7, "上级党委审批日期")} <= set(problems)
    assert "不是有效日期" in problems[("案件", 3, "党组织派人谈话日期")]
    assert "钱多多" in problems[("案件", 4, "指定培养联系人·培养联系人")]
    assert "超过应到人数" in problems[("案件", 5, "支部大会讨论表决·实到人数")]
    assert "校验位" in problems[("案件", 6, "身份证号码")]
    assert "阶段" in problems[("案件", 7, "上级党委审批日期")]
    assert counts() == (0, 0, 0, 0)


def test_continuation_rows_must_name_a_person_of_the_main_sheet(world):
    main, _ = happy_row()
    stray = {"姓名": "无名", "出生日期": date(1990, 1, 1), "申请日期": date(2023, 1, 1),
             "培养教育考察1日期": date(2023, 9, 1)}
    with pytest.raises(imports.ImportRefused) as refused:
        imports.confirm(user("org"), book([(main, [stray])]), "B1")
    assert [(p["sheet"], p["row"], p["column"]) for p in refused.value.report["problems"]] == [
        ("续表", 2, "姓名")]
    assert counts() == (0, 0, 0, 0)


def test_a_secretary_imports_into_their_branch_an_organiser_into_a_branch_they_oversee(world):
    data = book([happy_row(HAPPY[:3])])
    for who in ("aud", "admin"):
        with pytest.raises(Forbidden):
            imports.preview(user(who), data)
    with pytest.raises(BadRequest):
        imports.preview(user("org"), data)  # which branch's archive: the organiser must say
    for who, branch in (("org", "B3"), ("org", "C"), ("org", "ZZ"), ("org2", "B1"),
                        ("sec1", "B2")):
        with pytest.raises(NotFound):
            imports.preview(user(who), data, branch)
    assert imports.preview(user("sec1"), data, "B1")["ok"]
    assert imports.preview(user("org"), data, "B2")["branch"] == "B2"


def test_not_a_workbook_is_refused_readably(world):
    with pytest.raises(imports.Invalid) as refused:
        imports.preview(user("sec1"), b"not an excel file")
    assert "xlsx" in refused.value.message


def test_events_xes_holds_every_step_of_every_case(world):
    ids = _branch_cases(world)
    r = world.get("org", "/api/v1/export/events.xes?org=B1")
    assert r.status_code == 200
    root = ET.fromstring(r.data)
    traces = {t.find("string[@key='concept:name']").get("value"): t for t in root.findall("trace")}
    assert set(traces) == {str(i) for i in ids.values()}
    for case_id in ids.values():
        steps = world.get("org", f"/api/v1/cases/{case_id}").json["steps"]
        events = traces[str(case_id)].findall("event")
        assert sorted(e.find("string[@key='concept:name']").get("value") for e in events) == \
            sorted(s["step"] for s in steps)
        stamps = [e.find("date[@key='time:timestamp']").get("value") for e in events]
        assert stamps == sorted(stamps)
    assert world.get("sec2", "/api/v1/export/events.xes?org=B1").status_code == 404


def test_reimport_of_an_extended_row_changes_nothing_and_says_so(world):
    imports.confirm(user("sec1"), book([happy_row(HAPPY[:3])]))
    written = counts()
    report = imports.confirm(user("sec1"), book([happy_row(HAPPY[:5])]))
    assert report["counts"]["existing"] == 1 and counts() == written
    assert "2 个步骤不在该案件中" in report["rows"][0]["note"]


def test_a_person_entered_by_hand_is_not_imported_twice(world):
    case = open_case(world)
    drive(world, case["id"], until="activist_designated")
    report = imports.confirm(user("sec1"), book([happy_row(HAPPY[:3])]))
    assert report["rows"][0]["status"] == "existing" and report["rows"][0]["case_id"] == case["id"]
