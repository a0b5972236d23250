"""Corrections people can make from the case page, and whose original stays readable: each
history entry opens its own step's form prefilled, with a required reason; the correction is a
new record and the record as first written is shown beside it and in the API."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.helpers import drive, open_case, post_step
from tests.unit.builders import HAPPY
from tests.web.test_pages import _csrf, login
from workflow.persistence.db import db
from workflow.persistence.models import StepRecordRow

pytestmark = pytest.mark.db


def _interview(world):
    case = open_case(world, date=HAPPY[0][1])
    drive(world, case["id"], until="applicant_interviewed")
    steps = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"]
    record = next(s for s in steps if s["step"] == "applicant_interviewed")
    return case["id"], record


def _rows() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(StepRecordRow)).scalar_one()


def test_the_case_page_offers_a_correction_that_opens_the_steps_own_form(world):
    case_id, record = _interview(world)
    login(world.client, "sec1")
    page = world.client.get(f"/cases/{case_id}").text
    url = f"/cases/{case_id}/records/{record['id']}/correct"
    assert url in page
    form = world.client.get(url).text
    assert record["data"]["interviewer"] in form  # prefilled with what the record says
    assert record["occurred_on"] in form and "更正原因" in form


def test_correcting_ones_own_record_keeps_the_original_readable(world):
    case_id, record = _interview(world)
    old_name, old_day = record["data"]["interviewer"], record["occurred_on"]
    login(world.client, "sec1")
    url = f"/cases/{case_id}/records/{record['id']}/correct"
    token = _csrf(world.client.get(url).text)
    r = world.client.post(url, data={"csrf_token": token, "occurred_on": "2023-03-20",
                                     "data_interviewer": "王芳（支部委员）",
                                     "correction_reason": "谈话人和日期录入有误"})
    assert r.status_code == 302, r.text
    got = world.get("sec1", f"/api/v1/cases/{case_id}").json
    step = next(s for s in got["steps"] if s["id"] == record["id"])
    assert step["corrected"] and step["data"]["interviewer"] == "王芳（支部委员）"
    assert step["occurred_on"] == "2023-03-20"
    assert step["original"] == {"occurred_on": old_day, "data": {"interviewer": old_name}}
    correction = got["steps"][-1]
    assert correction["step"] == "step_corrected"
    assert correction["data"] == {"corrects": record["id"], "reason": "谈话人和日期录入有误",
                                  "fields": {"interviewer": "王芳（支部委员）",
                                             "occurred_on": "2023-03-20"}}
    page = world.client.get(f"/cases/{case_id}").text
    assert "已更正" in page and f"原记录：{old_day}" in page and old_name in page
    assert "谈话人和日期录入有误" in page


def test_a_correction_needs_a_reason_and_a_change_and_writes_nothing_without(world):
    case_id, record = _interview(world)
    login(world.client, "sec1")
    url = f"/cases/{case_id}/records/{record['id']}/correct"
    token = _csrf(world.client.get(url).text)
    before = _rows()
    r = world.client.post(url, data={"csrf_token": token, "occurred_on": record["occurred_on"],
                                     "data_interviewer": "另一人", "correction_reason": ""})
    assert r.status_code == 200 and "请填写更正原因" in r.text
    assert "另一人" in r.text  # what was typed is kept
    r = world.client.post(url, data={"csrf_token": token, "occurred_on": record["occurred_on"],
                                     "data_interviewer": record["data"]["interviewer"],
                                     "correction_reason": "核对"})
    assert r.status_code == 200 and "没有修改任何内容" in r.text
    assert _rows() == before


def test_who_may_correct_what(world):
    case_id, record = _interview(world)
    url = f"/cases/{case_id}/records/{record['id']}/correct"
    login(world.client, "aud")
    assert world.client.get(url).status_code == 403  # the auditor sees no forms
    assert url not in world.client.get(f"/cases/{case_id}").text
    login(world.client, "sec2")
    assert world.client.get(url).status_code == 404  # another branch's case
    # a committee record: the branch may not correct it, the committee may
    drive(world, case_id, HAPPY[1:], until="pre_review_decided")  # after the interview
    steps = world.get("org", f"/api/v1/cases/{case_id}").json["steps"]
    decided = next(s for s in steps if s["step"] == "pre_review_decided")
    assert decided["recorded_by_role"] == "committee"
    committee_url = f"/cases/{case_id}/records/{decided['id']}/correct"
    login(world.client, "sec1")
    assert world.client.get(committee_url).status_code == 403
    assert committee_url not in world.client.get(f"/cases/{case_id}").text
    login(world.client, "org")
    assert world.client.get(committee_url).status_code == 200
    assert world.client.get(f"/cases/{case_id}/records/999999/correct").status_code == 404


def test_an_acknowledgement_whose_violation_a_correction_removed_says_so(world):
    case = open_case(world, date=HAPPY[0][1])
    late = post_step(world, case["id"], "applicant_interviewed", "2023-04-10",
                     {"interviewer": "张伟"}, acknowledge=True, reason="补录")
    assert late.status_code == 201 and late.json["violations"], late.json
    record_id = late.json["step"]["id"]
    login(world.client, "sec1")
    url = f"/cases/{case['id']}/records/{record_id}/correct"
    token = _csrf(world.client.get(url).text)
    r = world.client.post(url, data={"csrf_token": token, "occurred_on": "2023-03-15",
                                     "data_interviewer": "张伟",
                                     "correction_reason": "日期按谈话记录更正"})
    assert r.status_code == 302, r.text
    page = world.client.get(f"/cases/{case['id']}").text
    assert "所确认的违规已因更正而消除" in page


def test_a_step_form_answers_403_to_a_role_that_cannot_record_the_step(world):
    case = open_case(world, date=HAPPY[0][1])
    login(world.client, "sec1")
    assert world.client.get(f"/cases/{case['id']}/steps/applicant_interviewed").status_code == 200
    assert world.client.get(f"/cases/{case['id']}/steps/pre_review_decided").status_code == 403
    login(world.client, "org")
    assert world.client.get(f"/cases/{case['id']}/steps/applicant_interviewed").status_code == 403
    login(world.client, "aud")
    assert world.client.get(f"/cases/{case['id']}/steps/applicant_interviewed").status_code == 403


def test_the_event_log_carries_the_original_of_a_corrected_record(world):
    from xml.etree import ElementTree as ET
    case_id, record = _interview(world)
    r = post_step(world, case_id, "step_corrected", "2023-03-21",
                  {"corrects": record["id"], "fields": {"occurred_on": "2023-03-20"},
                   "reason": "日期有误"})
    assert r.status_code == 201, r.json
    xes = ET.fromstring(world.get("org", "/api/v1/export/events.xes").data)
    events = [e for e in xes.iter("event")
              if any(a.get("key") == "identity:id" and a.get("value") == str(record["id"])
                     for a in e)]
    attrs = {a.get("key"): a.get("value") for a in events[0]}
    assert attrs["time:timestamp"].startswith("2023-03-20")
    assert attrs["corrected"] == "true"
    assert attrs["original:timestamp"].startswith(record["occurred_on"])
    assert "张伟" in attrs["original:data"] or record["data"]["interviewer"] in attrs["original:data"]


def test_confirming_a_violation_without_a_reason_is_a_field_error_that_keeps_the_work(world):
    case = open_case(world, date=HAPPY[0][1])
    login(world.client, "sec1")
    url = f"/cases/{case['id']}/steps/applicant_interviewed"
    token = _csrf(world.client.get(url).text)
    before = _rows()
    late = {"csrf_token": token, "occurred_on": "2023-04-10", "data_interviewer": "张伟",
            "note": "补录的谈话"}
    r = world.client.post(url, data=late)
    assert r.status_code == 200 and "该步骤违反发展党员程序" in r.text
    r = world.client.post(url, data={**late, "acknowledge": "y", "reason": "  "})
    assert r.status_code == 200
    assert "确认违规记录时必须填写原因说明" in r.text or "必填：请说明为何仍需记录" in r.text
    assert "该步骤违反发展党员程序" in r.text and "补录的谈话" in r.text  # the work is kept
    assert _rows() == before
    api = world.post("sec1", f"/api/v1/cases/{case['id']}/steps",
                     {"step": "applicant_interviewed", "occurred_on": "2023-04-10",
                      "data": {"interviewer": "张伟"}, "acknowledge": True, "reason": ""})
    assert api.status_code == 409 and api.json["error"]["fields"] == {
        "reason": "必填：请说明为何仍需记录"}  # still the contract's 409, naming the field
    r = world.client.post(url, data={**late, "acknowledge": "y", "reason": "按原始记录补录"})
    assert r.status_code == 302 and _rows() == before + 1


def test_the_printed_record_keeps_the_original_date_and_data(world):
    from workflow.persistence.models import User
    from workflow.services.interchange import excel_export
    case_id, record = _interview(world)
    r = post_step(world, case_id, "step_corrected", "2023-03-21",
                  {"corrects": record["id"], "reason": "更正",
                   "fields": {"occurred_on": "2023-03-20", "interviewer": "王芳"}})
    assert r.status_code == 201, r.json
    actor = db.session.execute(sa.select(User).filter_by(username="sec1")).scalar_one()
    rows = excel_export.full_record(actor, case_id).sheets[0].rows
    row = next(r for r in rows if r[2] == "党组织派人谈话")
    assert row[1] == "2023-03-20" and "王芳" in row[3]
    assert f"原记录（{record['occurred_on']}）" in row[6] and record["data"]["interviewer"] in row[6]


def test_the_history_says_what_each_step_recorded_in_words(world):
    case = open_case(world, date=HAPPY[0][1])
    drive(world, case["id"], until="admission_voted")
    login(world.client, "sec1")
    page = world.client.get(f"/cases/{case['id']}").text
    assert "入党介绍人：张伟、王芳" in page  # roster members by name, not ids
    assert "培养联系人：张伟、王芳" in page
    assert "应到人数 10" in page and "赞成票 9" in page and "无记名投票" in page
    assert "决定：同意" in page  # the pre-review's decision in words
    assert "secret_ballot" not in page and "'approved'" not in page


def test_the_applicants_details_are_corrected_on_the_applications_form(world):
    case = open_case(world, date=HAPPY[0][1])
    first = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"][0]
    url = f"/cases/{case['id']}/records/{first['id']}/correct"
    login(world.client, "sec1")
    form = world.client.get(url).text
    assert 'value="陈晓"' in form and "1995-05-01" in form and "更正原因" in form
    typed = {"csrf_token": _csrf(form), "name": "陈小", "gender": "female",
             "birth_date": "1995-05-01", "id_number": "110105199505010023",
             "application_date": HAPPY[0][1], "correction_reason": "按身份证更正"}
    r = world.client.post(url, data=typed)
    assert r.status_code == 200 and "校验位" in r.text and 'value="陈小"' in r.text  # kept
    r = world.client.post(url, data={**typed, "id_number": "110105199505010022"})
    assert r.status_code == 302, r.text
    view = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert view["person"]["name"] == "陈小"
    assert view["person"]["id_number_masked"] == "1101**********0022"
    page = world.client.get(f"/cases/{case['id']}").text
    assert "陈小" in page and "原记录" in page and "陈晓" in page and "按身份证更正" in page


def test_an_expired_form_token_keeps_what_was_typed(world):
    case = open_case(world, date=HAPPY[0][1])
    login(world.client, "sec1")
    url = f"/cases/{case['id']}/steps/applicant_interviewed"
    world.client.get(url)
    before = _rows()
    r = world.client.post(url, data={"csrf_token": "expired-or-forged",  # as an old token
                                     "occurred_on": "2023-03-20",
                                     "data_interviewer": "张伟（支部书记）"},
                          headers={"Referer": f"http://localhost{url}"})
    assert r.status_code == 400 and "页面已过期" in r.text
    assert 'value="张伟（支部书记）"' in r.text and 'value="2023-03-20"' in r.text
    assert _rows() == before  # nothing written without a valid token
    r = world.client.post(url, data={"csrf_token": _csrf(r.text), "occurred_on": "2023-03-20",
                                     "data_interviewer": "张伟（支部书记）"})
    assert r.status_code == 302 and _rows() == before + 1


def test_the_event_log_is_offered_on_the_pages(world):
    from xml.etree import ElementTree as ET
    case = open_case(world, date=HAPPY[0][1])
    login(world.client, "org")
    assert "/transfer/events.xes" in world.client.get("/transfer/").text
    r = world.client.get("/transfer/events.xes?branch=B1")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    traces = ET.fromstring(r.data).findall("trace")
    assert len(traces) == 1 and str(case["id"]) in r.get_data(as_text=True)
    assert world.client.get("/transfer/events.xes?branch=B3").status_code == 404  # out of scope


def test_articles_and_sessions_read_in_words(world):
    case = open_case(world, date=HAPPY[0][1])
    late = post_step(world, case["id"], "applicant_interviewed", "2023-04-10",
                     {"interviewer": "张伟"}, acknowledge=True, reason="补录")
    assert late.status_code == 201
    drive(world, case["id"], HAPPY[1:], until="pre_review_decided")
    login(world.client, "sec1")
    page = world.client.get(f"/cases/{case['id']}").text
    assert "（第七条）" in page and "art. 7" not in page
    assert "API 令牌 #" in page and "api:token:" not in page  # the pre-review's session


def test_the_case_page_shows_where_the_case_stands_legibly(world):
    case = open_case(world, date=HAPPY[0][1])
    drive(world, case["id"], until="branch_committee_reviewed")
    login(world.client, "sec1")
    page = world.client.get(f"/cases/{case['id']}").text
    position = page[page.index('id="position"'):]
    position = position[:position.index("</section>")]
    assert '<li class="current" aria-current="step">发展对象</li>' in position
    assert '<li class="done">入党积极分子</li>' in position
    assert '<li class="current" aria-current="step">待党委预审</li>' in position
    assert "<svg" not in page and "[internal]" not in page
    whole = world.client.get("/pipeline").text
    assert "预备党员" in whole and "上级党委预审" in whole and "第十三至二十五条" in whole
    world.client.get("/lang/en")
    page = world.client.get(f"/cases/{case['id']}").text
    assert '<li class="current" aria-current="step">Development candidate</li>' in page
    assert "Pre-review" in world.client.get("/pipeline").text or "pre-review" in \
        world.client.get("/pipeline").text.lower()


def test_a_refused_person_correction_changes_nothing(world):
    case = open_case(world, date=HAPPY[0][1])
    first = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"][0]
    url = f"/cases/{case['id']}/records/{first['id']}/correct"
    login(world.client, "sec1")
    form = world.client.get(url).text
    before = _rows()
    # an applicant born in 2010 was under 18 on the application date: refused by the replay
    r = world.client.post(url, data={"csrf_token": _csrf(form), "name": "改名后",
                                     "gender": "female", "birth_date": "2010-01-01",
                                     "application_date": HAPPY[0][1],
                                     "correction_reason": "测试"})
    assert r.status_code == 200 and _rows() == before
    view = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert view["person"]["name"] == "陈晓" and view["person"]["birth_date"] == "1995-05-01"
    assert world.get("sec1", "/api/v1/cases?q=改名后").json["items"] == []


def test_correcting_the_application_date_moves_the_cases_date(world):
    case = open_case(world, date=HAPPY[0][1])
    first = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"][0]
    r = post_step(world, case["id"], "step_corrected", "2023-03-05",
                  {"corrects": first["id"], "reason": "按申请书落款日期更正",
                   "fields": {"occurred_on": "2023-02-20"}})
    assert r.status_code == 201, r.json
    assert r.json["case"]["application_date"] == "2023-02-20"
    view = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert view["application_date"] == "2023-02-20" and view["steps"][0]["occurred_on"] == \
        "2023-02-20"


def test_the_expired_page_never_shows_secrets_nor_serves_a_post_from_elsewhere(world):
    login(world.client, "sec1")
    r = world.client.post("/password", data={"csrf_token": "old",
                                             "old_password": "Lantern2026river",
                                             "new_password": "Another2026harbor"},
                          headers={"Referer": "http://localhost/password"})
    assert r.status_code == 400 and "Lantern2026river" not in r.text
    assert "Another2026harbor" not in r.text and "密码和密钥不会显示" in r.text
    assert r.headers["Cache-Control"] == "no-store"
    case = open_case(world, date=HAPPY[0][1])
    url = f"/cases/{case['id']}/steps/applicant_interviewed"
    r = world.client.post(url, data={"csrf_token": "forged", "data_interviewer": "攻击者"},
                          headers={"Origin": "http://evil.example"})
    assert r.status_code == 400 and "攻击者" not in r.text and "resubmit" not in r.text


def test_the_case_page_names_steps_rules_and_deadlines_in_english(world):
    case = open_case(world, date=HAPPY[0][1])
    late = post_step(world, case["id"], "applicant_interviewed", "2023-04-10",
                     {"interviewer": "张伟"}, acknowledge=True, reason="补录")
    assert late.status_code == 201
    login(world.client, "sec1")
    world.client.get("/lang/en")
    page = world.client.get(f"/cases/{case['id']}").text
    assert "Applicant interviewed" in page and "Application submitted" in page
    assert "Interview the applicant within one month" in page  # the rule, in English
    assert "党组织派人谈话" not in page and "一个月内派人谈话" not in page
    world.client.get("/lang/zh")
    page = world.client.get(f"/cases/{case['id']}").text
    assert "党组织派人谈话" in page and "一个月内派人谈话" in page


def test_a_violations_detail_reads_in_the_pages_language(world):
    """A rule's finding carries its data ("谈话应于 … 前完成，实际 …"): the case page says it
    in English on an English page, the dates in it, and in Chinese on a Chinese one."""
    import re
    case = open_case(world, date=HAPPY[0][1])
    late = post_step(world, case["id"], "applicant_interviewed", "2023-04-10",
                     {"interviewer": "张伟"}, acknowledge=True, reason="补录")
    assert late.status_code == 201 and late.json["violations"], late.json
    assert "谈话应于" in late.json["violations"][0]["detail"]  # the API's words stay Chinese
    login(world.client, "sec1")
    page = world.client.get(f"/cases/{case['id']}").text
    (zh,) = re.findall(r'<p class="violation">(.*?)</p>', page)
    assert zh.startswith("！") and "谈话应于" in zh and "实际 2023-04-10" in zh
    world.client.get("/lang/en")
    page = world.client.get(f"/cases/{case['id']}").text
    (en,) = re.findall(r'<p class="violation">(.*?)</p>', page)
    assert "interview due by" in en and "done 2023-04-10" in en, en
    assert not re.search(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]", en), en
