"""Builders for histories in unit tests: a case is a list of StepRecords, nothing more."""
from __future__ import annotations

from datetime import date
from typing import Any

from workflow.history import DocumentRef, RosterMember, StepRecord
from workflow.steps import STEPS

ROSTER = {
    1: RosterMember(1, "张伟", "full", date(2000, 1, 1)),
    2: RosterMember(2, "王芳", "full", date(2005, 7, 1)),
    3: RosterMember(3, "李强", "full", date(2010, 7, 1)),
    6: RosterMember(6, "赵敏", "probationary", date(2024, 1, 1)),
}


def d(text: str) -> date:
    return date.fromisoformat(text)


def vote(eligible: int = 10, present: int = 9, yes: int = 9, no: int = 0, abstain: int = 0,
         written: int = 0, method: str = "secret_ballot") -> dict[str, Any]:
    return {"eligible": eligible, "present": present, "written": written, "yes": yes,
            "no": no, "abstain": abstain, "method": method}


PERSON = {"name": "陈晓", "gender": "female", "birth_date": "1995-05-01"}


class History:
    """Appends records with increasing seq; documents are attached on the step's date."""

    def __init__(self) -> None:
        self.records: list[StepRecord] = []
        self.documents: list[DocumentRef] = []

    def add(self, step: str, on: str, *, docs: bool = True, role: str | None = None,
            **data: Any) -> int:
        seq = len(self.records) + 1
        recorder = role or ("committee" if STEPS[step].recorder.value == "committee" else "branch")
        self.records.append(StepRecord(seq, step, d(on), data, recorder))
        if docs:
            self.documents += [DocumentRef(seq, t, d(on)) for t in STEPS[step].documents]
        return seq


Entry = tuple[str, str, dict[str, Any]]

HAPPY: list[Entry] = [
    ("application_submitted", "2023-03-01", {"person": PERSON, "branch": "B1"}),
    ("applicant_interviewed", "2023-03-15", {"interviewer": "张伟"}),
    ("activist_designated", "2023-04-10", {"method": "member_recommendation",
                                           "committee_meeting_on": "2023-04-08"}),
    ("activist_filed", "2023-04-20", {}),
    ("cultivators_assigned", "2023-04-20", {"cultivators": [1, 2]}),
    ("activist_assessed", "2023-09-30", {"period": "2023H2", "conclusion": "表现良好"}),
    ("activist_assessed", "2024-03-30", {"period": "2024H1", "conclusion": "表现良好"}),
    ("candidate_designated", "2024-04-15", {"opinions_heard": True,
                                            "committee_meeting_on": "2024-04-12"}),
    ("candidate_filed", "2024-04-20", {}),
    ("introducers_assigned", "2024-04-25", {"introducers": [1, 2]}),
    ("political_review_concluded", "2024-05-10", {"conclusion": "pass"}),
    ("candidate_trained", "2024-05-16", {"start_on": "2024-05-13", "end_on": "2024-05-15",
                                         "hours": 24}),
    ("branch_committee_reviewed", "2024-05-20", {"result": "pass"}),
    ("pre_review_decided", "2024-05-27", {"decision": "approved", "comments": "同意"}),
    ("public_notice_held", "2024-06-04", {"start_on": "2024-05-28", "end_on": "2024-06-03",
                                          "objections": "none"}),
    ("application_form_completed", "2024-06-05", {"form_number": "2024-017"}),
    ("admission_voted", "2024-06-12", {"vote": vote()}),
    ("committee_interviewed", "2024-06-20", {"interviewer": "组织员刘洋"}),
    ("admission_approved", "2024-07-10", {"decision": "approved"}),
    ("admission_filed", "2024-07-15", {}),
    ("group_assigned", "2024-07-15", {"group": "第一党小组"}),
    ("oath_taken", "2024-07-20", {}),
    ("probation_assessed", "2024-09-30", {"period": "2024Q3", "conclusion": "合格"}),
    ("probation_assessed", "2024-12-30", {"period": "2024Q4", "conclusion": "合格"}),
    ("probation_assessed", "2025-03-30", {"period": "2025Q1", "conclusion": "合格"}),
    ("conversion_requested", "2025-05-15", {}),
    ("conversion_notice_held", "2025-06-03", {"start_on": "2025-05-26", "end_on": "2025-05-30",
                                              "objections": "none"}),
    ("conversion_voted", "2025-06-12", {"vote": vote(), "outcome": "convert"}),
    ("conversion_approved", "2025-07-01", {"decision": "approved"}),
    ("file_archived", "2025-07-10", {"archive_ref": "档-2025-031"}),
]


def _index(entries: list[Entry], step: str, occurrence: int = 0) -> int:
    return [i for i, e in enumerate(entries) if e[0] == step][occurrence]


def edit(entries: list[Entry], step: str, on: str | None = None, occurrence: int = 0,
         **data: Any) -> list[Entry]:
    """A copy with one entry's date and/or data fields changed."""
    out = list(entries)
    i = _index(out, step, occurrence)
    name, day, old = out[i]
    out[i] = (name, on or day, {**old, **data})
    return out


def drop(entries: list[Entry], step: str, occurrence: int = 0) -> list[Entry]:
    out = list(entries)
    del out[_index(out, step, occurrence)]
    return out


def until(entries: list[Entry], step: str) -> list[Entry]:
    return entries[: _index(entries, step) + 1]


def build(entries: list[Entry]) -> History:
    h = History()
    for step, on, data in entries:
        h.add(step, on, **data)
    return h


def happy_path() -> History:
    """Application 2023 → full member 2025 with every step on time and every document."""
    return build(HAPPY)
