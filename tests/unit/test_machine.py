"""The nested machine and the bulk-replay table are compiled from one declaration: prove they agree."""
from __future__ import annotations

import itertools

import pytest

from workflow import machine
from workflow.states import STAGES
from workflow.steps import STEPS
from tests.unit.builders import vote

# Data variants that exercise every condition outcome.
VARIANTS = [
    {},
    {"result": "pass"}, {"result": "fail"},
    {"decision": "approved"}, {"decision": "returned"}, {"decision": "rejected"},
    {"vote": vote()}, {"vote": vote(present=3)},
    *({"vote": vote(), "outcome": o} for o in ("convert", "extend", "disqualify")),
    {"vote": vote(yes=2, no=7), "outcome": "convert"},
]


def _outcome(fn, state, step, data):
    try:
        return fn(state, step, data)
    except machine.StepNotAllowed:
        return "NOT ALLOWED"


@pytest.mark.parametrize("state", machine.leaf_states())
def test_table_agrees_with_nested_machine(state):
    for step, data in itertools.product(STEPS, VARIANTS):
        assert _outcome(machine.step, state, step, data) == \
            _outcome(machine.fire, state, step, data), (state, step, data)


def test_machine_is_built_once_without_auto_transitions():
    m = machine.machine()
    assert m is machine.machine()
    assert m.auto_transitions is False
    assert not any(name.startswith("to_") for name in m.events)


def test_every_step_has_a_transition_and_belongs_to_its_stage_module():
    triggers = {t.trigger for t in machine.all_transitions()}
    assert triggers == set(STEPS)
    declared = {s for stage in STAGES for s in stage.STEPS}
    assert declared == set(STEPS)
    for stage in STAGES:
        for step in stage.STEPS:
            assert STEPS[step].stage in (stage.STAGE, "any")


@pytest.mark.parametrize("state,step,data,expected", [
    ("new", "application_submitted", {}, "applicant.applied"),
    ("applicant.applied", "activist_designated", {}, "activist.designated"),
    ("activist.cultivating", "candidate_designated", {}, "candidate.preparing"),
    ("candidate.preparing", "branch_committee_reviewed", {"result": "pass"},
     "candidate.awaiting_pre_review"),
    ("candidate.awaiting_pre_review", "pre_review_decided", {"decision": "returned"},
     "candidate.preparing"),
    ("candidate.pre_reviewed", "admission_voted", {"vote": vote(present=4)},
     "candidate.pre_reviewed"),
    ("candidate.voted", "admission_approved", {"decision": "approved"},
     "probationary.on_probation"),
    ("probationary.resolved_extend", "conversion_approved", {"decision": "approved"},
     "probationary.on_probation"),
    ("probationary.resolved_convert", "conversion_approved", {"decision": "approved"},
     "full_member.admitted"),
    ("probationary.resolved_disqualify", "conversion_approved", {"decision": "approved"},
     "closed"),
    ("candidate.voted", "case_closed", {"reason": "withdrawn"}, "closed"),
])
def test_named_transitions(state, step, data, expected):
    assert machine.fire(state, step, data) == expected


@pytest.mark.parametrize("state,step", [
    ("new", "applicant_interviewed"),
    ("applicant.applied", "candidate_designated"),
    ("candidate.pre_reviewed", "admission_approved"),  # approval of no (passed) vote
    ("candidate.preparing", "pre_review_decided"),  # nothing was submitted
    ("closed", "case_closed"),
    ("full_member.archived", "file_archived"),
])
def test_steps_outside_their_state_are_refused(state, step):
    with pytest.raises(machine.StepNotAllowed):
        machine.fire(state, step, {"decision": "approved", "reason": "withdrawn"})
