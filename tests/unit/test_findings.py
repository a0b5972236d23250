"""The findings kept from the horizon fold answer for every later day exactly as a replay on
that day does (workflow/findings.py): the committee table reads them instead of replaying."""
from __future__ import annotations

import itertools
import json
from datetime import date, timedelta

import orjson
from hypothesis import given
from hypothesis import strategies as st

from workflow.findings import Findings, Kept, decode, kept, of_fold
from workflow.history import DocumentRef
from workflow.replay import fold, replay
from workflow.rubric import Training, score
from tests.unit.builders import HAPPY, ROSTER, build, d, drop, until
from tests.unit.test_replay_properties import PROPERTY, VARIANTS, _shift

HORIZON = 400  # days ahead, as alerting.HORIZON_DAYS


def _taken(h, today: date) -> tuple[Kept, date]:
    horizon = max([today, *(r.occurred_on for r in h.records),
                   *(doc.attached_on for doc in h.documents)]) + timedelta(HORIZON)
    return kept(fold(h.records, horizon, roster=ROSTER), h.documents, today), horizon


def _on(taken: Kept, day: date, years: frozenset[int] | None = None) -> Findings:
    """The kept findings as a report reads them on `day`: written by orjson (days, enums),
    read back by the standard library, decoded. Only for the days they answer for (the
    deadline set's `findings_from` and horizon say which)."""
    assert taken.since <= day, "kept findings answer only from their last step or document"
    return decode(json.loads(orjson.dumps(taken.value)), day, years)


@st.composite
def cases(draw):
    """A history (some with a transfer and a training course), some documents left out and some
    attached late, a day the findings are kept, and a later day it is asked about: often the
    due date of a deadline or the day after, where a miss begins."""
    entries = VARIANTS[draw(st.sampled_from(sorted(VARIANTS)))]
    entries = entries[:draw(st.integers(1, len(entries)))]
    entries = _shift(entries, draw(st.integers(0, len(entries))), draw(st.integers(0, 200)))
    last = max(d(on) for _, on, _ in entries)
    if len(entries) > 3 and draw(st.booleans()):
        entries = entries + [("case_transferred", last.isoformat(), {"to_branch": "B2"})]
    if len(entries) > 4 and draw(st.booleans()):
        entries = entries + [("training_attended", last.isoformat(),
                              {"training_id": 7, "attended": draw(st.booleans())})]
    h = build(entries)
    late = st.one_of(st.none(), st.just(0), st.integers(1, 500))  # left out, on time, late
    delays = draw(st.lists(late, min_size=len(h.documents), max_size=len(h.documents)))
    h.documents = [DocumentRef(doc.step_seq, doc.doc_type, doc.attached_on + timedelta(k))
                   for doc, k in zip(h.documents, delays) if k is not None]
    taken = last + timedelta(draw(st.integers(0, 400)))
    findings, _ = _taken(h, taken)
    since = findings.since
    days = [since + timedelta(draw(st.integers(0, HORIZON - 35)))]
    days += [due + timedelta(k) for _, _, due, _ in findings.value["misses"] for k in (0, 1)
             if since <= due + timedelta(k) <= since + timedelta(365)]
    return h, taken, draw(st.sampled_from(days))


@PROPERTY
@given(cases())
def test_kept_findings_answer_for_a_later_day_as_a_replay_on_that_day(case):
    h, taken, asked = case
    findings, _ = _taken(h, taken)
    got = _on(findings, asked)
    want = replay(h.records, asked, documents=h.documents, roster=ROSTER)
    assert got.violations == want.violations
    assert got.paperwork == want.paperwork
    assert (got.org, got.orgs, got.attended) == (want.org, want.orgs, want.attended)
    for day in (taken, asked, asked - timedelta(400)):
        assert got.org_on(day) == want.org_on(day)


@PROPERTY
@given(cases())
def test_the_findings_of_a_fold_are_the_replays_on_its_day(case):
    """What a report replaying a case reads (`of_fold`, without deadlines and next steps)."""
    h, taken, asked = case
    for day in (taken, asked):
        want = replay(h.records, day, documents=h.documents, roster=ROSTER)
        got = of_fold(fold(h.records, day, roster=ROSTER), h.documents)
        assert got == Findings(want.org, want.orgs, want.violations, want.paperwork,
                               want.attended)
        course = Training(7, "入党积极分子培训班", day - timedelta(60), day - timedelta(58), (1,))
        for org in ("B1", "B2"):
            assert score(org, day.year, day, {1: got}, [course]) == score(
                org, day.year, day, {1: want}, [course])


@PROPERTY
@given(cases())
def test_the_findings_of_some_years_are_what_the_rubric_counts_in_them(case):
    """`of_fold` with years keeps the violations and paperwork of those years, and scores
    those years as the whole findings do."""
    h, _, asked = case
    folded = fold(h.records, asked, roster=ROSTER)
    whole = of_fold(folded, h.documents)
    course = Training(7, "入党积极分子培训班", asked - timedelta(60), asked - timedelta(58), (1,))
    for years in ({asked.year}, {asked.year - 1, asked.year}, set()):
        got = of_fold(folded, h.documents, years)
        assert got.violations == tuple(v for v in whole.violations
                                       if (v.due_on or v.on).year in years)
        assert got.paperwork == tuple(p for p in whole.paperwork if p.on.year in years)
        assert (got.org, got.orgs, got.attended) == (whole.org, whole.orgs, whole.attended)
        for org, year in itertools.product(("B1", "B2"), years):
            assert score(org, year, asked, {1: got}, [course]) == score(
                org, year, asked, {1: whole}, [course])


@PROPERTY
@given(cases())
def test_scoring_kept_findings_equals_scoring_the_replay(case):
    h, taken, asked = case
    findings, _ = _taken(h, taken)
    course = Training(7, "入党积极分子培训班", asked - timedelta(60), asked - timedelta(58), (1,))
    for org in ("B1", "B2"):
        for year in {asked.year - 1, asked.year}:
            want = score(org, year, asked, {1: replay(h.records, asked, documents=h.documents,
                                                      roster=ROSTER)}, [course])
            assert score(org, year, asked, {1: _on(findings, asked)}, [course]) == want


def test_a_deadline_that_passes_after_the_findings_were_kept_becomes_a_miss_then():
    h = build(until(HAPPY, "cultivators_assigned"))  # activist from 2023-04-10: assessments due
    findings, _ = _taken(h, d("2023-05-01"))
    assert not _on(findings, d("2023-05-01")).violations
    missed = _on(findings, d("2023-10-11")).violations  # first half-year window ended 2023-10-09
    assert [v.rule for v in missed] == ["activist_assessed_half_yearly"]
    assert missed == replay(h.records, d("2023-10-11"), roster=ROSTER).violations


def test_since_is_the_last_step_or_document():
    h = build(drop(until(HAPPY, "activist_filed"), "applicant_interviewed"))
    h.documents.append(DocumentRef(1, "application_letter", d("2023-06-30")))
    assert _taken(h, d("2023-05-01"))[0].since == d("2023-06-30")
    assert _taken(h, d("2023-07-02"))[0].since == d("2023-07-02")  # the day they were taken


@PROPERTY
@given(cases())
def test_kept_findings_read_for_some_years_score_those_years_as_the_whole(case):
    """The committee table of one year decodes that year's violations and paperwork only."""
    h, taken, asked = case
    findings, _ = _taken(h, taken)
    course = Training(7, "入党积极分子培训班", asked - timedelta(60), asked - timedelta(58), (1,))
    for org in ("B1", "B2"):
        for year in {asked.year - 1, asked.year}:
            assert score(org, year, asked, {1: _on(findings, asked, frozenset({year}))},
                         [course]) == score(org, year, asked, {1: _on(findings, asked)}, [course])
