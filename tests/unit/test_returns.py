"""A return is a decision, not a violation: the prerequisites of a pre-review or an approval
judge the approval, never a return (returning a pre-review because the political review is
missing cost the branch 2 points)."""
from __future__ import annotations

import pytest

from tests.unit.builders import HAPPY, ROSTER, build, d, drop, edit, until
from workflow.replay import replay

TODAY = d("2025-12-31")


def _found(entries):
    h = build(entries)
    r = replay(h.records, TODAY, documents=h.documents, roster=ROSTER)
    assert r.valid, r.invalid
    return sorted({v.rule for v in r.violations}), r


# each prerequisite missing at pre-review, and the rule an approval of it breaks
MISSING = [
    (lambda e: drop(e, "political_review_concluded"), "political_review_before_prereview"),
    (lambda e: edit(e, "candidate_trained", hours=8, end_on="2024-05-13"),
     "candidate_training_hours"),
]


@pytest.mark.parametrize("spoil,rule", MISSING)
def test_returning_a_pre_review_that_lacks_a_prerequisite_costs_nothing(spoil, rule):
    entries = until(spoil(HAPPY), "pre_review_decided")
    returned = edit(entries, "pre_review_decided", decision="returned", comments="补充材料")
    found, r = _found(returned)
    assert rule not in found
    assert r.state == "candidate.preparing"  # sent back to the branch
    approved, _ = _found(entries)
    assert rule in approved  # approving the same case is the violation


def test_rejecting_an_admission_without_the_committee_interview_costs_nothing():
    entries = until(drop(HAPPY, "committee_interviewed"), "admission_approved")
    found, _ = _found(edit(entries, "admission_approved", decision="rejected"))
    assert "committee_interview_before_approval" not in found
    found, _ = _found(entries)
    assert "committee_interview_before_approval" in found


def test_a_late_return_is_still_late():
    """Timeliness judges every decision: a rejection three months after the vote is late too."""
    entries = until(HAPPY, "admission_approved")
    found, _ = _found(edit(entries, "admission_approved", "2024-09-13", decision="rejected"))
    assert "approval_within_three_months" in found
