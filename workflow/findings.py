"""What the rubric reads of a case, kept so that a report need not replay every history.

A replay on day D gives the case's violations and missing paperwork on D. Between two writes
of a case only the calendar moves, and the calendar changes exactly one thing: deadlines whose
due date passes become misses. So a snapshot taken from a fold far ahead (the deadline rows'
horizon) holds the record-based violations, every deadline that would count as missed once it
passes, and the paperwork, and answers for any day from the last thing it saw (its `since`: the
last step and the last document) up to the horizon, exactly as a replay on that day would.
Writes, document attachments and rule changes make a new snapshot (services/alerts/findings_store).
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date

from workflow import deadlines as dl
from workflow.history import DocumentRef, Paperwork, Violation, attended_courses, org_at
from workflow.replay import Folded, paperwork
from workflow.rubric import year_of


@dataclass(frozen=True)
class Findings:
    """A case as the rubric sees it on one day (a Replay offers the same fields)."""

    org: str
    orgs: tuple[tuple[date, str], ...]
    violations: tuple[Violation, ...]
    paperwork: tuple[Paperwork, ...]
    attended: frozenset[int]

    def org_on(self, day: date) -> str:
        return org_at(self.orgs, day, self.org)


@dataclass(frozen=True)
class Snapshot:
    """A case's findings for every day from `since` to `until`, the day of the fold it came
    from (a later day may have recurring windows the fold did not derive)."""

    since: date
    until: date
    org: str
    orgs: tuple[tuple[date, str], ...]
    violations: tuple[Violation, ...]  # of the records: the same on every day
    misses: tuple[Violation, ...]  # deadlines that count as missed once their due date passes
    paperwork: tuple[Paperwork, ...]
    attended: frozenset[int]

    def on(self, day: date) -> Findings:
        assert self.since <= day <= self.until, "a snapshot answers only for its own days"
        passed = tuple(v for v in self.misses if v.due_on is not None and v.due_on < day)
        return Findings(self.org, self.orgs, self.violations + passed, self.paperwork,
                        self.attended)


def of_fold(folded: Folded, documents: Iterable[DocumentRef],
            years: Collection[int] | None = None) -> Findings:
    """What the rubric reads of a fold on its own day: a replay's violations, paperwork and
    holders (`replay.finish` makes them the same way), without the deadlines and next steps a
    score does not read: about a fifth of `finish`, for a report replaying thousands of cases.
    With `years`, only the violations and paperwork the rubric counts in those years (by the
    year of the step or due date, as the kept findings' `decode` does): a table of one year
    then makes a fifth of the paperwork of a long history."""
    f, today = folded.facts, folded.today
    violations = folded.violations + dl.missed(dl.obligations(f, folded.book, today), f, today)
    if years is not None:
        violations = [v for v in violations if year_of(v) in years]
    return Findings(f.org, tuple(f.orgs), tuple(violations),
                    tuple(paperwork(folded.effective, documents, today, f, years)),
                    attended_courses(folded.effective))


def snapshot(folded: Folded, documents: Iterable[DocumentRef], today: date,
             obligations: list[dl.Obligation] | None = None) -> Snapshot:
    """The snapshot of a fold made for a day far ahead (the horizon), taken on `today`.

    Every obligation the horizon fold knows that would ever count as missed is kept with its
    due date (`missed` on the last possible day); asked for a day before the horizon, the ones
    due before that day are exactly those a replay on that day finds missed: later recurring
    windows only add obligations not yet due."""
    f = folded.facts
    documents = list(documents)
    if obligations is None:  # the caller's, when it derived the deadlines from them too
        obligations = dl.obligations(f, folded.book, folded.today)
    since = max([today, *(r.occurred_on for r in folded.effective),
                 *(doc.attached_on for doc in documents)])
    return Snapshot(
        since=since, until=folded.today, org=f.org, orgs=tuple(f.orgs),
        violations=tuple(folded.violations),
        misses=tuple(dl.missed(obligations, f, date.max)),
        paperwork=tuple(paperwork(folded.effective, documents, date.max, f)),
        attended=attended_courses(folded.effective))
