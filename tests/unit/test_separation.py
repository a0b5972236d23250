"""Separation of duties: the forbidden actor is refused, the right one accepted, exemptions hold."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.builders import HAPPY, ROSTER, build, d, until
from workflow.replay import replay

TODAY = d("2025-12-31")


def _with_actor(entries, step, member, exempt=frozenset(), applicant_member=None, occurrence=0):
    h = build(entries)
    seen = 0
    for i, rec in enumerate(h.records):
        if rec.step == step:
            if seen == occurrence:
                h.records[i] = replace(rec, recorded_by_member=member, exempt=frozenset(exempt))
            seen += 1
    return replay(h.records, TODAY, documents=h.documents, roster=ROSTER,
                  applicant_member=applicant_member)


def _refused(r):
    """The first refusal (later records are refused in turn once one is missing)."""
    return [r.invalid[0].rule] if r.invalid else []


# HAPPY: cultivators 1 and 2, introducers 1 and 2; member 3 is independent
@pytest.mark.parametrize("step", ["branch_committee_reviewed", "pre_review_decided",
                                  "committee_interviewed", "admission_approved",
                                  "conversion_approved"])
@pytest.mark.parametrize("member,refused", [(1, ["independent_review"]), (2, ["independent_review"]),
                                            (3, []), (None, [])])
def test_cultivators_and_introducers_never_decide_their_case(step, member, refused):
    assert _refused(_with_actor(HAPPY, step, member)) == refused


def test_an_exemption_lets_the_named_rule_pass():
    r = _with_actor(HAPPY, "admission_approved", 1, exempt={"independent_review"})
    assert r.valid and r.state == "full_member.archived"


def test_pre_review_not_signed_off_by_its_submitter():
    h = build(until(HAPPY, "pre_review_decided"))
    for i, rec in enumerate(h.records):
        if rec.step in ("branch_committee_reviewed", "pre_review_decided"):
            h.records[i] = replace(rec, recorded_by_member=3)
    r = replay(h.records, TODAY, roster=ROSTER)
    assert _refused(r) == ["independent_prereview"]


@pytest.mark.parametrize("step", ["admission_voted", "conversion_voted"])
def test_nobody_records_a_vote_on_their_own_or_introduced_case(step):
    assert _refused(_with_actor(HAPPY, step, 1)) == ["disinterested_vote"]
    assert _refused(_with_actor(HAPPY, step, 7, applicant_member=7)) == ["disinterested_vote"]
    assert _refused(_with_actor(HAPPY, step, 3, applicant_member=7)) == []
