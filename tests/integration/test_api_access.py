"""Who may read and write what: scope by organisation subtree, recorder roles, read-only roles."""
from __future__ import annotations

import threading

import pytest

from tests.integration.helpers import drive, open_case, post_step
from workflow.persistence.db import db
from workflow.persistence.models import StepRecordRow

pytestmark = pytest.mark.db

INTERVIEW = {"step": "applicant_interviewed", "occurred_on": "2023-03-15",
             "data": {"interviewer": "张伟"}}


def test_other_branch_cannot_read_or_write(world):
    case = open_case(world)
    url = f"/api/v1/cases/{case['id']}"
    for who in ("sec2", "sec3", "org2"):
        assert world.get(who, url).status_code == 404
        r = world.post(who, url + "/steps", INTERVIEW)
        assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
        assert world.get(who, "/api/v1/cases").json["total"] == 0
    assert world.get("sec2", "/api/v1/cases?branch=B1").status_code == 404
    assert world.get("sec2", "/api/v1/orgs/B1/roster").status_code == 404
    assert db.session.execute(db.select(db.func.count()).select_from(StepRecordRow)).scalar() == 1


def test_committee_and_auditor_see_their_branches(world):
    case = open_case(world)
    for who in ("org", "aud", "admin"):
        assert world.get(who, f"/api/v1/cases/{case['id']}").status_code == 200


def test_branch_cannot_record_a_committee_step(world):
    case = open_case(world)
    drive(world, case["id"], until="branch_committee_reviewed")
    r = post_step(world, case["id"], "pre_review_decided", "2024-05-27",
                  {"decision": "approved"}, who="sec1")
    assert r.status_code == 403
    assert r.json["error"]["rule"] == "committee_step_by_branch"
    assert post_step(world, case["id"], "pre_review_decided", "2024-05-27",
                     {"decision": "approved"}, who="org").status_code == 201


def test_committee_does_not_record_branch_steps(world):
    case = open_case(world)
    assert world.post("org", f"/api/v1/cases/{case['id']}/steps", INTERVIEW).status_code == 403


@pytest.mark.parametrize("who", ["aud", "admin"])
def test_read_only_roles_cannot_write(world, who):
    case = open_case(world)
    assert world.post(who, f"/api/v1/cases/{case['id']}/steps", INTERVIEW).status_code == 403
    r = world.post(who, "/api/v1/cases", {"branch": "B1", "person": {}, "application_date": "2023-01-01"})
    assert r.status_code == 403
    r = world.post(who, "/api/v1/orgs/B1/roster", {"name": "x", "status": "full", "since": "2020-01-01"})
    assert r.status_code == 403


def test_branch_cannot_correct_a_committee_record(world):
    case = open_case(world)
    drive(world, case["id"], until="branch_committee_reviewed")
    r = post_step(world, case["id"], "pre_review_decided", "2024-05-27", {"decision": "approved"})
    record = r.json["step"]["id"]
    r = post_step(world, case["id"], "step_corrected", "2024-06-01",
                  {"corrects": record, "fields": {"comments": "改"}, "reason": "x"}, who="sec1")
    assert r.status_code == 403


def test_concurrent_writes_of_one_version_land_once(world, ctx):
    case = open_case(world)
    body = {**INTERVIEW, "version": case["version"]}
    results: list[int] = []
    barrier = threading.Barrier(6)

    def write() -> None:
        with ctx.app_context():
            client = ctx.test_client()
            barrier.wait()
            r = client.post(f"/api/v1/cases/{case['id']}/steps", json=body,
                            headers=world.headers("sec1"))
            results.append(r.status_code)

    threads = [threading.Thread(target=write) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 5
    rows = db.session.execute(db.select(StepRecordRow).filter_by(case_id=case["id"])).scalars().all()
    assert [r.case_version for r in rows] == [1, 2]


def test_concurrent_writes_without_version_never_duplicate_a_version(world, ctx):
    case = open_case(world)
    steps = [("applicant_interviewed", "2023-03-15", {"interviewer": "张伟"}),
             ("case_closed", "2023-03-20", {"reason": "withdrawn"})]
    results: list[int] = []
    barrier = threading.Barrier(len(steps))

    def write(step, on, data) -> None:
        with ctx.app_context():
            client = ctx.test_client()
            barrier.wait()
            r = client.post(f"/api/v1/cases/{case['id']}/steps", headers=world.headers("sec1"),
                            json={"step": step, "occurred_on": on, "data": data})
            results.append(r.status_code)

    threads = [threading.Thread(target=write, args=s) for s in steps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 201 in results and set(results) <= {201, 409}
    rows = db.session.execute(db.select(StepRecordRow).filter_by(case_id=case["id"])).scalars().all()
    versions = [r.case_version for r in rows]
    assert len(versions) == len(set(versions)) == 1 + results.count(201)
