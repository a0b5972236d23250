"""Deadlines of the happy path's prefixes at chosen days (spec section 6), and alert levels
(section 7). Status per workflow.deadlines: `due` within 30 days, `overdue` after the day,
`met` once done; "not before" dates (earliest_*, probation_expiry) are `upcoming` until reached."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from workflow.alerts import level
from workflow.deadlines import DUE_SOON_DAYS
from workflow.history import Deadline, DeadlineStatus, Responsible
from workflow.replay import replay
from tests.unit.builders import HAPPY, ROSTER, build, d, drop, edit, until

UP, DUE, OVER, MET = (DeadlineStatus.UPCOMING, DeadlineStatus.DUE, DeadlineStatus.OVERDUE,
                      DeadlineStatus.MET)
B, C = Responsible.BRANCH, Responsible.COMMITTEE

EXTENDED = edit(until(HAPPY, "conversion_approved"), "conversion_voted", outcome="extend",
                extend_months=6)
EXTENDED_12 = edit(EXTENDED, "conversion_voted", extend_months=12)
EARLY_NOTICE_RECORD = edit(until(HAPPY, "public_notice_held"), "public_notice_held", "2024-06-03")


def _replay(entries, today):
    h = build(entries)
    r = replay(h.records, d(today), documents=h.documents, roster=ROSTER)
    assert r.valid, r.invalid
    return r


def _of(entries, today, kind) -> list[Deadline]:
    return [x for x in _replay(entries, today).deadlines if x.kind == kind]


def _one(entries, today, kind) -> Deadline:
    found = _of(entries, today, kind)
    assert len(found) == 1, found
    return found[0]


def _upto(step, occurrence=0):
    i = [k for k, e in enumerate(HAPPY) if e[0] == step][occurrence]
    return HAPPY[: i + 1]


# (history, today, kind, due_on, status, responsible, met_on)
TABLE = [
    # interview: application 2023-03-01 + 1 month
    (_upto("application_submitted"), "2023-03-01", "interview_due", "2023-04-01", UP, B, None),
    (_upto("application_submitted"), "2023-03-02", "interview_due", "2023-04-01", DUE, B, None),
    (_upto("application_submitted"), "2023-04-01", "interview_due", "2023-04-01", DUE, B, None),
    (_upto("application_submitted"), "2023-04-02", "interview_due", "2023-04-01", OVER, B, None),
    (_upto("applicant_interviewed"), "2023-03-20", "interview_due", "2023-04-01", MET, B,
     "2023-03-15"),
    # earliest candidacy: designation 2023-04-10 + 1 year
    (_upto("cultivators_assigned"), "2023-05-01", "earliest_candidacy", "2024-04-10", UP, B, None),
    (_upto("activist_assessed", 1), "2024-04-09", "earliest_candidacy", "2024-04-10", UP, B,
     None),
    (_upto("activist_assessed", 1), "2024-04-10", "earliest_candidacy", "2024-04-10", MET, B,
     None),
    (_upto("candidate_designated"), "2024-04-15", "earliest_candidacy", "2024-04-10", MET, B,
     "2024-04-15"),
    # earliest vote: the notice ended 2024-06-03
    (EARLY_NOTICE_RECORD, "2024-06-03", "earliest_vote", "2024-06-04", UP, B, None),
    (EARLY_NOTICE_RECORD, "2024-06-04", "earliest_vote", "2024-06-04", MET, B, None),
    # approval: admission vote 2024-06-12 + 3 months, the committee's
    (_upto("admission_voted"), "2024-06-12", "approval_due", "2024-09-12", UP, C, None),
    (_upto("committee_interviewed"), "2024-08-13", "approval_due", "2024-09-12", DUE, C, None),
    (_upto("committee_interviewed"), "2024-09-12", "approval_due", "2024-09-12", DUE, C, None),
    (_upto("committee_interviewed"), "2024-09-13", "approval_due", "2024-09-12", OVER, C, None),
    (_upto("admission_approved"), "2024-07-10", "approval_due", "2024-09-12", MET, C,
     "2024-07-10"),
    # oath: approval 2024-07-10 + 3 months
    (_upto("group_assigned"), "2024-07-15", "oath_due", "2024-10-10", UP, B, None),
    (_upto("group_assigned"), "2024-09-10", "oath_due", "2024-10-10", DUE, B, None),
    (_upto("group_assigned"), "2024-10-11", "oath_due", "2024-10-10", OVER, B, None),
    (_upto("oath_taken"), "2024-07-20", "oath_due", "2024-10-10", MET, B, "2024-07-20"),
    # probation: admission vote 2024-06-12 + 1 year (not the approval date)
    (_upto("oath_taken"), "2024-07-20", "probation_expiry", "2025-06-12", UP, B, None),
    (_upto("conversion_notice_held"), "2025-06-11", "probation_expiry", "2025-06-12", UP, B,
     None),
    (_upto("conversion_notice_held"), "2025-06-12", "probation_expiry", "2025-06-12", MET, B,
     None),
    (_upto("conversion_voted"), "2025-06-12", "probation_expiry", "2025-06-12", MET, B,
     "2025-06-12"),
    # conversion request expected: expiry − 1 month
    (_upto("oath_taken"), "2025-04-11", "conversion_request_expected", "2025-05-12", UP, B, None),
    (_upto("oath_taken"), "2025-04-12", "conversion_request_expected", "2025-05-12", DUE, B,
     None),
    (_upto("probation_assessed", 2), "2025-05-13", "conversion_request_expected", "2025-05-12",
     OVER, B, None),
    (_upto("conversion_requested"), "2025-05-15", "conversion_request_expected", "2025-05-12",
     MET, B, "2025-05-15"),
    # conversion vote: expiry + 1 month grace
    (_upto("oath_taken"), "2024-07-20", "conversion_vote_due", "2025-07-12", UP, B, None),
    (_upto("conversion_notice_held"), "2025-06-11", "conversion_vote_due", "2025-07-12", UP, B,
     None),
    (_upto("conversion_notice_held"), "2025-06-12", "conversion_vote_due", "2025-07-12", DUE, B,
     None),
    (_upto("conversion_notice_held"), "2025-07-13", "conversion_vote_due", "2025-07-12", OVER, B,
     None),
    (_upto("conversion_voted"), "2025-06-12", "conversion_vote_due", "2025-07-12", MET, B,
     "2025-06-12"),
    # conversion approval: conversion vote 2025-06-12 + 3 months, the committee's
    (_upto("conversion_voted"), "2025-06-12", "conversion_approval_due", "2025-09-12", UP, C,
     None),
    (_upto("conversion_voted"), "2025-09-13", "conversion_approval_due", "2025-09-12", OVER, C,
     None),
    (_upto("conversion_approved"), "2025-07-01", "conversion_approval_due", "2025-09-12", MET, C,
     "2025-07-01"),
    # an extension of 6 months moves the expiry and everything that hangs on it
    (EXTENDED, "2025-07-15", "probation_expiry", "2025-12-12", UP, B, None),
    (EXTENDED, "2025-07-15", "conversion_request_expected", "2025-11-12", UP, B, None),
    (EXTENDED, "2025-07-15", "conversion_vote_due", "2026-01-12", UP, B, None),
    (EXTENDED_12, "2025-07-15", "probation_expiry", "2026-06-12", UP, B, None),
    (EXTENDED_12, "2025-07-15", "conversion_vote_due", "2026-07-12", UP, B, None),
]


@pytest.mark.parametrize("entries,today,kind,due,status,responsible,met_on", TABLE,
                         ids=[f"{row[2]}@{row[1]}" for row in TABLE])
def test_deadline(entries, today, kind, due, status, responsible, met_on):
    x = _one(entries, today, kind)
    assert (x.due_on, x.status, x.responsible, x.met_on) == (
        d(due), status, responsible, d(met_on) if met_on else None)
    assert x.org == "B1"


# --- half-yearly activist assessment windows (from the designation date 2023-04-10) ----------

WINDOW = "activist_assessment_due"


@pytest.mark.parametrize("entries,today,expected", [
    (_upto("cultivators_assigned"), "2023-09-08", [("2023-10-09", UP)]),
    (_upto("cultivators_assigned"), "2023-09-09", [("2023-10-09", DUE)]),
    (_upto("cultivators_assigned"), "2023-10-09", [("2023-10-09", DUE)]),
    # missed: the window can no longer be met, so it is a violation (below), not an open
    # task; the next one is shown
    (_upto("cultivators_assigned"), "2023-10-10", [("2024-04-09", UP)]),
    # met windows are not shown; the next one is
    (_upto("activist_assessed"), "2023-10-15", [("2024-04-09", UP)]),
    (_upto("activist_assessed"), "2024-03-10", [("2024-04-09", DUE)]),
    (_upto("activist_assessed", 1), "2024-04-01", []),
    # once a candidate, no more activist windows
    (_upto("candidate_designated"), "2024-12-31", []),
])
def test_activist_assessment_windows(entries, today, expected):
    assert [(x.due_on, x.status) for x in _of(entries, today, WINDOW)] == [
        (d(due), status) for due, status in expected]


def test_a_missed_activist_window_is_a_violation_on_its_due_date_and_only_once():
    r = _replay(_upto("cultivators_assigned"), "2024-04-20")
    assert [(v.rule, v.step_seq, v.due_on) for v in r.violations] == [
        ("activist_assessed_half_yearly", None, d("2023-10-09")),
        ("activist_assessed_half_yearly", None, d("2024-04-09")),
    ]


@pytest.mark.parametrize("entries,today,expected", [
    # quarterly from the approval date 2024-07-10
    (_upto("oath_taken"), "2024-07-20", [("2024-10-09", UP)]),
    (_upto("oath_taken"), "2024-10-10", [("2025-01-09", UP)]),  # the missed one: a violation
    (_upto("probation_assessed"), "2024-12-15", [("2025-01-09", DUE)]),
    (_upto("conversion_requested"), "2025-06-20", [("2025-07-09", DUE)]),
    # the conversion vote ends probation: no window after it
    (_upto("conversion_voted"), "2025-08-01", []),
])
def test_probation_assessment_windows(entries, today, expected):
    found = _of(entries, today, "probation_assessment_due")
    assert [(x.due_on, x.status) for x in found] == [(d(due), s) for due, s in expected]


def test_deadline_statuses_are_computed_against_the_30_day_threshold():
    assert DUE_SOON_DAYS == 30
    entries = _upto("application_submitted")
    due = d("2023-04-01")
    for days_left, status in [(31, UP), (30, DUE), (1, DUE), (0, DUE), (-1, OVER)]:
        today = (due - timedelta(days_left)).isoformat()
        assert _one(entries, today, "interview_due").status is status, days_left


def test_missed_conversion_vote_is_a_violation_after_the_grace_only():
    entries = _upto("conversion_notice_held")
    on_the_day = _replay(entries, "2025-07-12")
    assert "conversion_vote_on_time" not in {v.rule for v in on_the_day.violations}
    after = _replay(entries, "2025-07-13")
    missed = [v for v in after.violations if v.rule == "conversion_vote_on_time"]
    assert [(v.step_seq, v.due_on, v.responsible) for v in missed] == [
        (None, d("2025-07-12"), B)]


def test_a_late_conversion_request_is_only_a_reminder_not_a_violation():
    r = _replay(_upto("probation_assessed", 2), "2025-05-20")
    assert _one(_upto("probation_assessed", 2), "2025-05-20",
                "conversion_request_expected").status is OVER
    assert r.violations == ()


def test_the_deadline_list_is_sorted_by_due_date():
    r = _replay(_upto("oath_taken"), "2024-07-20")
    assert [(x.kind, x.due_on) for x in r.deadlines] == [
        ("interview_due", d("2023-04-01")),
        ("earliest_candidacy", d("2024-04-10")),
        ("approval_due", d("2024-09-12")),
        ("probation_assessment_due", d("2024-10-09")),
        ("oath_due", d("2024-10-10")),
        ("conversion_request_expected", d("2025-05-12")),
        ("probation_expiry", d("2025-06-12")),
        ("conversion_vote_due", d("2025-07-12")),
    ]


def test_a_closed_case_has_no_deadlines():
    h = build(_upto("oath_taken"))
    h.add("case_closed", "2024-08-01", reason="withdrawn")
    r = replay(h.records, d("2025-12-31"), documents=h.documents, roster=ROSTER)
    assert r.deadlines == ()
    assert r.violations == ()  # nothing falls due on a closed case


# --- alert levels (section 7) ----------------------------------------------------------------

def _deadline(kind: str, due: str, status: DeadlineStatus = UP) -> Deadline:
    return Deadline("rule", kind, d(due), B, status, "B1")


def _on(due: str, days_before: int) -> date:
    return d(due) - timedelta(days_before)


@pytest.mark.parametrize("days_before,expected", [
    (61, None), (60, "before_60"), (31, "before_60"), (30, "before_30"), (15, "before_30"),
    (14, "before_14"), (8, "before_14"), (7, "before_7"), (2, "before_7"), (1, "before_1"),
    (0, "due"), (-1, None), (-30, None),  # after expiry the conversion-vote deadline takes over
])
def test_probation_expiry_alert_windows(days_before, expected):
    x = _deadline("probation_expiry", "2025-06-12")
    assert level(x, _on("2025-06-12", days_before)) == expected


def test_probation_expiry_alerts_on_the_day_although_its_status_is_met():
    # the expiry is a "not before" date: on the day its status already reads `met`
    assert level(_deadline("probation_expiry", "2025-06-12", MET), d("2025-06-12")) == "due"


@pytest.mark.parametrize("kind,days_before,expected", [
    ("approval_due", 31, None), ("approval_due", 30, "before_30"), ("approval_due", 14,
                                                                     "before_14"),
    ("conversion_vote_due", 30, "before_30"), ("conversion_vote_due", 1, "before_1"),
    ("conversion_approval_due", 31, None), ("conversion_approval_due", 7, "before_7"),
    ("conversion_request_expected", 15, None), ("conversion_request_expected", 14, "before_14"),
    ("interview_due", 30, None), ("interview_due", 15, None), ("interview_due", 14, "before_14"),
    ("oath_due", 7, "before_7"), ("oath_due", 1, "before_1"), ("oath_due", 0, "due"),
])
def test_alert_windows_per_kind(kind, days_before, expected):
    assert level(_deadline(kind, "2025-06-12"), _on("2025-06-12", days_before)) == expected


@pytest.mark.parametrize("days_after,expected", [
    (1, "overdue_0"), (6, "overdue_0"), (7, "overdue_1"), (13, "overdue_1"), (14, "overdue_2"),
    (70, "overdue_10"),
])
def test_overdue_alerts_repeat_weekly(days_after, expected):
    x = _deadline("conversion_vote_due", "2025-07-12", OVER)
    assert level(x, d("2025-07-12") + timedelta(days_after)) == expected


@pytest.mark.parametrize("kind", ["earliest_candidacy", "earliest_vote"])
def test_earliest_dates_never_alert(kind):
    for days in (60, 14, 1, 0, -1, -8):
        assert level(_deadline(kind, "2025-06-12"), _on("2025-06-12", days)) is None


def test_met_deadlines_do_not_alert():
    for days in (14, 1, 0, -1, -7):
        assert level(_deadline("oath_due", "2025-06-12", MET), _on("2025-06-12", days)) is None


def test_alert_levels_of_a_replayed_case():
    r = _replay(_upto("probation_assessed", 2), "2025-04-13")
    levels = {x.kind: level(x, d("2025-04-13")) for x in r.deadlines}
    assert levels["probation_expiry"] == "before_60"  # 2025-06-12 is 60 days away
    assert levels["conversion_request_expected"] is None  # 29 days: outside 14/7/1
    assert levels["conversion_vote_due"] is None  # 90 days
    assert levels["oath_due"] is None and levels["approval_due"] is None  # met


@pytest.mark.parametrize("designated,violations", [
    ("2023-03-25", [("activist_after_interview", None)]),
    ("2023-04-10", [("activist_after_interview", None),
                    ("interview_within_one_month", d("2023-04-01"))]),
])
def test_an_interview_no_longer_possible_is_no_open_deadline(designated, violations):
    # designated without an interview: the obligation stopped with the applicant stage, so it
    # must not stay `overdue` (and alert weekly) for ever; a miss is kept as its violation
    e = edit(drop(until(HAPPY, "cultivators_assigned"), "applicant_interviewed"),
             "activist_designated", designated)
    r = _replay(e, "2023-06-01")
    assert sorted((v.rule, v.due_on) for v in r.violations) == violations
    assert "interview_due" not in {x.kind for x in r.deadlines}


def test_a_window_missed_before_candidacy_is_a_miss_not_an_open_task():
    """An activist window missed before the case became a candidate: in the violations (and so
    the rubric), never among the candidate's deadlines or queues."""
    entries = drop(_upto("candidate_designated"), "activist_assessed")
    r = _replay(entries, "2024-12-31")
    assert ("activist_assessed_half_yearly", d("2023-10-09")) in {
        (v.rule, v.due_on) for v in r.violations}
    assert [x for x in r.deadlines if x.kind == WINDOW] == []


def test_every_deadline_kind_is_named_by_what_is_due():
    from workflow.deadlines import LABELS, label
    r = _replay(_upto("oath_taken"), "2024-07-20")
    kinds = {x.kind for x in r.deadlines} | {"conversion_vote_due", "activist_assessment_due",
                                            "earliest_vote", "conversion_approval_due"}
    assert kinds <= LABELS.keys()
    names = [label(k) for k in ("conversion_request_expected", "probation_expiry",
                                "conversion_vote_due")]
    assert names == ["应提出转正申请", "预备期满（最早可讨论转正）", "转正讨论截止"]
    assert len({label(k) for k in LABELS}) == len(LABELS)  # no two deadlines read alike
    assert all(label(k, "en") != label(k) for k in LABELS)
