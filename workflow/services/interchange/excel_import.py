"""Excel import of a branch's existing cases: preview everything, then write all or nothing.

Branches hold years of records in spreadsheets; the import takes them in through the same
services as the pages (`open_case`, `record_step`), so every row is replayed under the rule set
in force on each step's date and refused exactly as a hand-entered step would be. Both the
preview and the import run the whole file in one transaction; the preview always rolls it
back, the import commits only when no row was refused. Violations are real history, so they
are recorded and acknowledged with the reason 「历史档案导入」.

A person already in the branch (same branch, name, birth date and application date, which is
what the application step records) is recognised and skipped: re-importing a file changes
nothing, and people entered by hand are not duplicated.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow.messages import Message
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import (
    Case,
    Document,
    Organisation,
    StepRecordRow,
    User,
    utcnow,
)
from workflow.services import cases
from workflow.services.alerts import deadline_rows
from workflow.services.cases import decisions, history_chain
from workflow.services.clock import today
from workflow.services.directory.access import Role, visible_org
from workflow.services.errors import BadRequest, Forbidden, Invalid, NotFound, ServiceError
from workflow.services.interchange.excel_export import summarize
from workflow.services.interchange.excel_export import template as _blank
from workflow.services.interchange.import_sheet import (
    PERSON_HEADER,
    SHEETS,
    Entry,
    Person,
    Problem,
    parse,
)
from workflow.services.interchange.sheet_columns import APPLIED, MAIN_SHEET
from workflow.steps import STEPS, Recorder

REASON = "历史档案导入"


class ImportRefused(Invalid):
    """The whole file is refused; `problems` says where (sheet, row, column) and why."""

    def __init__(self, report: dict[str, Any]) -> None:
        n = len(report["problems"])
        super().__init__(f"导入文件有 {n} 处错误，整个文件未导入", problems=report["problems"])
        self.report = report


@dataclass(frozen=True)
class _Transcriber:
    """The importing user, transcribing an archive rather than acting in it.

    Each step is stored as the side that records it (`recorded_by_role` stays what the step
    is; `recorded_by` names who typed it in). No roster member is named as the recorder: the
    one typing did not hold the vote or sign the approval, so the separation-of-duties rules
    have no recorder to judge. The committee's steps (its interviews, training, pre-review and
    approvals) are transcribed only by a committee organiser: a branch's own file cannot put a
    committee decision on record (`_committee_problems`)."""

    id: int
    org_id: int
    role: str
    roster_member_id: int | None = None

    @classmethod
    def pair(cls, actor: User, branch: Organisation) -> tuple[Any, Any]:
        """(for branch steps, for committee steps): the branch's side acts in the branch; the
        committee's side is the organiser, and exists only when a committee organiser imports."""
        committee = (cls(actor.id, actor.org_id, Role.COMMITTEE_ORGANIZER)
                     if actor.role == Role.COMMITTEE_ORGANIZER else None)
        return cls(actor.id, branch.id, Role.BRANCH_SECRETARY), committee


# --- recording -------------------------------------------------------------------------------------

class _RowRefused(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _message(exc: ServiceError) -> str:
    fields = exc.extra.get("fields") or {}
    return exc.message + (f"（{'；'.join(str(v) for v in fields.values())}）" if fields else "")


def _person_problem(p: Person, exc: ServiceError) -> Problem:
    fields = exc.extra.get("fields") or {}
    key = next(iter(fields), "")
    if key.startswith("person."):
        column = PERSON_HEADER.get(key.removeprefix("person."), "姓名")
    else:
        column = "出生日期" if exc.extra.get("rule") == "applicant_under_18" else APPLIED
    return Problem(MAIN_SHEET, p.row, column, _message(exc))


def _step_problem(e: Entry, exc: ServiceError) -> Problem:
    fields = exc.extra.get("fields") or {}
    name = next((k for k in fields if STEPS[e.step].field(k)), None)
    return Problem(e.sheet, e.row, e.header(name), _message(exc) + "；此人其后的步骤未再检查")


def _existing(branch: Organisation, p: Person) -> Case | None:
    """The same person already in the branch: what the application step records as the key."""
    found = db.session.execute(db.select(Case).where(
        Case.person_name == p.person.get("name"), Case.application_date == p.applied)).scalars()
    for case in found:
        first = db.session.execute(db.select(StepRecordRow).filter_by(
            case_id=case.id, step="application_submitted")).scalars().first()
        origin = (first.data or {}).get("branch") if first else None
        if case.person.get("birth_date") == p.person.get("birth_date") and (
                case.branch_id == branch.id or origin == branch.code):
            return case
    return None


def _file_papers(actor_id: int, case_id: int, reference: str) -> None:
    """Every listed document of every imported step is a paper original at `reference`,
    stored and chained like `documents.mark_on_file` does, without its commit."""
    for row in repo.step_rows(case_id):
        for doc_type in STEPS[row.step].documents:
            doc = Document(case_id=case_id, step_record_id=row.id, doc_type=doc_type,
                           on_file=True, reference=reference[:300], attached_on=today(),
                           attached_by_id=actor_id, attached_at=utcnow().replace(microsecond=0))
            db.session.add(doc)
            db.session.flush()
            history_chain.append(case_id, "document", doc)
    deadline_rows.refresh_deadlines(db.session.get(Case, case_id))  # the papers end its paperwork


def _committee_problems(actor: User, p: Person) -> list[Problem]:
    """A branch's file holding the committee's steps: each such cell refused. Importing them
    would let a branch put on record a pre-review or an approval the committee never gave;
    a file with them is imported by the committee's organiser, for the branch."""
    if actor.role == Role.COMMITTEE_ORGANIZER:
        return []
    return [Problem(e.sheet, e.row, e.header(), Message(
        "「%(step)s」由上级党委记录：含上级党委记录的档案请交上级党委组织员导入"
        "（党支部导入时请删去这些列）", step=STEPS[e.step].zh))
        for e in p.entries if STEPS[e.step].recorder is Recorder.COMMITTEE]


def _record(actor: User, branch: Organisation, p: Person) -> dict[str, Any]:
    """Open the case and record every step in date order, in the caller's transaction."""
    branch_side, committee = _Transcriber.pair(actor, branch)
    assert p.applied is not None
    try:
        view = cases.open_case(branch_side, branch.code, p.person, p.applied.isoformat(),
                               acknowledge=True, reason=REASON, commit=False,
                               masked_id=True)  # our export's masked ID numbers come back
    except ServiceError as exc:
        raise _RowRefused(_person_problem(p, exc)) from None
    for e in sorted(p.entries, key=lambda e: e.order):
        who = committee if STEPS[e.step].recorder is Recorder.COMMITTEE else branch_side
        assert who is not None  # a branch's committee steps were refused (_committee_problems)
        try:
            view = cases.record_step(who, view["id"], e.step, e.on.isoformat(), e.data,
                                     note=REASON, acknowledge=True, reason=REASON,
                                     commit=False, origin=decisions.TRANSCRIPTION)["case"]
        except ServiceError as exc:
            raise _RowRefused(_step_problem(e, exc)) from None
    if p.papers:
        _file_papers(actor.id, view["id"], p.papers)
    return view


def _outcome(view: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
    steps = sorted(view["steps"], key=lambda s: (s["occurred_on"], s["id"]))
    return {"case_id": view["id"], "state_label": view["state_label"],
            "steps": [{"on": s["occurred_on"], "label": s["label"],
                       "summary": summarize(s["step"], s["data"], names),
                       "violations": [f"{v['message']}：{v['detail']}" for v in s["violations"]]}
                      for s in steps],
            "missed": [f"{v['message']}：{v['detail']}" for v in view["violations"]
                       if v["step_record_id"] is None]}


def _process(actor: User, branch: Organisation, p: Person,
             names: dict[int, str]) -> dict[str, Any]:
    base = {"row": p.row, "name": p.person.get("name", ""), "case_id": None, "steps": [],
            "missed": [], "state_label": "", "note": ""}
    if p.problems:
        return {**base, "status": "refused"}
    existing = _existing(branch, p)
    if existing is not None:  # skipped whatever it holds: a re-import changes nothing
        return {**base, "status": "existing", "case_id": existing.id,
                "note": _unrecorded(existing, p)}
    p.problems += _committee_problems(actor, p)
    if p.problems:
        return {**base, "status": "refused"}
    try:
        view = _record(actor, branch, p)
    except _RowRefused as exc:
        p.problems.append(exc.problem)
        return {**base, "status": "refused"}
    return {**base, **_outcome(view, names), "status": "new"}


def _unrecorded(case: Case, p: Person) -> str:
    """A re-import never adds to a case; say so when the file holds steps the case lacks."""
    have = {(r.step, r.occurred_on) for r in repo.step_rows(case.id)}
    extra = [e for e in p.entries if (e.step, e.on) not in have]
    return (f"文件中有 {len(extra)} 个步骤不在该案件中（如「{STEPS[extra[0].step].zh}」"
            f"{extra[0].on}），导入不会修改已有案件，请在案件页补录") if extra else ""


def _importer(actor: User, branch_code: str | None) -> Organisation:
    """The branch the archive is of: a secretary's own, or the one a committee organiser names
    among the branches under the committee."""
    if actor.role == Role.COMMITTEE_ORGANIZER:
        if not branch_code:
            raise BadRequest("请选择档案所属的党支部", fields={"branch": "必填"})
        branch = visible_org(actor, branch_code)  # 404 outside the committee
        if branch.kind != "branch":
            raise NotFound("党组织不存在")
        return branch
    branch = db.session.get(Organisation, actor.org_id)
    if actor.role != Role.BRANCH_SECRETARY or branch is None or branch.kind != "branch":
        raise Forbidden("只有党支部书记/组织委员或上级党委组织员可以导入历史档案")
    if branch_code and branch_code != branch.code:
        raise NotFound("党组织不存在")
    return branch


def _run(actor: User, data: bytes, branch_code: str | None) -> dict[str, Any]:
    branch = _importer(actor, branch_code)
    people, problems, ignored = parse(data, branch)
    names = {m.id: m.name for m in repo.roster(branch.id).values()}
    rows = [_process(actor, branch, p, names) for p in people]
    problems += [q for p in people for q in p.problems]
    problems.sort(key=lambda q: (SHEETS.index(q.sheet), q.row))
    counts = {s: sum(r["status"] == s for r in rows) for s in ("new", "existing", "refused")}
    return {"ok": not problems, "rows": rows, "problems": [q.view() for q in problems],
            "ignored_columns": ignored, "counts": counts, "branch": branch.code,
            "steps": sum(len(r["steps"]) for r in rows if r["status"] == "new")}


def preview(actor: User, data: bytes, branch: str | None = None) -> dict[str, Any]:
    """What the import would record, found by running it and rolling everything back;
    `branch`: the branch's code, which a committee organiser must give."""
    try:
        return _run(actor, data, branch)
    finally:
        db.session.rollback()


def confirm(actor: User, data: bytes, branch: str | None = None) -> dict[str, Any]:
    """All or nothing: one transaction, committed only when no row of the file was refused."""
    try:
        report = _run(actor, data, branch)
        if report["problems"]:
            raise ImportRefused(report)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return report


def template() -> bytes:
    """The blank import workbook (headers, 续表, 填写说明)."""
    return _blank()
