"""Separation of duties through the service, exemptions, and the tamper-evident history."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.integration.helpers import drive, open_case, post_step
from workflow.persistence.db import db

pytestmark = pytest.mark.db


def _link(runner, username, member):
    r = runner.invoke(args=["users", "link", "--username", username, "--member", str(member)])
    assert r.exit_code == 0, r.output


def test_introducer_cannot_record_the_vote_and_an_exemption_is_visible(ctx, world):
    runner = ctx.test_cli_runner()
    case = open_case(world)
    drive(world, case["id"], until="application_form_completed")
    _link(runner, "sec1", world.roster["张伟"])  # 张伟 is an introducer in the reference history
    vote = {"eligible": 10, "present": 9, "written": 0, "yes": 9, "no": 0, "abstain": 0,
            "method": "secret_ballot"}
    r = post_step(world, case["id"], "admission_voted", "2024-06-12", {"vote": vote})
    assert r.status_code == 422 and r.json["error"]["rule"] == "disinterested_vote"
    r = runner.invoke(args=["exemptions", "grant", "--org", "B1", "--rule", "disinterested_vote",
                            "--reason", "支部仅三名党员，无法回避", "--by", "org"])
    assert r.exit_code == 0, r.output
    r = post_step(world, case["id"], "admission_voted", "2024-06-12", {"vote": vote})
    assert r.status_code == 201, r.json
    assert r.json["step"]["exemptions"] == ["disinterested_vote"]
    _link(runner, "sec1", world.roster["李强"])  # not involved: no exemption needed
    bad = runner.invoke(args=["exemptions", "grant", "--org", "B1", "--rule", "vote_rules",
                              "--reason", "不是回避规则", "--by", "org"])
    assert bad.exit_code == 1


def test_cultivator_cannot_record_the_branch_review(ctx, world):
    runner = ctx.test_cli_runner()
    case = open_case(world)
    drive(world, case["id"], until="candidate_trained")
    _link(runner, "sec1", world.roster["王芳"])  # a cultivator
    r = post_step(world, case["id"], "branch_committee_reviewed", "2024-05-20", {"result": "pass"})
    assert r.status_code == 422 and r.json["error"]["rule"] == "independent_review"
    _link(runner, "sec1", world.roster["李强"])
    r = post_step(world, case["id"], "branch_committee_reviewed", "2024-05-20", {"result": "pass"})
    assert r.status_code == 201


def test_untouched_history_verifies_and_an_edit_is_found(ctx, world):
    runner = ctx.test_cli_runner()
    cases = [open_case(world), open_case(world, person={"name": "第二人", "gender": "male",
                                                        "birth_date": "1990-01-01"})]
    drive(world, cases[0]["id"], until="activist_designated")
    world.post("sec1", f"/api/v1/cases/{cases[1]['id']}/documents",
               {"doc_type": "application_letter", "on_file": True, "reference": "A-1",
                "step_record_id": world.get("sec1", f"/api/v1/cases/{cases[1]['id']}").json["steps"][0]["id"]})
    r = runner.invoke(args=["verify"])
    assert r.exit_code == 0 and "0 broken" in r.output, r.output
    assert world.get("sec1", f"/api/v1/cases/{cases[0]['id']}").json["history"]["verified"] is True
    target = world.get("sec1", f"/api/v1/cases/{cases[0]['id']}").json["steps"][1]["id"]
    # an attacker with database access changes the interview's date
    db.session.execute(text("UPDATE step_records SET occurred_on = '2023-03-02' WHERE id = :i"),
                       {"i": target})
    db.session.commit()
    r = runner.invoke(args=["verify"])
    assert r.exit_code == 1
    assert f"case {cases[0]['id']}: broken at step #{target}" in r.output
    assert f"case {cases[1]['id']}:" not in r.output
    got = world.get("sec1", f"/api/v1/cases/{cases[0]['id']}").json["history"]
    assert got["verified"] is False and got["record_id"] == target


def test_a_deleted_record_breaks_the_chain(ctx, world):
    runner = ctx.test_cli_runner()
    case = open_case(world)
    drive(world, case["id"], until="activist_designated")
    last = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"][-1]["id"]
    db.session.execute(text("DELETE FROM step_records WHERE id = :i"), {"i": last})
    db.session.commit()
    r = runner.invoke(args=["verify", "--org", "B1"])
    assert r.exit_code == 1 and f"case {case['id']}: broken at chain head" in r.output


def test_exemptions_are_shown_to_the_committee(ctx, world):
    from tests.web.test_pages import login
    runner = ctx.test_cli_runner()
    r = runner.invoke(args=["exemptions", "grant", "--org", "B1", "--rule", "independent_review",
                            "--reason", "支部委员不足，经党委同意", "--by", "org"])
    assert r.exit_code == 0, r.output
    login(world.client, "org")
    page = world.client.get("/committee/").text
    assert "支部委员不足，经党委同意" in page
    assert "培养联系人、入党介绍人不得记录本案的支委会审查" in page  # the rule in words, not its id
    assert "independent_review" not in page and "第一党支部" in page


def test_a_document_and_a_step_chained_in_one_transaction_both_hold(ctx, world):
    """A record written after a document in the same transaction (as an import does) links to
    the document, not to the head the case was loaded with."""
    from workflow.persistence.models import Case, Document
    from workflow.services import cases, directory
    from workflow.services.cases import history_chain
    opened = open_case(world)
    user = directory.user_by_name("sec1")
    case = db.session.get(Case, opened["id"])
    first = opened["steps"][0]["id"]
    doc = Document(case_id=case.id, step_record_id=first, doc_type="application_letter",
                   on_file=True, reference="A-1", attached_on=case.application_date,
                   attached_by_id=user.id)
    db.session.add(doc)
    db.session.flush()
    history_chain.append(case.id, "document", doc)  # not committed yet
    done = cases.record_step(user, case.id, "applicant_interviewed", "2023-03-15",
                             {"interviewer": "张伟"})
    assert done["case"]["version"] == 2
    check = history_chain.check_case(db.session.get(Case, case.id))
    assert check.ok and db.session.get(Case, case.id).chain_length == 3
