"""Hostile input: every answer a 4xx in the one error shape, naming the field where there is
one, and nothing written. Each of the first inputs below answered 500 (or was stored) once:
a deeply nested body, NaN hours, year 9999, a lone surrogate, a 5 MB name, an unknown branch
on the work queue, HTML or a program uploaded as `x.pdf`.
"""
from __future__ import annotations

import io
import struct
import zlib
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.helpers import open_case
from tests.unit.builders import PERSON
from tests.web.test_pages import _csrf, login
from workflow.persistence.db import db
from workflow.persistence.models import (
    Case,
    Document,
    PersonalDataAccess,
    RosterMember,
    StepRecordRow,
    Training,
    TrainingInvitee,
)
from workflow.services.clock import today

pytestmark = pytest.mark.db
TABLES = (Case, StepRecordRow, RosterMember, Training, TrainingInvitee, Document)
JSON = "application/json"
DEEP = 50_000


def _counts() -> dict[str, int]:
    return {t.__tablename__: db.session.execute(db.select(db.func.count()).select_from(t))
            .scalar() for t in TABLES}


def _case_body(**person: Any) -> dict[str, Any]:
    return {"branch": "B1", "person": {**PERSON, **person}, "application_date": "2023-03-01"}


def _step(**extra: Any) -> dict[str, Any]:
    return {"step": "applicant_interviewed", "occurred_on": "2023-03-15",
            "data": {"interviewer": "张伟"}, **extra}


def _training(**extra: Any) -> dict[str, Any]:
    return {"title": "党校培训", "start_on": "2023-06-01", "end_on": "2023-06-03", "hours": 24,
            **extra}


def _raw(text: str) -> dict[str, Any]:
    return {"data": text.encode("utf-8"), "content_type": JSON}


def _nested(prefix: str, suffix: str) -> dict[str, Any]:
    return _raw(prefix + "[" * DEEP + "]" * DEEP + suffix)


FAR = (today() + timedelta(days=3653 + 366)).isoformat()  # beyond ten years ahead

# (id, who, method, url, request keywords, status, field named or None)
CASES: list[tuple[str, str, str, str, dict[str, Any], int, str | None]] = [
    # -- bodies that broke the JSON reader or the database ------------------------------------
    ("deep nesting, open case", "sec1", "post", "/api/v1/cases",
     _nested('{"branch": "B1", "person": ', ', "application_date": "2023-03-01"}'), 400, None),
    ("deep nesting, step data", "sec1", "post", "/api/v1/cases/{case}/steps",
     _nested('{"step": "applicant_interviewed", "occurred_on": "2023-03-15", "data": ', "}"),
     400, None),
    ("deep nesting, roster", "sec1", "post", "/api/v1/orgs/B1/roster",
     _nested('{"name": ', ', "status": "full", "since": "2000-01-01"}'), 400, None),
    ("deep nesting, bare", "sec1", "post", "/api/v1/cases", _nested("", ""), 400, None),
    ("NaN hours", "org", "post", "/api/v1/trainings",
     _raw('{"title": "t", "start_on": "2023-06-01", "end_on": "2023-06-02", "hours": NaN}'),
     400, "hours"),
    ("Infinity hours", "org", "post", "/api/v1/trainings",
     _raw('{"title": "t", "start_on": "2023-06-01", "end_on": "2023-06-02", '
          '"hours": -Infinity}'), 400, "hours"),
    ("1e400 hours (read as infinity)", "org", "post", "/api/v1/trainings",
     _raw('{"title": "t", "start_on": "2023-06-01", "end_on": "2023-06-02", "hours": 1e400}'),
     400, "hours"),
    ("1e308 hours", "org", "post", "/api/v1/trainings", {"json": _training(hours=1e308)},
     422, "hours"),
    ("negative hours", "org", "post", "/api/v1/trainings", {"json": _training(hours=-1)},
     422, "hours"),
    ("hours beyond the bound", "org", "post", "/api/v1/trainings",
     {"json": _training(hours=1001)}, 422, "hours"),
    ("step hours 1e308", "org", "post", "/api/v1/cases/{case}/steps",
     {"json": {"step": "candidate_trained", "occurred_on": "2023-06-03",
               "data": {"start_on": "2023-06-01", "end_on": "2023-06-03", "hours": 1e308}}},
     422, "hours"),
    # integers too large for a float: math.isfinite raised OverflowError (a 500)
    ("10**400 hours (an integer)", "org", "post", "/api/v1/trainings",
     {"json": _training(hours=10**400)}, 422, "hours"),
    ("step hours 10**400 (an integer)", "org", "post", "/api/v1/cases/{case}/steps",
     {"json": {"step": "candidate_trained", "occurred_on": "2023-06-03",
               "data": {"start_on": "2023-06-01", "end_on": "2023-06-03", "hours": -10**400}}},
     422, "hours"),
    # counts and versions beyond what the description allows (they were stored, or met a 409)
    ("vote counts of 400 digits", "sec1", "post", "/api/v1/cases/{case}/steps",
     {"json": {"step": "admission_voted", "occurred_on": "2023-03-15", "data": {"vote": {
         "eligible": 10**400, "present": 10**400, "written": 0, "yes": 10**400, "no": 0,
         "abstain": 0, "method": "secret_ballot"}}}}, 422, "vote"),
    ("version 2**31", "sec1", "post", "/api/v1/cases/{case}/steps",
     {"json": _step(version=2**31)}, 400, "version"),
    ("version -1", "sec1", "post", "/api/v1/cases/{case}/steps",
     {"json": _step(version=-1)}, 400, "version"),
    # a repeated key: the last one won, where a proxy or a log may read the first
    ("a repeated key", "sec1", "post", "/api/v1/cases/{case}/steps",
     _raw('{"step": "x", "step": "applicant_interviewed", "occurred_on": "2023-03-15", '
          '"data": {"interviewer": "张伟"}}'), 400, "step"),
    ("a repeated key in step data", "sec1", "post", "/api/v1/cases/{case}/steps",
     _raw('{"step": "applicant_interviewed", "occurred_on": "2023-03-15", '
          '"data": {"interviewer": "张伟", "interviewer": "李四"}}'), 400, "interviewer"),
    ("lone surrogate in a name", "sec1", "post", "/api/v1/cases",
     _raw('{"branch": "B1", "application_date": "2023-03-01", "person": {"name": "\\ud800", '
          '"gender": "male", "birth_date": "1990-01-01"}}'), 400, "person.name"),
    ("lone surrogate in a key", "sec1", "post", "/api/v1/cases/{case}/steps",
     _raw('{"step": "applicant_interviewed", "occurred_on": "2023-03-15", '
          '"data": {"\\udfff": "x"}}'), 400, "data.\udfff"),
    ("NUL in a key", "sec1", "post", "/api/v1/orgs/B1/roster",
     _raw('{"na\\u0000me": "x", "status": "full", "since": "2000-01-01"}'), 400, "na\x00me"),
    ("NUL in a query parameter", "sec1", "get", "/api/v1/cases?q=%00", {}, 400, "q"),
    ("not UTF-8", "sec1", "post", "/api/v1/cases",
     {"data": b'{"branch": "\xff\xfe"}', "content_type": JSON}, 400, None),
    ("not JSON", "sec1", "post", "/api/v1/cases", _raw("{branch: B1"), 400, None),
    ("a number with 5000 digits", "sec1", "post", "/api/v1/cases/{case}/steps",
     _raw('{"step": "applicant_interviewed", "occurred_on": "2023-03-15", "version": '
          + "9" * 5000 + ', "data": {"interviewer": "x"}}'), 400, None),
    ("10 MB body", "sec1", "post", "/api/v1/cases",
     _raw('{"branch": "' + "x" * 10_000_000 + '"}'), 413, None),
    ("wrong content type", "sec1", "post", "/api/v1/cases",
     {"data": "branch=B1", "content_type": "text/plain"}, 400, None),
    ("an array, not an object", "sec1", "post", "/api/v1/cases", {"json": [_case_body()]},
     400, None),
    ("a string, not an object", "org", "post", "/api/v1/trainings", {"json": "training"},
     400, None),
    ("person an array", "sec1", "post", "/api/v1/cases", {"json": {**_case_body(), "person": []}},
     400, None),
    ("unknown top-level field", "sec1", "post", "/api/v1/cases",
     {"json": {**_case_body(), "id": 7}}, 422, "id"),
    # -- dates ----------------------------------------------------------------------------------
    ("birth date 9999-12-31", "sec1", "post", "/api/v1/cases",
     {"json": _case_body(birth_date="9999-12-31")}, 422, "person.birth_date"),
    ("birth date before 1900", "sec1", "post", "/api/v1/cases",
     {"json": _case_body(birth_date="1899-12-31")}, 422, "person.birth_date"),
    ("birth date in the future", "sec1", "post", "/api/v1/cases",
     {"json": _case_body(birth_date="2099-01-01")}, 422, "person.birth_date"),
    ("application date year 0001", "sec1", "post", "/api/v1/cases",
     {"json": {**_case_body(), "application_date": "0001-01-01"}}, 422, "application_date"),
    ("step dated 9999", "sec1", "post", "/api/v1/cases/{case}/steps",
     {"json": _step(occurred_on="9999-12-31")}, 422, "occurred_on"),
    ("as_of 9999-12-31 on a case", "sec1", "get", "/api/v1/cases/{case}?as_of=9999-12-31", {},
     400, "as_of"),
    ("as_of beyond ten years on a case", "sec1", "get", "/api/v1/cases/{case}?as_of=" + FAR,
     {}, 400, "as_of"),
    ("as_of 9999-12-31 on alerts", "org", "get", "/api/v1/alerts?as_of=9999-12-31", {}, 400,
     "as_of"),
    ("as_of beyond ten years on alerts", "org", "get", "/api/v1/alerts?as_of=" + FAR, {}, 400,
     "as_of"),
    ("as_of 9999 on the rubric", "sec1", "get", "/api/v1/rubric?as_of=9999-12-31", {}, 400,
     "as_of"),
    ("year 9999 on the rubric", "sec1", "get", "/api/v1/rubric?year=9999", {}, 400, None),
    ("roster member since 1920", "sec1", "post", "/api/v1/orgs/B1/roster",
     {"json": {"name": "钱七", "status": "full", "since": "1920-12-31"}}, 422, "since"),
    ("roster member since the future", "sec1", "post", "/api/v1/orgs/B1/roster",
     {"json": {"name": "钱七", "status": "full", "since": "2099-01-01"}}, 422, "since"),
    ("training in year 9999", "org", "post", "/api/v1/trainings",
     {"json": _training(start_on="9999-01-01", end_on="9999-01-02")}, 422, "start_on"),
    # -- sizes and texts ------------------------------------------------------------------------
    ("a 20 000-character name", "sec1", "post", "/api/v1/cases",
     {"json": _case_body(name="名" * 20_000)}, 422, "person.name"),
    ("a 51-character name", "sec1", "post", "/api/v1/cases", {"json": _case_body(name="名" * 51)},
     422, "person.name"),
    ("a blank name", "sec1", "post", "/api/v1/cases", {"json": _case_body(name="   ")}, 422,
     "person.name"),
    ("an invisible name", "sec1", "post", "/api/v1/cases",
     {"json": _case_body(name="\u200b\u200d\ufeff")}, 422, "person.name"),
    ("a name with a line break", "sec1", "post", "/api/v1/cases",
     {"json": _case_body(name="陈\n晓")}, 422, "person.name"),
    *((f"a name of U+{ord(blank[0]):04X} alone (shows as nothing)", "sec1", "post",
       "/api/v1/cases", {"json": _case_body(name=blank)}, 422, "person.name")
      for blank in ("\u3164\u3164", "\u115f", "\u2800", "\u034f", "\ufe0f", "\u0301\u0301",
                    "\uffa0")),
    *((f"a name with the bidirectional control U+{ord(bidi):04X}", "sec1", "post",
       "/api/v1/cases", {"json": _case_body(name=f"王{bidi}五")}, 422, "person.name")
      for bidi in ("\u202e", "\u061c", "\u2067", "\u200f")),
    *((f"a phone number of {what}", "sec1", "post", "/api/v1/cases",
       {"json": _case_body(phone=phone)}, 422, "person.phone")
      for what, phone in (("letters", "abc!!"), ("no digit", "()-+"), ("51 characters", "1" * 51),
                          ("an e-mail address", "a@b.cn"))),
    ("a roster member named by a blank Braille pattern", "sec1", "post",
     "/api/v1/orgs/B1/roster", {"json": {"name": "\u2800", "status": "full",
                                         "since": "2000-01-01"}}, 422, "name"),
    ("a 201-character unit", "sec1", "post", "/api/v1/cases",
     {"json": _case_body(unit="单" * 201)}, 422, "person.unit"),
    ("an unknown person field", "sec1", "post", "/api/v1/cases",
     {"json": _case_body(nickname="小陈")}, 422, "person.nickname"),
    ("the client sets id_number_masked", "sec1", "post", "/api/v1/cases",
     {"json": _case_body(id_number_masked="110105194912310021")}, 422,
     "person.id_number_masked"),
    ("an ID number of Arabic-Indic digits", "sec1", "post", "/api/v1/cases",
     {"json": _case_body(id_number="١" * 18)}, 422, "person.id_number"),
    ("a 2001-character note", "sec1", "post", "/api/v1/cases/{case}/steps",
     {"json": _step(note="注" * 2001)}, 422, "note"),
    ("a 2001-character reason", "sec1", "post", "/api/v1/cases/{case}/steps",
     {"json": _step(acknowledge=True, reason="因" * 2001)}, 422, "reason"),
    ("a 201-character interviewer", "sec1", "post", "/api/v1/cases/{case}/steps",
     {"json": _step(data={"interviewer": "张" * 201})}, 422, "interviewer"),
    ("an invisible interviewer", "sec1", "post", "/api/v1/cases/{case}/steps",
     {"json": _step(data={"interviewer": "\u2060"})}, 422, "interviewer"),
    # an ID number can be corrected (kept masked), but only one that agrees with the person
    ("a correction sets an ID number of another birth date", "sec1", "post",
     "/api/v1/cases/{case}/steps",
     {"json": {"step": "step_corrected", "occurred_on": "2023-03-20",
               "data": {"corrects": "{record}", "reason": "录入错误",
                        "fields": {"person": {**PERSON, "id_number": "11010519491231002X"}}}}},
     422, "fields.person.id_number"),
    ("a correction sets a clear id_number_masked", "sec1", "post",
     "/api/v1/cases/{case}/steps",
     {"json": {"step": "step_corrected", "occurred_on": "2023-03-20",
               "data": {"corrects": "{record}", "reason": "录入错误", "fields": {
                   "person": {**PERSON, "id_number_masked": "11010519491231002X"}}}}},
     422, "fields.person.id_number_masked"),
    ("a 51-character roster name", "sec1", "post", "/api/v1/orgs/B1/roster",
     {"json": {"name": "名" * 51, "status": "full", "since": "2000-01-01"}}, 422, "name"),
    ("an unknown roster field", "sec1", "post", "/api/v1/orgs/B1/roster",
     {"json": {"name": "钱七", "status": "full", "since": "2000-01-01", "id": 1}}, 422, "id"),
    ("a 201-character training title", "org", "post", "/api/v1/trainings",
     {"json": _training(title="培" * 201)}, 422, "title"),
    ("501 invitees", "org", "post", "/api/v1/trainings",
     {"json": _training(invitees=list(range(1, 502)))}, 422, "invitees"),
    ("an unknown training field", "org", "post", "/api/v1/trainings",
     {"json": _training(org="C2")}, 422, "org"),
    ("a 201-character paper reference", "sec1", "post", "/api/v1/cases/{case}/documents",
     {"json": {"doc_type": "application_letter", "step_record_id": "{record}", "on_file": True,
               "reference": "柜" * 201}}, 422, "reference"),
    # -- pages and ids --------------------------------------------------------------------------
    ("page 10**9", "sec1", "get", "/api/v1/cases?page=1000000000", {}, 400, None),
    ("per_page 10**9", "sec1", "get", "/api/v1/cases?per_page=1000000000", {}, 400, None),
    ("page -1", "sec1", "get", "/api/v1/cases?page=-1", {}, 400, None),
    ("page of 5000 digits", "sec1", "get", "/api/v1/cases?page=" + "9" * 5000, {}, 400, None),
    ("audit per_page 10**9", "org", "get", "/api/v1/audit?per_page=1000000000", {}, 400, None),
    ("a negative case id", "sec1", "get", "/api/v1/cases/-1", {}, 404, None),
    ("a case id beyond the column", "sec1", "get", "/api/v1/cases/99999999999", {}, 404, None),
    ("a negative training id", "org", "post", "/api/v1/trainings/-5/attendance",
     {"json": {"case_id": 1, "attended": True}}, 404, None),
    ("an unknown branch", "sec1", "get", "/api/v1/cases?branch=NOPE", {}, 404, None),
    ("a branch out of scope", "sec1", "get", "/api/v1/cases?branch=B3", {}, 404, None),
]


def _fill(value: Any, ids: dict[str, int]) -> Any:
    """The placeholders {case} and {record} in a URL or a body, as this world has them."""
    if isinstance(value, str):
        if value == "{record}":
            return ids["record"]
        return value.replace("{case}", str(ids["case"]))
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize("who,method,url,kwargs,status,field",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_api_input_is_refused_and_writes_nothing(world, who, method, url, kwargs,
                                                         status, field):
    case = open_case(world)
    ids = {"case": case["id"], "record": case["steps"][0]["id"]}
    before = _counts()
    call = getattr(world.client, method)
    kwargs = {k: _fill(v, ids) if k == "json" else v for k, v in kwargs.items()}
    r = call(_fill(url, ids), headers=world.headers(who), **kwargs)
    assert r.status_code == status, r.text[:500]
    body = r.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and \
        error["message"], error
    if field is not None:
        assert field in error.get("fields", {}), error
    assert _counts() == before


def test_hostile_input_takes_no_time_to_refuse(world):
    """as_of=9999-12-31 replayed every deadline for seconds before it overflowed (4–30 s);
    now it is refused before any replay. Measured as work, not time: no audit row, no read."""
    case = open_case(world)
    rows = db.session.execute(db.select(db.func.count()).select_from(PersonalDataAccess)).scalar()
    r = world.get("sec1", f"/api/v1/cases/{case['id']}?as_of=9999-12-31")
    assert r.status_code == 400
    after = db.session.execute(db.select(db.func.count()).select_from(PersonalDataAccess)).scalar()
    assert after == rows  # refused before the case was read (a read is logged)


def test_limits_at_their_bounds_are_accepted(world):
    """The bounds themselves pass: a 50-character name (after trimming), a 2000-character
    note with line breaks, 1000 hours, dates from 1900, a roster member since 1921."""
    case = open_case(world, person={**PERSON, "name": "  " + "名" * 50 + "  ",
                                    "birth_date": "1900-01-01",
                                    "phone": "+86 (0571) 8765-4321转12"})
    assert case["person"]["name"] == "名" * 50
    for phone in ("13812345678", "0571-87654321", "1" * 49):  # the phone's forms and bound
        r = world.post("sec1", "/api/v1/cases", _case_body(name="电话" + phone[-4:], phone=phone))
        assert r.status_code == 201, (phone, r.json)
    r = world.post("sec1", f"/api/v1/cases/{case['id']}/steps",
                   _step(note="第一行\n" + "注" * 1990))
    assert r.status_code == 201, r.json
    r = world.post("org", "/api/v1/trainings", _training(hours=1000))
    assert r.status_code == 201, r.json
    r = world.post("sec1", "/api/v1/orgs/B1/roster", {"name": "钱七", "status": "full",
                                                       "since": "1921-07-01"})
    assert r.status_code == 201, r.json
    r = world.get("sec1", f"/api/v1/cases/{case['id']}?as_of="
                  + (today() + timedelta(days=3000)).isoformat())
    assert r.status_code == 200


# --- uploads --------------------------------------------------------------------------------

def _pdf() -> bytes:
    """A minimal valid PDF: one empty page, with a correct cross-reference table."""
    objects = [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
               b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1,
                                                                            xref)
    return bytes(out)


def _png() -> bytes:
    """A valid 1×1 grey PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + \
        chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 100


def _upload(world, who: str, case_id: int, record_id: int, content: bytes, name: str,
            mimetype: str = "application/pdf") -> Any:
    return world.client.post(
        f"/api/v1/cases/{case_id}/documents", headers=world.headers(who),
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(content), name, mimetype), "doc_type": "application_letter",
              "step_record_id": str(record_id)})


@pytest.fixture
def letter(world) -> dict[str, int]:
    case = open_case(world)
    steps = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"]
    return {"case": case["id"], "record": steps[0]["id"]}


@pytest.mark.parametrize("content,name,why", [
    (HTML, "x.pdf", "HTML page named .pdf"),
    (ELF, "x.pdf", "ELF program named .pdf"),
    (b"MZ\x90\x00" + b"\x00" * 60, "x.pdf", "Windows program named .pdf"),
    (b"just some text", "x.pdf", "text named .pdf"),
    (_png(), "x.pdf", "a PNG named .pdf"),
    (_pdf(), "x.png", "a PDF named .png"),
    (_pdf(), "x.html", "an HTML suffix"),
    (_pdf(), "x" * 252 + ".pdf", "a 256-character file name"),
    (_pdf(), "\u200b", "an invisible file name"),
])
def test_uploads_are_checked_by_content(world, letter, content, name, why):
    before = _counts()
    r = _upload(world, "sec1", letter["case"], letter["record"], content, name)
    assert r.status_code == 422, (why, r.json)
    assert r.json["error"]["code"] == "invalid" and "file" in r.json["error"]["fields"], why
    assert _counts() == before


@pytest.mark.parametrize("content,name,sent_type,stored_type", [
    (_pdf(), "入党申请书.pdf", "text/html", "application/pdf"),
    (_png(), "scan.PNG", "application/x-msdownload", "image/png"),
])
def test_real_files_are_stored_with_the_sniffed_type(world, letter, content, name, sent_type,
                                                    stored_type):
    r = _upload(world, "sec1", letter["case"], letter["record"], content, name, sent_type)
    assert r.status_code == 201, r.json
    doc = db.session.get(Document, r.json["id"])
    assert doc.content_type == stored_type and doc.filename == name


def test_upload_names_are_cleaned(world, letter):
    r = _upload(world, "sec1", letter["case"], letter["record"], _pdf(),
                "..\\..\\windows/../etc/pass\x07wd.pdf")
    assert r.status_code == 201, r.json
    assert r.json["filename"] == "passwd.pdf"


def test_office_and_ofd_archives_by_their_structure(world, letter):
    import zipfile

    def archive(*names: str) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for n in names:
                z.writestr(n, "<x/>")
        return buf.getvalue()
    ok = [(archive("[Content_Types].xml", "word/document.xml"), "a.docx"),
          (archive("[Content_Types].xml", "xl/workbook.xml"), "a.xlsx"),
          (archive("OFD.xml", "Doc_0/Document.xml"), "a.ofd")]
    for content, name in ok:
        r = _upload(world, "sec1", letter["case"], letter["record"], content, name)
        assert r.status_code == 201, (name, r.json)
    for content, name in [(archive("evil.html"), "a.docx"), (archive("x.txt"), "a.ofd"),
                          (b"PK\x03\x04 broken", "a.xlsx")]:
        r = _upload(world, "sec1", letter["case"], letter["record"], content, name)
        assert r.status_code == 422 and "file" in r.json["error"]["fields"], name


def _accesses(action: str) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(PersonalDataAccess)
                              .filter_by(action=action)).scalar()


def test_download_is_an_attachment_scope_checked_and_logged(world, letter):
    pdf = _pdf()
    r = _upload(world, "sec1", letter["case"], letter["record"], pdf, "申请书.pdf", "text/html")
    doc_id = r.json["id"]
    url = f"/api/v1/cases/{letter['case']}/documents/{doc_id}"
    got = world.get("sec1", url)
    assert got.status_code == 200 and got.data == pdf
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert _accesses("download_document") == 1
    for who in ("sec2", "sec3", "org2"):  # another branch, another committee's
        assert world.get(who, url).status_code == 404, who
    assert world.get("sec1", f"/api/v1/cases/{letter['case']}/documents/999").status_code == 404
    other = open_case(world, person={**PERSON, "name": "王五"})
    assert world.get("sec1", f"/api/v1/cases/{other['id']}/documents/{doc_id}").status_code \
        == 404  # a document is only reachable through its own case
    assert _accesses("download_document") == 1  # refusals leave no row
    login(world.client, "sec1")
    page = world.client.get(f"/cases/{letter['case']}/documents/{doc_id}")
    assert page.status_code == 200 and page.data == pdf
    assert page.headers["Content-Disposition"].startswith("attachment")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert _accesses("download_document") == 2
    show = world.client.get(f"/cases/{letter['case']}").text
    assert f"/cases/{letter['case']}/documents/{doc_id}" in show
    login(world.client, "sec2")
    assert world.client.get(f"/cases/{letter['case']}/documents/{doc_id}").status_code == 404


# --- pages ----------------------------------------------------------------------------------

@pytest.mark.parametrize("branch", ["NOPE", "B3", "%00"])
def test_work_queue_of_an_unknown_or_foreign_branch_is_not_found(world, branch):
    login(world.client, "sec1")
    r = world.client.get(f"/cases/?branch={branch}")
    assert r.status_code in (400, 404) and "<html" in r.text.lower()


def test_nul_in_a_page_form_is_refused_and_writes_nothing(world):
    login(world.client, "sec1")
    token = _csrf(world.client.get("/cases/new").text)
    before = _counts()
    r = world.client.post("/cases/new", data={
        "csrf_token": token, "name": "陈\x00晓", "gender": "female", "birth_date": "1995-05-01",
        "application_date": "2023-03-01"})
    assert r.status_code == 400 and "NUL" in r.text
    assert _counts() == before


@pytest.mark.parametrize("field,value", [
    ("name", "名" * 51), ("name", "\u200b\u200b"), ("name", "\u3164"), ("name", "王\u202e五"),
    ("phone", "abc!!"),
    ("birth_date", "1899-12-31"),
    ("birth_date", "2099-01-01"), ("unit", "单" * 201)])
def test_the_case_form_refuses_what_the_api_refuses(world, field, value):
    login(world.client, "sec1")
    token = _csrf(world.client.get("/cases/new").text)
    before = _counts()
    data = {"csrf_token": token, "name": "陈晓", "gender": "female", "birth_date": "1995-05-01",
            "application_date": "2023-03-01", field: value}
    r = world.client.post("/cases/new", data=data)
    assert r.status_code == 200 and "已建立案件" not in r.text
    assert _counts() == before


@pytest.mark.parametrize("hours", ["nan", "inf", "-inf", "1e308", "0"])
def test_the_training_form_refuses_hours_that_are_no_number_of_hours(world, hours):
    login(world.client, "org")
    token = _csrf(world.client.get("/trainings/new").text)
    before = _counts()
    r = world.client.post("/trainings/new", data={
        "csrf_token": token, "title": "党校培训", "start_on": "2023-06-01",
        "end_on": "2023-06-03", "hours": hours})
    assert r.status_code == 422, r.text[:300]
    assert _counts() == before
