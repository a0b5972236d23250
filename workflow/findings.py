"""What the rubric reads of a case, kept so that a report need not replay every history.

A replay on day D gives the case's violations and missing paperwork on D. Between two writes
of a case only the calendar moves, and the calendar changes exactly one thing: deadlines whose
due date passes become misses. So the findings kept from a fold far ahead (the deadline rows'
horizon: `kept`) hold the record-based violations, every deadline that would count as missed
once it passes, and the paperwork, and answer (`decode`) for any day from the last thing they
saw (their `since`: the last step and the last document) up to the horizon, exactly as a replay
on that day would. Writes, document attachments and rule changes keep new findings
(services/alerts/findings_store).
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import Any, NamedTuple

from workflow import deadlines as dl
from workflow.history import (
    DocumentRef,
    Paperwork,
    Responsible,
    Violation,
    attended_courses,
    missed_detail,
    org_at,
)
from workflow.replay import Folded, lacking_documents, paperwork
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


def of_fold(folded: Folded, documents: Iterable[DocumentRef],
            years: Collection[int] | None = None) -> Findings:
    """What the rubric reads of a fold on its own day: a replay's violations, paperwork and
    holders (`replay.finish` makes them the same way), without the deadlines and next steps a
    score does not read: about a fifth of `finish`, for a report replaying thousands of cases.
    With `years`, only the violations and paperwork the rubric counts in those years (by the
    year of the step or due date, as the kept findings' `decode` does): a table of one year
    then makes a fifth of the paperwork of a long history."""
    f, today = folded.facts, folded.today
    violations = [v for v in folded.violations if years is None or year_of(v) in years]
    violations += dl.missed(dl.obligations(f, folded.book, today), f, today, years)
    return Findings(f.org, tuple(f.orgs), tuple(violations),
                    tuple(paperwork(folded.effective, documents, today, f, years)),
                    attended_courses(folded.effective))


class Kept(NamedTuple):
    """A case's findings as its deadline set keeps them: `value` answers (`decode`) for every
    day from `since` (the last step or document it saw) to the horizon of the fold it came
    from."""

    since: date
    value: dict[str, Any]


_ATTACHED = attrgetter("attached_on")


def kept(folded: Folded, documents: Iterable[DocumentRef], today: date,
         obligations: list[dl.Obligation] | None = None) -> Kept:
    """The findings of a fold made for a day far ahead (the horizon), taken on `today`.

    Every obligation the horizon fold knows that would ever count as missed is kept with its
    due date (missed on the last possible day); asked for a day before the horizon, the ones
    due before that day are exactly those a replay on that day finds missed: later recurring
    windows only add obligations not yet due.

    Kept as JSON lists, not objects (read back for every case of a committee table, so small
    and quick to decode), made straight from the fold: a rebuild keeps the findings of every
    case. Days and whoever answers stay `date` and `Responsible`: the column's writer, orjson,
    writes them as ISO dates and their values without a Python call for each."""
    f = folded.facts
    documents = list(documents)
    if obligations is None:  # the caller's, when it derived the deadlines from them too
        obligations = dl.obligations(f, folded.book, folded.today)
    effective = folded.effective  # in day order: the fold sorts it
    since = max(today, effective[-1].occurred_on if effective else today,
                max(map(_ATTACHED, documents), default=today))
    # one branch held the case throughout (no transfer): its code, without a search per miss
    org = f.org_on(date.min) if len(f.orgs) <= 1 else None
    org_on = f.org_on
    return Kept(since, {
        "org": f.org,
        "orgs": [[day, held] for day, held in f.orgs],
        "violations": [[v.rule, v.responsible, v.step_seq, v.on, v.detail, v.due_on, v.org]
                       for v in folded.violations],
        # a miss's detail is its due date's (`missed_detail`): `decode` says it again
        "misses": [[ob.rule, ob.responsible, ob.due_on,
                    org if org is not None else org_on(ob.due_on)]
                   for ob in obligations if ob.met_on is None and ob.missed(date.max)],
        # (seq, step, day, lacking, responsible, org) tuples: orjson writes them as lists
        "paperwork": list(lacking_documents(effective, documents, date.max, f)),
        "attended": sorted(attended_courses(effective), key=repr),
    })


_RESPONSIBLE = {r.value: r for r in Responsible}


def decode(value: dict[str, Any], as_of: date,
           years: frozenset[int] | None = None) -> Findings:
    """What a replay on `as_of` would give the rubric, from kept findings read back (ISO days,
    the responsible party's value): record violations, then the deadlines that passed before
    `as_of` (a replay's order); with `years`, only the violations and paperwork the rubric
    counts in those years (it scores by the year of the step or due date), so that a table of
    one year does not build every other year's."""
    iso, who = date.fromisoformat, _RESPONSIBLE
    # ISO days: a year is their first four characters (asked inline, not through a function
    # call: a table of 100,000 cases asks it 1.4 million times)
    ys = None if years is None else frozenset(f"{year:04d}" for year in years)
    violations = [Violation(rule, who[r], seq, iso(on), detail, iso(due) if due else None, org)
                  for rule, r, seq, on, detail, due, org in value["violations"]
                  if ys is None or (due or on)[:4] in ys]
    passed = as_of.isoformat()  # ISO dates compare as the dates do
    violations += [Violation(rule, who[r], None, iso(due), missed_detail(due), iso(due), org)
                   for rule, r, due, org in value["misses"]
                   if due < passed and (ys is None or due[:4] in ys)]
    return Findings(
        value["org"], tuple((iso(since), org) for since, org in value["orgs"]),
        tuple(violations),
        tuple(Paperwork.of(seq, step, iso(on), tuple(missing), who[r], org)
              for seq, step, on, missing, r, org in value["paperwork"]
              if ys is None or on[:4] in ys),
        frozenset(value["attended"]))
