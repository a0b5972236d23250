"""An out-of-order step names the step to record first and its article."""
from __future__ import annotations

import pytest

from tests.unit.builders import HAPPY, ROSTER, build, d, until
from workflow import machine
from workflow.replay import replay
from workflow.rules import STEP_ARTICLES, step_article
from workflow.steps import STEPS


@pytest.mark.parametrize("state,step,first", [
    ("applicant.applied", "cultivators_assigned", "activist_designated"),
    ("applicant.applied", "candidate_designated", "activist_designated"),
    ("activist.cultivating", "admission_voted", "candidate_designated"),
    ("candidate.preparing", "application_form_completed", "branch_committee_reviewed"),
    ("candidate.voted", "oath_taken", "admission_approved"),
    ("probationary.on_probation", "conversion_approved", "conversion_voted"),
    ("probationary.on_probation", "pre_review_decided", None),  # long past: nothing to do first
])
def test_the_first_missing_step(state, step, first):
    assert machine.missing_step(state, step) == first


def test_the_refusal_names_the_missing_step_and_its_article():
    vote = next(data for step, _, data in HAPPY if step == "admission_voted")
    h = build([*until(HAPPY, "activist_designated"), ("admission_voted", "2023-06-01", vote)])
    r = replay(h.records, d("2025-12-31"), roster=ROSTER)
    (refused,) = r.invalid
    assert refused.rule == "step_not_allowed"
    assert "应先记录「确定发展对象」（第十二至十三条）" in refused.message


def test_every_step_cites_an_article_or_its_stage():
    assert set(STEP_ARTICLES) <= set(STEPS)
    assert step_article("admission_voted") == "art. 20–21"
    assert step_article("group_assigned") == "art. 26–35"  # the probationary stage's range
