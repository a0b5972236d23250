"""Every route × every role × own branch / other branch / other committee: no leaks, no writes.

The matrix is generated from the app's route table, so a new route is covered the day it is
added (and a new kind of URL parameter fails here until it is given a value).
"""
from __future__ import annotations

import re

import pytest

from tests.integration.helpers import drive, open_case
from tests.web.test_pages import _csrf
from tests.integration.conftest import PASSWORD
from workflow.persistence.db import db
from workflow.persistence.models import Document, StepRecordRow

pytestmark = pytest.mark.db

SECRET_NAME = "保密测试人"
OUTSIDERS = ["sec2", "sec3", "org2"]  # another branch, a branch and a committee elsewhere
PUBLIC = {"/api/v1/health", "/api/v1/openapi.json", "/login", "/lang/<code>", "/static/<path:filename>"}


def _url(rule, values):
    def sub(m):
        name = m.group(2)
        if name not in values:
            raise AssertionError(f"route {rule.rule}: give the matrix a value for <{name}>")
        return str(values[name])
    return re.sub(r"<(?:(\w+):)?(\w+)>", sub, rule.rule)


def _writes():
    return (db.session.execute(db.select(db.func.count()).select_from(StepRecordRow)).scalar(),
            db.session.execute(db.select(db.func.count()).select_from(Document)).scalar())


def _text(r) -> str:
    """What a person could read in the answer, whatever its format."""
    if r.mimetype.endswith("spreadsheetml.sheet"):
        import io
        import openpyxl
        book = openpyxl.load_workbook(io.BytesIO(r.data), read_only=True)
        return " ".join(str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
                        for c in row if c is not None)
    if r.mimetype == "application/pdf":
        import subprocess
        return subprocess.run(["pdftotext", "-", "-"], input=r.data, capture_output=True,
                              check=True).stdout.decode("utf-8")
    return r.get_data(as_text=True)


def _login(client, username):
    client.post("/login", data={"username": username, "password": PASSWORD,
                                "csrf_token": _csrf(client.get("/login").text)})


@pytest.fixture
def target(world):
    case = open_case(world, person={"name": SECRET_NAME, "gender": "male", "birth_date": "1990-01-01"})
    drive(world, case["id"], until="activist_assessed")
    return case["id"]


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule in PUBLIC:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_outsiders_never_see_or_change_the_case(ctx, world, target):
    values = {"case_id": target, "id": target, "training_id": 1, "code": "B1", "step": "activist_filed",
              "filename": "app.css", "fmt": "xlsx"}
    before = _writes()
    checked = 0
    for who in OUTSIDERS:
        client = ctx.test_client()
        _login(client, who)
        token = _csrf(client.get("/password").text)
        for rule, method in _routes(ctx):
            url = _url(rule, values)
            if url.endswith("/logout"):
                continue
            if url.startswith("/api/"):
                r = client.open(url, method=method, headers=world.headers(who),
                                json={"step": "activist_filed", "occurred_on": "2023-05-01", "data": {},
                                      "doc_type": "filing_record", "on_file": True, "reference": "x",
                                      "case_id": target, "attended": True})
            else:
                r = client.open(url, method=method, data={"csrf_token": token, "reference": "x",
                                                          "doc_type": "filing_record", "case_id": str(target),
                                                          "decision": "approved", "occurred_on": "2023-05-01"})
            body = _text(r)
            assert SECRET_NAME not in body, (who, method, url, r.status_code)
            assert r.status_code < 500, (who, method, url, r.status_code)
            checked += 1
    assert _writes() == before
    assert checked > 50


@pytest.mark.parametrize("who,status", [("sec1", 200), ("org", 200), ("aud", 200), ("admin", 200),
                                        ("sec2", 404), ("sec3", 404), ("org2", 404)])
def test_case_read_matrix(world, target, who, status):
    assert world.get(who, f"/api/v1/cases/{target}").status_code == status


@pytest.mark.parametrize("who,status", [("sec1", 201), ("org", 403), ("aud", 403), ("admin", 403),
                                        ("sec2", 404), ("sec3", 404), ("org2", 404)])
def test_branch_step_write_matrix(world, target, who, status):
    r = world.post(who, f"/api/v1/cases/{target}/steps",
                   {"step": "activist_assessed", "occurred_on": "2024-03-30",
                    "data": {"period": "2024H1", "conclusion": "表现良好"}})
    assert r.status_code == status, r.json
