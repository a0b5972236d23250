"""Replay as a function: deterministic, independent of input order, and faithful to the spec's
corrections, failed votes, returned pre-reviews, closing and transfers (spec sections 3, 5, 6)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflow import deadlines as dl
from workflow import machine
from workflow.history import StepRecord
from workflow.replay import extend, finish, fold, obligations_of, replay
from workflow.rulesets import DEFAULT_RULEBOOK, NATIONAL_1990, Override, RuleBook, rulebook
from workflow.steps import STEPS
from tests.unit.builders import HAPPY, ROSTER, Entry, History, build, d, drop, edit, until, vote

TODAY = d("2025-12-31")
PROPERTY = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])


def _replay(h: History, today: date = TODAY, records: list[StepRecord] | None = None, **kw):
    return replay(h.records if records is None else records, today, documents=h.documents,
                  roster=ROSTER, **kw)


def _rules(r) -> list[str]:
    return sorted(v.rule for v in r.violations)


def _seq(entries: list[Entry], step: str, occurrence: int = 0) -> int:
    """The seq `build` gives the entry (1-based position)."""
    return [i for i, e in enumerate(entries) if e[0] == step][occurrence] + 1


def _insert_before(entries: list[Entry], step: str, *new: Entry) -> list[Entry]:
    i = _seq(entries, step) - 1
    return entries[:i] + list(new) + entries[i:]


def _correction(seq: int, target: int, on: str, fields: dict,
                reason: str = "录入错误") -> StepRecord:
    return StepRecord(seq, "step_corrected", d(on),
                      {"corrects": target, "fields": fields, "reason": reason}, "branch")


# --- generated histories ---------------------------------------------------------------------

VARIANTS: dict[str, list[Entry]] = {
    "happy": HAPPY,
    "no_cultivators": drop(HAPPY, "cultivators_assigned"),
    "no_activist_filing": drop(HAPPY, "activist_filed"),
    "no_second_activist_assessment": drop(HAPPY, "activist_assessed", occurrence=1),
    "no_second_probation_assessment": drop(HAPPY, "probation_assessed", occurrence=1),
    "late_interview": edit(HAPPY, "applicant_interviewed", "2023-04-05"),
    "show_of_hands": edit(HAPPY, "admission_voted", vote=vote(method="show_of_hands")),
    "no_committee_interview": drop(HAPPY, "committee_interviewed"),
}


def _shift(entries: list[Entry], start: int, days: int) -> list[Entry]:
    """Every entry from `start` on happens `days` later (order kept, step data untouched)."""
    return [(s, (d(on) + timedelta(days)).isoformat() if i >= start else on, data)
            for i, (s, on, data) in enumerate(entries)]


@st.composite
def histories(draw) -> tuple[History, date]:
    entries = VARIANTS[draw(st.sampled_from(sorted(VARIANTS)))]
    entries = entries[:draw(st.integers(1, len(entries)))]
    entries = _shift(entries, draw(st.integers(0, len(entries))), draw(st.integers(0, 200)))
    h = build(entries)
    if len(entries) >= 2 and draw(st.booleans()):
        # correct the interview's date to another day between the application and the next step
        first = h.records[0].occurred_on
        nxt = h.records[2].occurred_on if len(h.records) > 2 else first + timedelta(60)
        on = first + timedelta(draw(st.integers(1, (nxt - first).days)))
        made = max(on, max(r.occurred_on for r in h.records))
        h.records.append(_correction(len(h.records) + 1, 2, made.isoformat(),
                                     {"occurred_on": on.isoformat()}))
    last = max(r.occurred_on for r in h.records)
    return h, last + timedelta(draw(st.integers(0, 800)))


@PROPERTY
@given(histories())
def test_replay_of_a_valid_history_is_deterministic(case):
    h, today = case
    first, second = _replay(h, today), _replay(h, today)
    assert first.valid, first.invalid
    assert first == second


@PROPERTY
@given(histories(), st.data())
def test_replay_does_not_depend_on_the_order_records_are_given_in(case, data):
    h, today = case
    shuffled = data.draw(st.permutations(h.records))
    documents = data.draw(st.permutations(h.documents))
    expected = _replay(h, today)
    got = replay(shuffled, today, documents=documents, roster=ROSTER)
    assert got == expected
    assert [(r.occurred_on, r.seq) for r in got.effective] == sorted(
        (r.occurred_on, r.seq) for r in got.effective)


@PROPERTY
@given(histories(), st.data())
def test_extending_a_fold_by_each_new_record_equals_replaying_the_whole_history(case, data):
    """Recording feeds only the new step onto the fold of the stored history; it must give
    what replaying everything gives, and must decline whenever the record would not be fed
    last (a correction, a backdated step), so the caller folds everything instead."""
    h, today = case
    records = sorted(h.records, key=lambda r: r.seq)
    if data.draw(st.booleans()):  # recorded out of order: forgotten steps entered late
        records = data.draw(st.permutations(records))
    k = data.draw(st.integers(0, len(records)))
    folded = fold(records[:k], today, roster=ROSTER)
    for n in range(k, len(records)):
        rec, before = records[n], finish(folded, h.documents)
        last = max((r.occurred_on for r in folded.effective), default=date.min)
        newest = all(rec.seq > r.seq for r in records[:n])
        extended = extend(folded, rec)
        may = rec.step != "step_corrected" and newest and last <= rec.occurred_on <= today
        assert (extended is not None) == may, (rec, last)
        assert finish(folded, h.documents) == before  # the fold extended is left as it was
        folded = extended or fold(records[:n + 1], today, roster=ROSTER)
        whole = replay(records[:n + 1], today, documents=h.documents, roster=ROSTER)
        assert finish(folded, h.documents) == whole
        # what the alert rows store: the obligations the deadlines show, in their order
        shown = dl.shown(obligations_of(folded), folded.facts, today)
        assert [(o.rule, o.kind, o.due_on, o.responsible, o.met_on) for o in shown] == [
            (x.rule, x.kind, x.due_on, x.responsible, x.met_on) for x in whole.deadlines]


@PROPERTY
@given(histories(), st.data())
def test_a_proposed_step_fed_onto_the_fold_is_judged_as_in_a_full_replay(case, data):
    h, today = case
    last = max(r.occurred_on for r in h.records)
    on = last + timedelta(data.draw(st.integers(0, max(0, (today - last).days))))
    step, _, payload = data.draw(st.sampled_from(HAPPY))
    proposed = StepRecord(2**62, step, on, payload, "branch")
    extended = extend(fold(h.records, today, roster=ROSTER), proposed)
    assert extended is not None
    assert finish(extended, h.documents) == replay(h.records + [proposed], today,
                                                   documents=h.documents, roster=ROSTER)


def test_same_day_records_replay_in_recording_order():
    # filing and cultivators share 2023-04-20; reversing the input changes nothing
    h = build(until(HAPPY, "cultivators_assigned"))
    r = replay(list(reversed(h.records)), d("2023-05-01"), documents=h.documents, roster=ROSTER)
    assert [rec.seq for rec in r.effective] == [1, 2, 3, 4, 5]
    assert r.state == "activist.cultivating" and r.valid


def test_a_forgotten_step_recorded_later_lands_where_it_belongs():
    e = drop(until(HAPPY, "cultivators_assigned"), "applicant_interviewed")
    h = build(e)
    seq = h.add("applicant_interviewed", "2023-03-15", interviewer="张伟")  # recorded last
    r = _replay(h, d("2023-06-01"))
    assert r.valid and _rules(r) == [] and r.state == "activist.cultivating"
    assert [rec.seq for rec in r.effective] == [1, seq, 2, 3, 4]
    interview = next(x for x in r.deadlines if x.kind == "interview_due")
    assert (interview.status.value, interview.met_on) == ("met", d("2023-03-15"))


# --- next steps ------------------------------------------------------------------------------

@pytest.mark.parametrize("k", range(1, len(HAPPY)))
def test_next_steps_of_a_prefix_contain_the_next_happy_step_in_time(k):
    h = build(HAPPY[:k])
    step, on, _ = HAPPY[k]
    for today in (h.records[-1].occurred_on, d(on)):
        r = _replay(h, today)
        assert r.valid and r.violations == ()
        offered = {n.step: n.earliest_on for n in r.next_steps}
        assert step in offered, (k, step, r.state)
        # the happy path is on time everywhere: every next step was already possible
        assert offered[step] <= d(on)
        assert "step_corrected" not in offered


@pytest.mark.parametrize("k,step,earliest", [
    (_seq(HAPPY, "activist_assessed"), "candidate_designated", "2024-04-10"),  # a year on
    (_seq(HAPPY, "public_notice_held"), "admission_voted", "2024-06-04"),  # notice end + 1
    (_seq(HAPPY, "conversion_notice_held"), "conversion_voted", "2025-06-12"),  # expiry
])
def test_next_steps_give_the_earliest_lawful_date(k, step, earliest):
    r = _replay(build(HAPPY[:k]), d(HAPPY[k - 1][1]))
    assert {n.step: n.earliest_on for n in r.next_steps}[step] == d(earliest)


def test_done_steps_are_not_offered_again_but_repeatable_ones_are():
    r = _replay(build(until(HAPPY, "activist_assessed")), d("2023-10-01"))
    offered = {n.step for n in r.next_steps}
    assert {"activist_assessed", "training_attended", "candidate_designated"} <= offered
    assert not {"activist_filed", "cultivators_assigned"} & offered


# --- corrections (step_corrected) ------------------------------------------------------------

LATE_INTERVIEW = edit(HAPPY, "applicant_interviewed", "2023-04-05")


def test_a_corrected_date_removes_the_violation_and_keeps_the_original():
    h = build(LATE_INTERVIEW)
    assert _rules(_replay(h)) == ["interview_within_one_month"]
    fix = _correction(len(h.records) + 1, 2, "2025-08-01", {"occurred_on": "2023-03-25"})
    records = h.records + [fix]
    r = _replay(h, records=records)
    assert r.valid and _rules(r) == []
    assert r.state == "full_member.archived"
    # the original record is still part of the history handed in, untouched
    assert records[1] == StepRecord(2, "applicant_interviewed", d("2023-04-05"),
                                    {"interviewer": "张伟"}, "branch")
    # replay uses the corrected values under the original's seq; the correction is not replayed
    interview = next(rec for rec in r.effective if rec.seq == 2)
    assert (interview.step, interview.occurred_on) == ("applicant_interviewed", d("2023-03-25"))
    assert interview.data == {"interviewer": "张伟"}
    assert "step_corrected" not in {rec.step for rec in r.effective}
    assert len(r.effective) == len(h.records)


def test_a_corrected_date_that_is_still_late_keeps_the_violation():
    h = build(LATE_INTERVIEW)
    r = _replay(h, records=h.records + [
        _correction(len(h.records) + 1, 2, "2025-08-01", {"occurred_on": "2023-04-02"})])
    assert r.valid and _rules(r) == ["interview_within_one_month"]
    assert r.violations[0].step_seq == 2 and r.violations[0].due_on == d("2023-04-01")


def test_a_corrected_field_is_judged_instead_of_the_original():
    e = edit(HAPPY, "admission_voted", vote=vote(method="show_of_hands"))
    h = build(e)
    assert _rules(_replay(h)) == ["secret_ballot"]
    r = _replay(h, records=h.records + [
        _correction(len(h.records) + 1, _seq(e, "admission_voted"), "2025-08-01",
                    {"vote": vote()})])
    assert r.valid and _rules(r) == []


def test_a_correction_that_makes_the_history_impossible_is_invalid():
    # the admission vote moved after the approval (2024-07-10): the approval has no vote
    h = build(HAPPY)
    vote_seq, approval_seq = _seq(HAPPY, "admission_voted"), _seq(HAPPY, "admission_approved")
    r = _replay(h, records=h.records + [
        _correction(len(h.records) + 1, vote_seq, "2025-08-01", {"occurred_on": "2024-07-11"})])
    assert not r.valid
    assert (r.invalid[0].rule, r.invalid[0].step_seq) == ("step_not_allowed", approval_seq)
    assert r.state != "full_member.archived"


def test_a_correction_of_a_record_that_does_not_exist_is_invalid():
    h = build(HAPPY[:2])
    r = _replay(h, d("2023-04-01"), records=h.records + [
        _correction(3, 99, "2023-03-20", {"occurred_on": "2023-03-10"})])
    assert [(i.rule, i.step_seq) for i in r.invalid] == [("correction_invalid", 3)]
    assert r.state == "applicant.interviewed"


def test_a_correction_with_a_bad_date_is_invalid_and_changes_nothing():
    h = build(HAPPY[:2])
    r = _replay(h, d("2023-04-01"), records=h.records + [
        _correction(3, 2, "2023-03-20", {"occurred_on": "2023-02-30"})])
    assert [(i.rule, i.step_seq, dict(i.fields)) for i in r.invalid] == [
        ("correction_invalid", 3, {"occurred_on": "必须是有效日期"})]
    assert r.effective[1].occurred_on == d("2023-03-15")


def test_later_corrections_win():
    h = build(LATE_INTERVIEW)
    n = len(h.records)
    r = _replay(h, records=h.records + [
        _correction(n + 1, 2, "2025-08-01", {"occurred_on": "2023-03-25"}),
        _correction(n + 2, 2, "2025-08-02", {"occurred_on": "2023-04-03"})])
    assert _rules(r) == ["interview_within_one_month"]
    assert r.effective[1].occurred_on == d("2023-04-03")


# --- failed admission vote (section 5) -------------------------------------------------------

FAILED_VOTE = edit(HAPPY, "admission_voted", vote=vote(yes=4, no=5))  # quorate, no majority


def test_a_failed_admission_vote_leaves_a_candidate_and_approval_is_not_allowed():
    e = until(FAILED_VOTE, "committee_interviewed")
    r = _replay(build(e), d("2024-06-30"))
    assert r.valid and r.state == "candidate.pre_reviewed" and r.stage == "candidate"
    assert _rules(r) == []  # the vote was lawful, it just did not pass
    assert "approval_due" not in {x.kind for x in r.deadlines}
    offered = {n.step for n in r.next_steps}
    assert "admission_approved" not in offered and {"admission_voted", "case_closed"} <= offered

    e = until(FAILED_VOTE, "admission_approved")
    r = _replay(build(e), d("2024-07-31"))
    assert [(i.rule, i.step_seq) for i in r.invalid] == [
        ("step_not_allowed", _seq(e, "admission_approved"))]
    assert r.state == "candidate.pre_reviewed"


def test_voting_again_and_passing_allows_approval_and_starts_probation_then():
    e = _insert_before(FAILED_VOTE, "committee_interviewed",
                       ("admission_voted", "2024-06-26", {"vote": vote()}))
    r = _replay(build(until(e, "oath_taken")), d("2024-08-01"))
    assert r.valid and r.state == "probationary.on_probation"
    assert _rules(r) == []
    due = {x.kind: x.due_on for x in r.deadlines}
    assert due["approval_due"] == d("2024-09-26")  # from the vote that passed
    assert due["probation_expiry"] == d("2025-06-26")


# --- returned pre-review (section 3) ---------------------------------------------------------

RETURNED = edit(HAPPY, "pre_review_decided", decision="returned", comments="政审材料不全")
RESUBMITTED = edit(edit(_insert_before(
    RETURNED, "public_notice_held",
    ("branch_committee_reviewed", "2024-05-29", {"result": "pass"}),
    ("pre_review_decided", "2024-05-31", {"decision": "approved", "comments": "同意"})),
    "public_notice_held", "2024-06-08", start_on="2024-06-03", end_on="2024-06-07"),
    "application_form_completed", "2024-06-08")


def test_a_returned_pre_review_sends_the_case_back_to_preparation():
    r = _replay(build(until(RETURNED, "pre_review_decided")), d("2024-05-28"))
    assert r.valid and r.state == "candidate.preparing"
    offered = {n.step for n in r.next_steps}
    assert "branch_committee_reviewed" in offered and "pre_review_decided" not in offered


def test_a_returned_case_is_reviewed_and_requested_again():
    e = RESUBMITTED[:_seq(RESUBMITTED, "pre_review_decided", 1) - 1]
    r = _replay(build(e), d("2024-05-29"))
    assert r.valid and r.state == "candidate.awaiting_pre_review"
    r = _replay(build(RESUBMITTED[:len(e) + 1]), d("2024-05-31"))
    assert r.valid and r.state == "candidate.pre_reviewed"
    r = _replay(build(RESUBMITTED))
    assert r.valid and _rules(r) == [] and r.state == "full_member.archived"


def test_a_form_completed_after_a_return_but_before_new_approval_is_flagged():
    e = edit(RESUBMITTED, "application_form_completed", "2024-05-30")
    r = _replay(build(e))
    assert r.valid and _rules(r) == ["prereview_before_form"]


# --- closing (section 2) ---------------------------------------------------------------------

OPEN_PREFIXES = range(1, _seq(HAPPY, "conversion_voted") + 1)


@pytest.mark.parametrize("k", OPEN_PREFIXES)
def test_case_closed_from_every_open_state_ends_in_closed(k):
    closed_on = d(HAPPY[k - 1][1]) + timedelta(1)
    h = build(HAPPY[:k])
    before = _replay(h, closed_on).state
    assert machine.stage_of(before) in ("applicant", "activist", "candidate", "probationary")
    h.add("case_closed", closed_on.isoformat(), reason="withdrawn")
    r = _replay(h, closed_on + timedelta(1))
    assert r.valid and (r.state, r.stage) == ("closed", "closed")
    assert r.deadlines == () and r.next_steps == ()


@pytest.mark.parametrize("k", [1, _seq(HAPPY, "cultivators_assigned"),
                               _seq(HAPPY, "admission_voted"), _seq(HAPPY, "oath_taken")])
def test_nothing_but_a_correction_is_allowed_after_closing(k):
    closed_on = d(HAPPY[k - 1][1]) + timedelta(1)
    base = build(HAPPY[:k])
    close_seq = base.add("case_closed", closed_on.isoformat(), reason="withdrawn")
    done = {s for s, *_ in HAPPY[:k]} | {"case_closed"}
    assert machine.allowed_steps("closed") == ("step_corrected",)
    later = (closed_on + timedelta(1)).isoformat()
    for step in sorted(set(STEPS) - {"step_corrected"}):
        h = build(HAPPY[:k])
        h.add("case_closed", closed_on.isoformat(), reason="withdrawn")
        seq = h.add(step, later)
        r = replay(h.records, d(later), documents=h.documents, roster=ROSTER, validate=False)
        expected = "step_already_recorded" if step in done and not STEPS[
            step].repeatable else "step_not_allowed"
        assert [(i.rule, i.step_seq) for i in r.invalid] == [(expected, seq)], step
        assert r.state == "closed"
    fix = _correction(close_seq + 1, close_seq, later, {"reason": "deceased"},
                      reason="原因录错")
    r = _replay(base, d(later), records=base.records + [fix])
    assert r.valid and r.state == "closed"
    assert r.effective[-1].data == {"reason": "deceased"}


def test_a_disqualify_resolution_approved_closes_the_case():
    e = edit(until(HAPPY, "conversion_approved"), "conversion_voted", outcome="disqualify")
    r = _replay(build(e), d("2025-07-02"))
    assert r.valid and r.state == "closed" and r.deadlines == ()


# --- transfer during probation widens the grace (art. 35) ------------------------------------

def _assessed(on: str, period: str) -> Entry:
    return ("probation_assessed", on, {"period": period, "conclusion": "合格"})


def _conversion_four_months_late(transfer_on: str | None, vote_on: str = "2025-10-12"):
    e = edit(HAPPY, "conversion_voted", vote_on)
    e = edit(e, "conversion_approved", (d(vote_on) + timedelta(8)).isoformat())
    e = edit(e, "file_archived", (d(vote_on) + timedelta(13)).isoformat())
    e = _insert_before(e, "conversion_requested",
                       _assessed("2025-06-30", "2025Q2"), _assessed("2025-09-30", "2025Q3"))
    if transfer_on:
        e = sorted(e + [("case_transferred", transfer_on, {"to_branch": "B2"})],
                   key=lambda x: x[1])
    return e


def test_a_vote_four_months_after_expiry_is_overdue_without_a_transfer():
    e = _conversion_four_months_late(None)
    r = _replay(build(e), d("2026-03-31"))
    assert r.valid and _rules(r) == ["conversion_vote_on_time"]
    v = r.violations[0]
    assert (v.step_seq, v.due_on, v.org) == (_seq(e, "conversion_voted"), d("2025-07-12"), "B1")


def test_a_transfer_during_probation_widens_the_grace_to_six_months():
    e = _conversion_four_months_late("2024-10-01")
    r = _replay(build(e), d("2026-03-31"))
    assert r.valid and _rules(r) == []
    assert r.state == "full_member.archived"
    r = _replay(build(until(e, "conversion_notice_held")), d("2025-09-01"))
    assert {x.kind: x.due_on for x in r.deadlines}["conversion_vote_due"] == d("2025-12-12")


def test_the_widened_grace_still_ends_six_months_after_expiry():
    e = _conversion_four_months_late("2024-10-01", vote_on="2025-12-13")
    r = _replay(build(e), d("2026-03-31"))
    assert _rules(r) == ["conversion_vote_on_time"]
    assert (r.violations[0].due_on, r.violations[0].org) == (d("2025-12-12"), "B2")


def test_a_transfer_before_probation_does_not_widen_the_grace():
    e = _conversion_four_months_late("2024-05-01")  # while still a candidate
    r = _replay(build(e), d("2026-03-31"))
    assert r.valid and _rules(r) == ["conversion_vote_on_time"]
    assert r.violations[0].due_on == d("2025-07-12")


# --- a second round after an extension or a rejection (spec sections 3 and 5) ----------------

def test_an_extended_probation_is_requested_voted_and_approved_again():
    e = edit(until(HAPPY, "conversion_approved"), "conversion_voted", outcome="extend",
             extend_months=6)
    e = _insert_before(e, "conversion_requested", _assessed("2025-06-30", "2025Q2"))
    e += [_assessed("2025-09-30", "2025Q3"),
          ("conversion_requested", "2025-11-15", {}),
          ("conversion_notice_held", "2025-12-08", {"start_on": "2025-12-01",
                                                    "end_on": "2025-12-05", "objections": "none"}),
          ("conversion_voted", "2025-12-12", {"vote": vote(), "outcome": "convert"}),
          ("conversion_approved", "2025-12-20", {"decision": "approved"})]
    r = _replay(build(e[:-3]), d("2025-11-20"))
    assert r.valid and r.state == "probationary.conversion_requested"
    assert {x.kind: (x.due_on, x.met_on) for x in r.deadlines}["conversion_request_expected"] \
        == (d("2025-11-12"), d("2025-11-15"))
    r = _replay(build(e), d("2026-01-10"))
    assert r.valid, r.invalid
    assert r.state == "full_member.admitted" and _rules(r) == []


def test_a_rejected_admission_can_be_voted_on_and_approved_again():
    e = edit(until(HAPPY, "admission_approved"), "admission_approved", decision="rejected")
    r = _replay(build(e), d("2024-07-11"))
    assert r.valid and r.state == "candidate.preparing"
    e += [("branch_committee_reviewed", "2024-07-20", {"result": "pass"}),
          ("pre_review_decided", "2024-07-25", {"decision": "approved", "comments": "同意"}),
          ("public_notice_held", "2024-08-05", {"start_on": "2024-07-29", "end_on": "2024-08-02",
                                                "objections": "none"}),
          ("admission_voted", "2024-08-12", {"vote": vote()}),
          ("admission_approved", "2024-08-20", {"decision": "approved"})]
    r = _replay(build(e), d("2024-08-21"))
    assert r.valid, r.invalid
    assert r.state == "probationary.on_probation" and _rules(r) == []
    assert {x.kind: x.due_on for x in r.deadlines}["probation_expiry"] == d("2025-08-12")


def test_a_rejected_conversion_resolution_can_be_voted_on_and_approved_again():
    e = edit(until(HAPPY, "conversion_approved"), "conversion_approved", decision="rejected")
    e = _insert_before(e, "conversion_requested", _assessed("2025-06-30", "2025Q2"))
    r = _replay(build(e), d("2025-07-02"))
    assert r.valid and r.state == "probationary.on_probation"
    # the resolution fell: the vote deadline runs again from the expiry
    assert {x.kind: x.status.value for x in r.deadlines}["conversion_vote_due"] == "due"
    e += [("conversion_voted", "2025-07-10", {"vote": vote(), "outcome": "convert"}),
          ("conversion_approved", "2025-07-20", {"decision": "approved"})]
    r = _replay(build(e), d("2025-08-01"))
    assert r.valid, r.invalid
    assert r.state == "full_member.admitted" and _rules(r) == []


@pytest.mark.parametrize("step,data,upto", [
    ("admission_approved", {"decision": "approved"}, "admission_approved"),
    ("conversion_requested", {}, "conversion_requested"),
    ("conversion_approved", {"decision": "approved"}, "conversion_approved"),
])
def test_a_second_decision_in_the_same_round_is_not_allowed(step, data, upto):
    h = build(until(HAPPY, upto))
    on = (h.records[-1].occurred_on + timedelta(1)).isoformat()
    seq = h.add(step, on, **data)
    r = _replay(h, d(on))
    assert [(i.rule, i.step_seq) for i in r.invalid] == [("step_not_allowed", seq)]


@PROPERTY
@given(histories(), st.data())
def test_a_replay_leaves_no_reference_cycles(case, data):
    """Bulk replays pause the cyclic collector (services.bulk); that is only safe while a
    replay's objects are freed by reference counting alone: with corrections, violations,
    missing papers and a refused record (the application recorded twice)."""
    import gc
    h, today = case
    first = min(h.records, key=lambda r: r.seq)
    again = replace(first, seq=max(r.seq for r in h.records) + 1,
                    occurred_on=max(r.occurred_on for r in h.records))
    records = data.draw(st.permutations(h.records + [again]))
    gc.collect()
    gc.disable()
    try:
        replays = [_replay(h, today), _replay(h, today, records=records),
                   replay(records, today, validate=False)]
        assert replays[1].invalid  # the refused record is in there
        folds = [fold(records, today, roster=ROSTER).copy()]
        del replays, folds
        assert gc.collect() == 0
    finally:
        gc.enable()


# --- the compiled path against the plain reading of the rules ---------------------------------

BOOKS = {
    "2014": DEFAULT_RULEBOOK,
    "1990 only": RuleBook(rule_sets=(NATIONAL_1990,)),
    "local settings": rulebook((Override(d("2023-01-01"), "notice_working_days", 7),
                                Override(d("2024-06-01"), "probation_assessment_months", 0),
                                Override(d("2024-06-01"), "notice_before_admission", False))),
}


@PROPERTY
@given(histories(), st.data())
def test_the_compiled_fold_equals_the_plain_reading_of_the_rules(case, data):
    """Replay runs rules compiled per rule set and step, a transition table and remembered
    vote tallies and working-day counts; `reference=True` asks every registry rule per record
    and fires the `transitions` machine. Histories broken on purpose (records dropped, some
    steps recorded twice) must be refused, and judged, alike."""
    h, today = case
    records = list(h.records)
    for _ in range(data.draw(st.integers(0, 3))):
        if records and data.draw(st.booleans()):
            records.pop(data.draw(st.integers(0, len(records) - 1)))
        elif records:
            again = data.draw(st.sampled_from(records))
            records.append(replace(again, seq=10_000 + len(records)))
    book = BOOKS[data.draw(st.sampled_from(sorted(BOOKS)))]
    validate = data.draw(st.booleans())
    kw = {"roster": ROSTER, "rulebook": book, "validate": validate}
    compiled, plain = fold(records, today, **kw), fold(records, today, reference=True, **kw)
    assert finish(compiled, h.documents) == finish(plain, h.documents)
    assert compiled.state == plain.state and compiled.done == plain.done
