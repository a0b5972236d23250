"""A realistic demo: one committee, three branches, rosters, users and ~40 cases.

Every case is recorded through the same services the API uses, step by step, so the demo's
histories obey the same rules (violations are acknowledged with a reason, as a branch
secretary back-filling paper records would). Dates are placed relative to today so that
deadlines fall due in the coming weeks.
"""
from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from workflow.calendar import add_years
from workflow.persistence.db import db
from workflow.persistence.models import Organisation, StepRecordRow, User
from workflow.services import cases, directory, plans
from workflow.services.cases import decisions, documents
from workflow.services.clock import today
from workflow.services.errors import ServiceError
from workflow.steps import OCCUPATIONS, STEPS

COMMITTEE = ("C01", "城南街道党工委")
BRANCHES = [("B01", "机关第一党支部"), ("B02", "社区联合党支部"), ("B03", "非公企业党支部")]
PASSWORD = "Demo2026pass"
ACCOUNTS = [
    ("admin", "admin", "C01", "系统管理员"),
    ("organizer", "committee_organizer", "C01", "组织员 刘洋"),
    ("auditor", "auditor", "C01", "检查员 孙莉"),
    ("b01", "branch_secretary", "B01", "第一支部书记 周建国"),
    ("b02", "branch_secretary", "B02", "社区支部书记 吴秀兰"),
    ("b03", "branch_secretary", "B03", "非公支部书记 郑海"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力宁欣悦晨浩宇轩然"

# (step, days after the application, data); roster ids are filled in per branch.
TEMPLATE: list[tuple[str, int, dict[str, Any]]] = [
    ("applicant_interviewed", 14, {"interviewer": "支部委员"}),
    ("activist_designated", 45, {"method": "member_recommendation"}),
    ("activist_filed", 52, {}),
    ("cultivators_assigned", 52, {"cultivators": "C2"}),
    ("activist_assessed", 200, {"period": "H", "conclusion": "思想端正，表现良好"}),
    ("activist_assessed", 380, {"period": "H", "conclusion": "表现良好，可列为发展对象"}),
    ("candidate_designated", 415, {"opinions_heard": True}),
    ("candidate_filed", 420, {}),
    ("introducers_assigned", 424, {"introducers": "I2"}),
    ("political_review_concluded", 440, {"conclusion": "pass"}),
    ("candidate_trained", 447, {"hours": 24}),
    ("branch_committee_reviewed", 452, {"result": "pass"}),
    ("pre_review_decided", 460, {"decision": "approved", "comments": "同意，请按程序公示"}),
    ("public_notice_held", 472, {"objections": "none"}),
    ("application_form_completed", 474, {"form_number": "F"}),
    ("admission_voted", 480, {"vote": None}),
    ("committee_interviewed", 490, {"interviewer": "组织员 刘洋"}),
    ("admission_approved", 515, {"decision": "approved"}),
    ("admission_filed", 520, {}),
    ("group_assigned", 520, {"group": "第一党小组"}),
    ("oath_taken", 540, {}),
    ("probation_assessed", 600, {"period": "Q", "conclusion": "合格"}),
    ("probation_assessed", 690, {"period": "Q", "conclusion": "合格"}),
    ("probation_assessed", 780, {"period": "Q", "conclusion": "合格"}),
    ("conversion_requested", 815, {}),
    ("conversion_notice_held", 835, {"objections": "none"}),
    ("conversion_voted", 845, {"vote": None, "outcome": "convert"}),
    ("conversion_approved", 870, {"decision": "approved"}),
    ("file_archived", 880, {"archive_ref": "A"}),
]
# how many template steps each demo case has reached (0 = just applied), 40 cases
STOPS = [0, 0, 0, 1, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 12, 12, 13, 14, 15, 16, 16, 17, 18,
         19, 21, 21, 22, 23, 24, 25, 25, 26, 26, 27, 28, 28, 29, 29, 20]


def _org(code: str) -> Organisation | None:
    return db.session.execute(db.select(Organisation).filter_by(code=code)).scalar_one_or_none()


def _logins() -> list[str]:
    lines = ["演示账号（密码均为 %s）：" % PASSWORD]
    lines += [f"  {u:<10} {role:<20} {org}  {name}" for u, role, org, name in ACCOUNTS]
    return lines


def seed() -> list[str]:
    if _org(COMMITTEE[0]) is not None:
        return ["演示数据已存在，未重复加载。", *_logins()]
    rng = random.Random(20261129)
    directory.create_org(*COMMITTEE, kind="committee")
    for code, name in BRANCHES:
        directory.create_org(code, name, "branch", COMMITTEE[0])
    for username, role, org, name in ACCOUNTS:
        directory.create_user(username, PASSWORD, role, org, display_name=name)
    users = {u.username: u for u in db.session.execute(db.select(User)).scalars()}
    rosters = {code: _roster(users[f"b{code[1:]}"], code, rng) for code, _ in BRANCHES}
    # the organiser is on the committee's roster and decides as that member (named decisions)
    member = directory.add_roster_member(users["organizer"], COMMITTEE[0],
                                         {"name": "刘洋", "status": "full", "since": "2003-07-01"})
    directory.link_member("organizer", member["id"])
    _plans(users)
    for i, stop in enumerate(STOPS):
        code = BRANCHES[i % 3][0]
        _demo_case(i, stop, code, users, rosters[code], rng)
    return [f"已加载演示数据：1 个党工委、3 个党支部、{len(STOPS)} 个发展对象案件。", *_logins()]


# yearly development plans (quota, targets) for the last two years and this one; 非公企业党支部
# has none before this year, so its earlier admission votes show item 13's `no_plan`
PLANS = {"B01": (3, {"women": 1, "under_35": 2}), "B02": (2, {"front_line": 1}),
         "B03": (2, {})}
MEASURES = [("每季度召开一次入党积极分子座谈会，听取培养联系人汇报", "组织委员"),
            ("从青年骨干中推荐优秀分子，重点做好一线职工的培养", "支部书记")]


def _plans(users: dict[str, User]) -> None:
    year = today().year
    for code, (quota, targets) in PLANS.items():
        for y in (year - 2, year - 1, year):
            if code == "B03" and y < year:
                continue
            plan = plans.create(users["organizer"], {"org": code, "year": y, "quota": quota,
                                                     "targets": targets})
            if y == year and code == "B01":
                plans.adjust(users["organizer"], plan["id"], {
                    "quota": quota + 1, "targets": targets,
                    "reason": "上级党委追加一名发展名额（一线职工）"})
                for text, owner in MEASURES:
                    plans.add_measure(users["b01"], plan["id"], {
                        "text": text, "owner": owner, "due_on": date(year, 12, 31).isoformat()})


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _roster(secretary: User, code: str, rng: random.Random) -> list[int]:
    ids = []
    for k in range(8):
        since = date(1995 + k * 3, 7, 1)
        member = directory.add_roster_member(
            secretary, code, {"name": _name(rng), "status": "full", "since": since.isoformat()})
        ids.append(member["id"])
    directory.add_roster_member(secretary, code, {"name": _name(rng), "status": "probationary",
                                                  "since": (today() - timedelta(200)).isoformat()})
    return ids


def _vote(rng: random.Random, secret: bool = True) -> dict[str, Any]:
    eligible = rng.randint(9, 25)
    present = eligible - rng.randint(0, 3)
    return {"eligible": eligible, "present": present, "written": 0, "yes": present, "no": 0,
            "abstain": 0, "method": "secret_ballot" if secret else "show_of_hands"}


def _data(step: str, offset: int, raw: dict[str, Any], app: date, roster: list[int],
          rng: random.Random, mistakes: set[str]) -> dict[str, Any]:
    data = dict(raw)
    day = app + timedelta(offset)
    if "cultivators" in data:
        data["cultivators"] = roster[:2]
    if "introducers" in data:
        data["introducers"] = roster[2:4]
    if "period" in data:
        data["period"] = f"{day.year}{'H' if step == 'activist_assessed' else 'Q'}" + (
            str(1 + (day.month - 1) // 6) if step == "activist_assessed" else str(1 + (day.month - 1) // 3))
    if "vote" in data:
        data["vote"] = _vote(rng, secret="show_of_hands" not in mistakes)
    if step in ("activist_designated", "candidate_designated"):
        data["committee_meeting_on"] = (day - timedelta(2)).isoformat()
    if step == "candidate_trained":
        data |= {"start_on": (day - timedelta(4)).isoformat(), "end_on": (day - timedelta(2)).isoformat()}
    if step in ("public_notice_held", "conversion_notice_held"):
        short = "short_notice" in mistakes and step == "public_notice_held"
        data |= {"start_on": (day - timedelta(11)).isoformat(),
                 "end_on": (day - timedelta(9 if short else 2)).isoformat()}
    if step == "application_form_completed":
        data["form_number"] = f"{day.year}-{rng.randint(1, 999):03d}"
    if step == "file_archived":
        data["archive_ref"] = f"档-{day.year}-{rng.randint(1, 999):03d}"
    return data


def _demo_case(i: int, stop: int, code: str, users: dict[str, User], roster: list[int],
               rng: random.Random) -> None:
    secretary, organizer = users[f"b{code[1:]}"], users["organizer"]
    last_offset = TEMPLATE[stop - 1][1] if stop else 0
    app = today() - timedelta(last_offset + rng.randint(3, 25))
    mistakes = set(rng.sample(["late_interview", "show_of_hands", "short_notice", "no_docs",
                               "skip_assessment", "", "", "", "", ""], 2))
    birth = add_years(app, -rng.randint(19, 45)) - timedelta(rng.randint(0, 300))
    person = {"name": _name(rng), "gender": rng.choice(("male", "female")),
              "birth_date": birth.isoformat(), "education": rng.choice(("本科", "大专", "研究生")),
              "unit": rng.choice(("街道办事处", "社区居委会", "科技公司", "社区卫生服务中心"))}
    more = random.Random(i)  # its own sequence: the cases above stay what they were
    person["occupation"] = more.choice(list(OCCUPATIONS))
    person["ethnicity"] = more.choice(("汉族", "汉族", "汉族", "回族", "满族"))
    case = cases.open_case(secretary, code, person, app.isoformat(), True, "演示数据：补录纸质档案")
    _attach(secretary, case["id"], mistakes)
    for step, offset, raw in TEMPLATE[:stop]:
        if step == "activist_assessed" and "skip_assessment" in mistakes and offset == 200:
            continue
        offset += 20 if step == "applicant_interviewed" and "late_interview" in mistakes else 0
        actor = organizer if STEPS[step].recorder.value == "committee" else secretary
        data = _data(step, offset, raw, app, roster, rng, mistakes)
        try:
            cases.record_step(actor, case["id"], step, (app + timedelta(offset)).isoformat(), data,
                              acknowledge=True, reason="演示数据：补录纸质档案",
                              origin=decisions.CLI)
        except ServiceError:
            db.session.rollback()
            break
        _attach(actor, case["id"], mistakes)


def _attach(actor: User, case_id: int, mistakes: set[str]) -> None:
    row = db.session.execute(db.select(StepRecordRow).filter_by(case_id=case_id)
                             .order_by(StepRecordRow.id.desc()).limit(1)).scalar_one()
    for k, doc_type in enumerate(STEPS[row.step].documents):
        if "no_docs" in mistakes and k == 0 and row.id % 3 == 0:
            continue
        documents.mark_on_file(actor, case_id, {"doc_type": doc_type, "step_record_id": row.id,
                                                "on_file": True, "reference": f"档案柜 {case_id}-{row.id}"})
