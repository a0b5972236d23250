"""Pages through the test client: login, CSRF, scope, language, every page renders."""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from tests.integration.conftest import PASSWORD, world  # noqa: F401  (fixture)
from tests.integration.helpers import drive, open_case

pytestmark = pytest.mark.db


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client, username: str) -> None:
    page = client.get("/login").text
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": _csrf(page)})
    assert r.status_code == 302, r.text


def test_pages_need_login(client):
    r = client.get("/cases/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_login_without_csrf_token_is_refused(world):
    r = world.client.post("/login", data={"username": "sec1", "password": PASSWORD})
    assert r.status_code == 400
    assert "/logout" not in world.client.get("/cases/", follow_redirects=True).text


def test_wrong_password_message_in_chinese(world):
    page = world.client.get("/login").text
    r = world.client.post("/login", data={"username": "sec1", "password": "nope", "csrf_token": _csrf(page)})
    assert "用户名或密码不正确" in r.text


def test_every_page_renders_for_its_role(world):
    case = open_case(world)
    drive(world, case["id"], until="branch_committee_reviewed")
    login(world.client, "sec1")
    for url in ("/cases/", "/cases/new", f"/cases/{case['id']}", "/reports/rubric",
                f"/cases/{case['id']}/steps/public_notice_held", "/admin/roster/B1", "/admin/orgs",
                "/password"):
        assert world.client.get(url).status_code == 200, url
    assert world.client.get("/admin/users").status_code == 403
    world.client.post("/logout", data={"csrf_token": _csrf(world.client.get("/cases/").text)})
    login(world.client, "org")
    page = world.client.get("/committee/").text
    assert "待预审" in page and "陈晓" in page
    login(world.client, "admin")
    for url in ("/admin/users", "/admin/settings", "/admin/holidays"):
        assert world.client.get(url).status_code == 200, url


def test_other_branch_case_page_is_404(world):
    case = open_case(world)
    login(world.client, "sec2")
    assert world.client.get(f"/cases/{case['id']}").status_code == 404
    assert world.client.get(f"/cases/{case['id']}/steps/applicant_interviewed").status_code == 404
    assert "陈晓" not in world.client.get("/cases/").text


def test_step_form_post_without_csrf_changes_nothing(world):
    case = open_case(world)
    login(world.client, "sec1")
    r = world.client.post(f"/cases/{case['id']}/steps/applicant_interviewed",
                          data={"occurred_on": "2023-03-15", "data_interviewer": "张伟"})
    assert r.status_code == 400
    assert len(world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"]) == 1


def test_step_form_records_and_shows_field_errors(world):
    case = open_case(world)
    login(world.client, "sec1")
    url = f"/cases/{case['id']}/steps/applicant_interviewed"
    token = _csrf(world.client.get(url).text)
    r = world.client.post(url, data={"csrf_token": token, "occurred_on": "2099-01-01",
                                     "data_interviewer": "张伟"})
    assert "日期不能晚于今天" in r.text
    r = world.client.post(url, data={"csrf_token": token, "occurred_on": "2023-03-15",
                                     "data_interviewer": "张伟", "doc_interview_record_ref": "A-1"})
    assert r.status_code == 302
    got = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert got["steps"][1]["documents"][0]["reference"] == "A-1"


def test_a_paper_location_and_a_file_are_both_kept(world):
    """Issue 19 item 4: the original in the cabinet and its scan, given together, are both
    recorded, from the step form and from the case page's paperwork form."""
    import io
    case = open_case(world)
    login(world.client, "sec1")
    url = f"/cases/{case['id']}/steps/applicant_interviewed"
    token = _csrf(world.client.get(url).text)
    r = world.client.post(url, content_type="multipart/form-data", data={
        "csrf_token": token, "occurred_on": "2023-03-15", "data_interviewer": "张伟",
        "doc_interview_record_ref": "档案柜 A-1",
        "doc_interview_record_file": (io.BytesIO(b"%PDF-1.4 talk"), "talk.pdf")})
    assert r.status_code == 302
    step = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"][1]
    assert sorted((d["reference"] or "", d["filename"] or "") for d in step["documents"]) == [
        ("", "talk.pdf"), ("档案柜 A-1", "")]
    letter = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"][0]
    show = world.client.get(f"/cases/{case['id']}").text
    r = world.client.post(f"/cases/{case['id']}/documents", content_type="multipart/form-data",
                          data={"csrf_token": _csrf(show), "step_record_id": str(letter["id"]),
                                "doc_type": "application_letter", "reference": "档案柜 B-2",
                                "file": (io.BytesIO(b"%PDF-1.4 letter"), "letter.pdf")})
    assert r.status_code == 302
    letter = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"][0]
    assert sorted((d["reference"] or "", d["filename"] or "") for d in letter["documents"]) == [
        ("", "letter.pdf"), ("档案柜 B-2", "")]
    page = world.client.get(f"/cases/{case['id']}").text
    assert "档案柜 B-2" in page and "letter.pdf" in page


def test_english_is_available(world):
    login(world.client, "sec1")
    world.client.get("/lang/en")
    assert "Work queue" in world.client.get("/cases/").text
    world.client.get("/lang/zh")
    assert "工作台" in world.client.get("/cases/").text


def test_the_applicants_occupation_is_asked_and_shown_as_a_word(world):
    login(world.client, "sec1")
    form = world.client.get("/cases/new").text
    assert 'name="occupation"' in form and "专业技术人员" in form
    r = world.client.post("/cases/new", data={
        "csrf_token": _csrf(form), "name": "职业测试", "gender": "female",
        "birth_date": "1996-06-06", "occupation": "worker", "application_date": "2024-03-01"},
        follow_redirects=True)
    assert r.status_code == 200
    assert "<dt>职业</dt><dd>工人</dd>" in r.text
    world.client.get("/lang/en")
    case_url = re.search(r'href="(/cases/\d+)"', world.client.get("/cases/search?q=职业测试").text)
    page = world.client.get(case_url.group(1)).text
    assert "<dd>Worker</dd>" in page and "<dd>worker</dd>" not in page


def test_the_work_queue_links_only_the_next_steps_the_role_records(world):
    """A next step the branch cannot record (the committee's pre-review or approval) is named
    on the work queue, not linked: its form answered 403. The same for the organiser and the
    branch's steps; every link the queue offers opens its form."""
    for until in ("cultivators_assigned", "branch_committee_reviewed", "admission_voted"):
        drive(world, open_case(world)["id"], until=until)
    for who in ("sec1", "org"):
        login(world.client, who)
        page = world.client.get("/cases/").text
        links = set(re.findall(r'href="(/cases/\d+/steps/\w+)"', page))
        named = re.findall(r'<span title="(由上级党委记录|由党支部记录)">', page)
        assert links and named, who  # both kinds are on the queue
        for url in links:
            assert world.client.get(url).status_code == 200, (who, url)
        world.client.post("/logout", data={"csrf_token": _csrf(page)})


def test_pages_in_english_show_words_never_ids(world):
    """What the English walk found: the pipeline's sub-states shown by their ids ("applied"),
    a vote's method as `secret_ballot`, the 403 page and the roles in Chinese."""
    case = open_case(world)
    drive(world, case["id"], until="admission_voted")
    login(world.client, "sec1")
    world.client.get("/lang/en")
    page = world.client.get(f"/cases/{case['id']}").text
    position = page[page.index('id="position"'):]
    assert 'aria-current="step">Admitted by the branch meeting<' in position
    assert ">Awaiting pre-review<" in position and ">awaiting pre review<" not in position
    assert "secret_ballot" not in page and "method secret ballot" in page
    refused = world.client.get(f"/cases/{case['id']}/steps/admission_approved")
    assert refused.status_code == 403 and "You are not allowed to do this." in refused.text
    world.client.post("/logout", data={"csrf_token": _csrf(page)})
    login(world.client, "admin")
    world.client.get("/lang/en")
    users = world.client.get("/admin/users").text
    assert "Auditor (read only)" in users and "检查员" not in users


def test_the_vote_form_speaks_the_pages_language(world):
    """The vote is a subform (a plain WTForms form): its own messages were English on every
    page."""
    case = open_case(world)
    drive(world, case["id"], until="branch_committee_reviewed")
    login(world.client, "sec1")
    url = f"/cases/{case['id']}/steps/admission_voted"
    form = world.client.get(url).text
    names = dict(re.findall(r'name="(data_vote-(\w+))"', form))
    assert "data_vote-eligible" in names, form[:2000]
    r = world.client.post(url, data={"csrf_token": _csrf(form), "occurred_on": "2024-06-12",
                                     "data_vote-eligible": "abc", "data_vote-present": "0"})
    assert r.status_code == 200 and "不是有效的整数" in r.text and "Not a valid" not in r.text


def test_form_messages_and_admin_choices_are_in_english_on_english_pages(world):
    login(world.client, "sec1")
    world.client.get("/lang/en")
    form = world.client.get("/cases/new").text
    r = world.client.post("/cases/new", data={"csrf_token": _csrf(form), "name": ""})
    assert r.status_code == 200 and "Enter the name" in r.text and "请填写姓名" not in r.text
    missing = world.client.get("/cases/999999").text
    assert "The page does not exist" in missing
    world.client.post("/logout", data={"csrf_token": _csrf(form)})
    login(world.client, "admin")
    world.client.get("/lang/en")
    robots = world.client.get("/admin/webhooks").text
    assert "WeCom" in robots and "DingTalk" in robots and "企业微信" not in robots


HAN = re.compile(r"[\u3400-\u9fff]")


def _flashes(page: str) -> list[str]:
    return [html.unescape(m) for m in
            re.findall(r'<p class="flash error"[^>]*>(.*?)</p>', page, re.DOTALL)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_step_out_of_order_is_said_once_in_words_of_the_pages_language(world, lang):
    """The replay's refusal (a step before the application) on a step form: the rule and what
    to record first, once, no field key, in the page's language."""
    case = open_case(world)
    login(world.client, "sec1")
    world.client.get(f"/lang/{lang}")
    url = f"/cases/{case['id']}/steps/applicant_interviewed"
    r = world.client.post(url, data={"csrf_token": _csrf(world.client.get(url).text),
                                     "occurred_on": "2020-01-01", "data_interviewer": "张伟"})
    errors = _flashes(r.text)
    assert r.status_code == 200 and len(errors) == 1, errors
    said = errors[0]
    assert "step" not in said.replace("step does", "").replace("Step ", "")
    if lang == "zh":
        assert said.count("该步骤不属于案件当时所处的阶段") == 1 and "应先记录「递交入党申请书」" in said
        assert "（第" in said
    else:
        assert not HAN.search(said.replace("张伟", "")), said
        assert said.count("The step does not belong") == 1 and "Application submitted" in said
        assert "art." in said


def test_field_reasons_on_english_forms_are_english(world):
    case = open_case(world)
    login(world.client, "sec1")
    world.client.get("/lang/en")
    from workflow.steps import id_number_valid
    number = next(n for n in (f"11010519950501002{c}" for c in "0123456789X")
                  if id_number_valid(n))  # born 1995-05-01, a woman
    form = world.client.get("/cases/new").text
    r = world.client.post("/cases/new", data={
        "csrf_token": _csrf(form), "name": "陈晓", "gender": "female", "birth_date": "1995-05-02",
        "application_date": "2023-03-01", "id_number": number})
    assert r.status_code == 200 and "身份证" not in r.text.split("<main")[1]
    assert "1995-05-01" in r.text
    url = f"/cases/{case['id']}/steps/applicant_interviewed"  # late: a violation to confirm
    data = {"csrf_token": _csrf(world.client.get(url).text), "occurred_on": "2023-04-10",
            "data_interviewer": "张伟"}
    r = world.client.post(url, data={**data, "acknowledge": "y", "reason": ""})
    assert r.status_code == 200 and "请说明为何仍需记录" not in r.text and "Required" in r.text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_mistyped_year_or_stage_is_said_on_the_page_not_as_an_error_page(world, lang):
    from workflow.services import clock
    login(world.client, "org")
    world.client.get(f"/lang/{lang}")
    this_year = str(clock.today().year)
    for url in ("/plans?year=20266", "/reports/committee?year=26",
                "/reports/statistics?year=abcd", "/reports/rubric?org=B1&year=99999"):
        r = world.client.get(url)
        errors = _flashes(r.text)
        assert r.status_code == 200 and len(errors) == 1, (url, errors)
        assert this_year in errors[0] and "year" not in errors[0].replace("The year", "")
        if lang == "en":
            assert not HAN.search(errors[0]), errors[0]
    assert world.client.get("/reports/committee.xlsx?year=26").status_code == 400  # a file
    r = world.client.get("/cases/search?stage=bogus")
    assert r.status_code == 200 and len(_flashes(r.text)) == 1
    assert "stage" not in _flashes(r.text)[0].lower().replace("unknown stage", "")


@pytest.mark.parametrize("who", ["aud", "sec1", "admin", "org"])
def test_read_only_roles_get_no_form_they_cannot_send(world, who):
    """The committee's pre-review queue is a form for the organiser only; opening a case is a
    branch secretary's page."""
    case = open_case(world)
    drive(world, case["id"], until="branch_committee_reviewed")
    login(world.client, who)
    if who != "admin":
        page = world.client.get("/committee/").text
        has_form = "/committee/pre-reviews" in page and 'name="case_id"' in page
        assert has_form == (who == "org"), who
    assert world.client.get("/cases/new").status_code == (200 if who == "sec1" else 403)


class _Cells(HTMLParser):
    """Body cells of `list` tables under a header with text, and whether each names its column
    (`data-label`): on a phone the header row is hidden. A column whose header is empty (a
    checkbox, a link) needs no name; a `list` table without a header row (`headless`) names
    none of its columns."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.part, self.column, self.cells, self.unlabelled = "", 0, 0, 0
        self.headless, self.in_list = 0, False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.headers, self.part = [], ""
            self.in_list = "list" in (a.get("class") or "").split()
        elif tag in ("thead", "tbody"):
            self.part = tag
        elif tag == "th" and self.part == "thead":
            self.headers.append("")
        elif tag == "tr" and self.part == "tbody":
            self.column = 0
        elif tag in ("td", "th") and self.part == "tbody":
            named = self.column < len(self.headers) and self.headers[self.column].strip()
            self.column += int(a.get("colspan") or 1)
            if named and tag == "td":  # a row's own heading (合计) names itself
                self.cells += 1
                self.unlabelled += "data-label" not in a

    def handle_data(self, data: str) -> None:
        if self.part == "thead" and self.headers:
            self.headers[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("thead", "tbody"):
            self.part = ""
        elif tag == "table":
            self.headless += self.in_list and not self.headers
            self.in_list = False


def test_list_tables_name_their_columns_in_every_cell(world):
    """At phone width the header row is hidden (static/app.css): a cell without `data-label`
    shows a bare number. Checked on the pages with the most tables, as their roles see them."""
    case = open_case(world)
    drive(world, case["id"], until="admission_voted")
    pages = {"sec1": ["/cases/", "/cases/search?q=陈", "/reports/rubric", "/inbox/"],
             "org": ["/committee/", "/reports/committee", "/reports/statistics", "/admin/audit",
                     "/trainings/", "/plans", "/admin/roster/B1"],
             "admin": ["/admin/users", "/admin/webhooks", "/admin/orgs", "/admin/settings",
                       "/admin/holidays"]}
    for who, urls in pages.items():
        login(world.client, who)
        for url in urls:
            page = world.client.get(url)
            assert page.status_code == 200, (who, url)
            body = re.sub(r"<tr><td[^>]*>[^<]*</td></tr>", "", page.text)  # "none yet" rows
            cells = _Cells()
            cells.feed(body)
            assert cells.unlabelled == 0, (who, url, cells.unlabelled, cells.cells)
            assert cells.headless == 0, (who, url, "a list table without a header row")
        world.client.post("/logout", data={"csrf_token": _csrf(page.text)})


def test_a_refused_pre_review_comes_back_as_typed_and_records_nothing(world):
    """The organiser's batch sign-off: a date out of range or comments over the bound were
    reported as a vague message and the typed comments lost. Now the reason is named, the
    form comes back with the cases ticked and the text kept, and nothing is recorded."""
    case = open_case(world)
    drive(world, case["id"], until="branch_committee_reviewed")
    login(world.client, "org")
    home = world.client.get("/committee/").text
    assert f'value="{case["id"]}"' in home
    steps = len(world.get("org", f"/api/v1/cases/{case['id']}").json["steps"])
    typed = {"csrf_token": _csrf(home), "case_id": str(case["id"]), "decision": "returned",
             "comments": "请补充政审材料", "reason": "", "occurred_on": "2999-01-01"}
    for changes, said in (({}, "预审日期不正确"), ({"occurred_on": "2024-05-27",
                                                   "comments": "意" * 2001}, "不能超过 2000")):
        r = world.client.post("/committee/pre-reviews", data={**typed, **changes})
        assert r.status_code == 422 and said in r.text, r.text[:500]
        assert re.search(rf'value="{case["id"]}"[^>]*checked', r.text)
        assert re.search(r'value="returned" checked', r.text)
        assert f">{changes.get('comments', typed['comments'])}</textarea>" in r.text
        assert len(world.get("org", f"/api/v1/cases/{case['id']}").json["steps"]) == steps
    done = world.client.post("/committee/pre-reviews", data={**typed, "occurred_on": "2024-05-27"})
    assert done.status_code == 302
    assert len(world.get("org", f"/api/v1/cases/{case['id']}").json["steps"]) == steps + 1
