"""Cases: open one, record a step on it, read it, list them, re-derive the cached state.

Recording replays the whole history with the proposed step: `invalid` findings refuse it,
new violations need an acknowledgement with a reason, and the write (step record, violations,
case version bump) is one transaction guarded by the case version.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from workflow import initials, machine
from workflow.history import Invalid as InvalidFinding
from workflow.history import Replay, StepRecord, Violation
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import (
    Case,
    DeadlineRow,
    StepRecordRow,
    User,
    ViolationRow,
    utcnow,
)
from workflow.plans import Admission
from workflow.replay import Folded, extend, finish, fold
from workflow.rules import REGISTRY
from workflow.services.alerts import deadline_rows
from workflow.services.cases import decisions, exemptions, history_chain, views
from workflow.services.clock import today as real_today
from workflow.services.directory import access
from workflow.services.errors import (
    BadRequest,
    Conflict,
    DuplicatePerson,
    Invalid,
    ProcedureViolation,
)
from workflow.services.plans import judging as plans
from workflow.states import OPEN_STAGES, STAGE_IDS
from workflow.steps import (
    DATE_PROBLEM,
    DOCUMENT_LABELS,
    STEPS,
    optional_text_problem,
    parse_date,
    person_errors,
)

PROPOSED_SEQ = 2**62  # sorts after every stored record made the same day


@dataclass
class Loaded:
    case: Case
    rows: list[Any]  # the case's step records, plain rows
    replay: Replay
    documents: list[Any]  # the case's document rows


@dataclass
class _Context:
    """What replaying one case needs besides its records, read once per request. Records may
    be ORM rows (a write) or plain rows (the case page): only their columns are read."""

    case: Case
    roster: dict[int, Any]
    book: Any
    calendar: Any
    document_rows: list[Any]
    applicant_member: int | None

    @property
    def documents(self) -> list[Any]:
        return repo.to_documents(self.document_rows)

    def fold(self, rows: list[Any], on: date, extra: StepRecord | None = None) -> Folded:
        records = [repo.to_record(r) for r in rows] + ([extra] if extra else [])
        return fold(records, on, roster=self.roster, rulebook=self.book, calendar=self.calendar,
                    org=self.case.branch.code, applicant_member=self.applicant_member)

    def fed(self, base: Folded, rows: list[Any], rec: StepRecord) -> Folded:
        """`base` (the fold of `rows`) with `rec` fed too: only the new record when it lands
        last, as a new step usually does; the whole history again when it is backdated."""
        return extend(base, rec) or self.fold(rows, base.today, rec)

    def replay(self, rows: list[Any], on: date, extra: StepRecord | None = None) -> Replay:
        return finish(self.fold(rows, on, extra), self.documents)


def _context(case: Case) -> _Context:
    rows = repo.roster_rows(case.branch_id)
    roster = {m: repo.to_member(row) for m, row in rows.items()}
    applicant = next((m for m, row in rows.items() if row.person_case_id == case.id), None)
    return _Context(case, roster, repo.rulebook_for(case.branch_id), repo.working_calendar(),
                    repo.document_rows(case.id), applicant)


def _replay_rows(case: Case, rows: list[StepRecordRow], on: date,
                 extra: StepRecord | None = None) -> Replay:
    return _context(case).replay(rows, on, extra)


def load(actor: User, case_id: int, as_of: date | None = None) -> Loaded:
    case = access.visible_case(actor, case_id)
    rows = repo.step_records(case.id)  # read-only: plain rows
    ctx = _context(case)
    return Loaded(case, rows, ctx.replay(rows, as_of or real_today()), ctx.document_rows)


AWAITING_PRE_REVIEW = "candidate.awaiting_pre_review"


def pre_review_findings(case: Case, rows: list[Any], on: date,
                        label: Callable[[str], str] | None = None) -> list[str]:
    """What the committee's pre-review will find missing, shown (never enforced) while the
    case waits for it: the violations an approval dated `on` would bring (the same rules
    the pre-review is judged by), missing introducers, and papers not yet attached.
    With `label` (a page in English: a Chinese label in English), the findings are English."""
    ctx = _context(case)
    before = ctx.fold(rows, on)
    if before.state != AWAITING_PRE_REVIEW:
        return []
    approval = StepRecord(PROPOSED_SEQ, "pre_review_decided", on,
                          {"decision": "approved", "comments": "预审"}, "committee")
    new = _new_violations(before, ctx.fed(before, rows, approval))
    missing = finish(before, ctx.documents).paperwork
    if label is not None:  # English: the rule's English message, and its detail in English
        found = [REGISTRY[v.rule].message("en") + (f": {label(v.detail)}" if v.detail else "")
                 for v in new]
        if len(before.facts.introducers) < 2:
            found.append("Two introducers have not been assigned yet")
        for p in missing:
            names = ", ".join(label(DOCUMENT_LABELS.get(d, d)) for d in p.missing)
            found.append(f"“{STEPS[p.step].en}” ({p.on}) lacks papers: {names}")
        return found
    found = [f"{REGISTRY[v.rule].zh}：{v.detail}" for v in new]
    if len(before.facts.introducers) < 2:
        found.append("尚未确定两名入党介绍人")
    for p in missing:
        names = "、".join(DOCUMENT_LABELS.get(d, d) for d in p.missing)
        found.append(f"「{STEPS[p.step].zh}」（{p.on}）缺少材料：{names}")
    return found


def get_case(actor: User, case_id: int, as_of: date | None = None,
             label: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The case view; with `label` (pages in English), its pre-review findings in English."""
    loaded = load(actor, case_id, as_of)
    # a vote over the branch's yearly plan is judged across its cases, not in the replay
    over = plans.over_plan_of_case(loaded.case, loaded.replay)
    replayed = replace(loaded.replay, violations=loaded.replay.violations + tuple(over))
    view = views.case(loaded.case, loaded.rows, loaded.documents, replayed)
    view["pre_review_findings"] = (
        pre_review_findings(loaded.case, loaded.rows, as_of or real_today(), label)
        if loaded.replay.state == AWAITING_PRE_REVIEW else [])
    # the chain check reuses the records just read; only acknowledgements are read for it
    check = history_chain.check_case(loaded.case, steps=loaded.rows, documents=loaded.documents)
    view["history"] = {**check.view(), "head": loaded.case.chain_head}
    return view


SEARCH_MAX = 50  # a name (≤ 50) or the last digits of an ID number
ID_SUFFIX = re.compile(r"[0-9]{3}[0-9Xx]")  # the last 4 characters: all the masked form keeps
# states in which the case waits for the committee; every other open state waits for the branch
COMMITTEE_WAITS = ("candidate.awaiting_pre_review", "candidate.voted",
                   "probationary.resolved_convert", "probationary.resolved_extend",
                   "probationary.resolved_disqualify")
NOT_A_TASK = ("earliest_candidacy", "earliest_vote", "probation_expiry")  # dates, not duties


def list_cases(actor: User, branch: str | None = None, stage: str | None = None,
               q: str | None = None, page: int = 1, per_page: int = 20, *,
               overdue: bool = False, waiting_for_me: bool = False) -> dict[str, Any]:
    """The cases in scope, newest first, filtered by branch, stage, a search (name, its pinyin
    initials, or the last digits of the ID number), overdue (a duty past its due date, from the
    deadline rows) and "waiting for me" (the committee: pre-reviews and approvals; a branch:
    the rest)."""
    if not 1 <= page <= 1_000_000 or not 1 <= per_page <= 200:
        raise BadRequest("page 必须 ≥ 1，per_page 必须在 1–200 之间")
    q = (q or "").strip() or None
    if q is not None and len(q) > SEARCH_MAX:
        raise BadRequest(f"检索内容不能超过 {SEARCH_MAX} 个字符", fields={"q": "过长"})
    if stage is not None and stage not in STAGE_IDS:
        raise BadRequest("stage 不正确", fields={"stage": f"必须是 {' / '.join(STAGE_IDS)}"})
    scope = access.subtree_ids(actor.org_id)
    if branch:
        scope &= access.subtree_ids(access.visible_org(actor, branch).id)
    by_id = bool(q and ID_SUFFIX.fullmatch(q))
    waits = None
    if waiting_for_me:
        waits = "committee" if actor.role == "committee_organizer" else "branch"
    letters = bool(q and initials.QUERY.fullmatch(q))
    counted, listed = _list_queries(bool(stage), bool(q), by_id, overdue, waits, letters)
    params = {"scope": sorted(scope), "stage": stage, "q": _like(q) if q else None,
              "suffix": q.upper() if by_id and q else None, "today": real_today(),
              "initials": f" {q.lower()}" if letters and q else None,
              "limit": per_page, "offset": (page - 1) * per_page}
    total = db.session.execute(counted, params).scalar()
    items = db.session.execute(listed, params).scalars()
    return {"items": [views.summary(c) for c in items], "total": total, "page": page,
            "per_page": per_page}


def _like(text: str) -> str:
    """A search text taken literally by LIKE: % and _ match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@functools.cache
def _list_queries(stage: bool, q: bool, by_id: bool = False, overdue: bool = False,
                  waits: str | None = None, letters: bool = False
                  ) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The count and the page of the case list, built once per filter combination: every list
    request runs both, and composing them cost more than running them for a branch."""
    query = db.select(Case).where(Case.branch_id.in_(sa.bindparam("scope", expanding=True)))
    if stage:
        query = query.where(Case.stage == sa.bindparam("stage"))
    if q:
        named = Case.person_name.contains(sa.bindparam("q"), escape="\\")
        if letters:  # also the pinyin initials ("zw" finds 张伟), from any variant's start
            named = sa.or_(named, Case.name_initials.contains(sa.bindparam("initials")))
        if by_id:  # the stored masked form keeps the last four characters
            masked = sa.func.upper(Case.person["id_number_masked"].as_string())
            named = sa.or_(named, masked.endswith(sa.bindparam("suffix")))
        query = query.where(named)
    if overdue:
        d = DeadlineRow
        query = query.where(sa.exists().where(
            d.case_id == Case.id, d.met == sa.false(), d.due_on < sa.bindparam("today"),
            d.kind.not_in(NOT_A_TASK)))
    if waits == "committee":
        query = query.where(Case.state.in_(COMMITTEE_WAITS))
    elif waits == "branch":
        query = query.where(Case.stage.in_(OPEN_STAGES), Case.state.not_in(COMMITTEE_WAITS))
    counted = db.select(db.func.count()).select_from(query.subquery())
    listed = (query.options(joinedload(Case.branch)).order_by(Case.id.desc())
              .limit(sa.bindparam("limit")).offset(sa.bindparam("offset")))
    return counted, listed


def _id_hash(number: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, number.upper().encode(), hashlib.sha256).hexdigest()


def mask_id(number: str) -> str:
    return number[:4] + "*" * 10 + number[-4:].upper()


def open_case(actor: User, branch_code: str, person: Any, application_date: Any,
              acknowledge: bool = False, reason: str | None = None,
              commit: bool = True, *, masked_id: bool = False) -> dict[str, Any]:
    """Open a case by recording its first step, `application_submitted`.

    `commit=False` only flushes, so a caller (the Excel import) can open many cases and record
    their steps in one transaction it commits or rolls back itself. `id_number_masked` is the
    system's to set: only the import (`masked_id=True`, a sheet we exported) may bring one."""
    access.require_writer(actor)
    if not isinstance(branch_code, str) or not isinstance(person, dict):
        raise BadRequest("branch 必须是党组织代码，person 必须是对象")
    branch = access.visible_org(actor, branch_code)
    if branch.kind != "branch":
        raise Invalid("案件只能建立在党支部", {"branch": "不是党支部"})
    access.check_may_record(actor, "application_submitted")
    day = _occurred_on(application_date, "application_date")
    _check_texts(reason=reason)
    person = {k: v.strip() if isinstance(v, str) else v for k, v in person.items()}
    problems = person_errors(person)
    if "id_number_masked" in person and not masked_id:
        problems["id_number_masked"] = "由系统根据身份证号码生成，不能提交"
    birth = parse_date(person.get("birth_date"))
    if "birth_date" not in problems and birth is not None and birth > real_today():
        problems["birth_date"] = "不能晚于今天"
    if problems:
        raise Invalid("申请人信息不完整或不正确", {f"person.{k}": v for k, v in problems.items()})
    stored = dict(person)
    number = stored.pop("id_number", None)
    if number:
        stored["id_number_masked"] = mask_id(number)
        _refuse_duplicate(_id_hash(number))
    case = Case(branch=branch, person_name=person["name"], person=stored,
                id_number_hash=_id_hash(number) if number else None, application_date=day,
                stage="new", state="new", version=0)
    db.session.add(case)
    db.session.flush()
    result = _record(actor, case, [], "application_submitted", day,
                     {"person": stored, "branch": branch.code}, None, acknowledge, reason,
                     commit=commit)
    return result["case"]


def _refuse_duplicate(id_hash: str, besides: int | None = None) -> None:
    """One person, one open case: the ID number of a case that is not closed cannot open
    another (a closed case's person may apply again, as a new case)."""
    other = db.session.execute(
        sa.select(Case.id).where(Case.id_number_hash == id_hash, Case.stage != "closed",
                                 Case.id != (besides or 0))
        .order_by(Case.id).limit(1)).scalar_one_or_none()
    if other is not None:
        raise DuplicatePerson(f"该身份证号码已有未终止的案件（编号 {other}），不能重复建立",
                              case_id=other, fields={"person.id_number": "已有案件"})


def _check_texts(note: Any = None, reason: Any = None) -> None:
    """A step's note and acknowledgement reason: optional, bounded (LONG_TEXT_MAX)."""
    problems = {k: p for k, v in (("note", note), ("reason", reason))
                if (p := optional_text_problem(v))}
    if problems:
        raise Invalid("备注或原因说明不正确", problems)


def _occurred_on(value: Any, field: str = "occurred_on") -> date:
    day = parse_date(value)
    if day is None:
        raise Invalid("日期格式不正确", {field: DATE_PROBLEM})
    if day > real_today():
        raise Invalid("日期不能晚于今天", {field: REGISTRY["date_in_future"].zh},
                      rule="date_in_future")
    return day


def record_step(actor: User, case_id: int, step: Any, occurred_on: Any, data: Any,
                note: str | None = None, version: int | None = None, acknowledge: bool = False,
                reason: str | None = None, commit: bool = True, *, decided_by: Any = None,
                origin: decisions.Origin | None = None) -> dict[str, Any]:
    """Record one step. A committee decision also stores who decided (`decided_by`, a roster
    member id, or the account's own member) and the session (`origin`): see `decisions`."""
    if not isinstance(step, str) or step not in STEPS or step == "application_submitted":
        raise Invalid("未知步骤", {"step": "不是可以记录的步骤"})
    if not isinstance(data, dict):
        raise BadRequest("data 必须是对象")
    _check_texts(note, reason)
    case = access.visible_case(actor, case_id)
    rows = repo.step_rows(case.id, up_to_version=case.version)
    corrected = _correction_target(rows, data) if step == "step_corrected" else None
    access.check_may_record(actor, step, corrected)
    if version is not None and version != case.version:
        raise Conflict(f"案件已被他人修改（当前版本 {case.version}，您提交的是 {version}），请刷新后重试",
                       version=case.version)
    day = _occurred_on(occurred_on)
    decision = decisions.resolve(actor, step, corrected.step if corrected else None, decided_by,
                                 origin)
    if step == "case_transferred":
        _check_transfer(actor, case, data)
    application = corrected is not None and corrected.step == "application_submitted" and \
        isinstance(data.get("fields"), dict)
    if not application:
        return _record(actor, case, rows, step, day, data, note, acknowledge, reason,
                       commit=commit, decision=decision)
    new_hash = None
    if isinstance(data["fields"].get("person"), dict):
        data, new_hash = _person_correction(case, data)
    # the case row's copies of the person and the application date follow the correction, in
    # its transaction, and only once the record itself was accepted and written
    result = _record(actor, case, rows, step, day, data, note, acknowledge, reason,
                     commit=False, decision=decision)
    fields = data["fields"]
    if isinstance(fields.get("person"), dict):
        case.person = fields["person"]
        case.person_name = case.person["name"]
        case.name_initials = initials.name_initials(case.person_name)
        if new_hash is not None:
            case.id_number_hash = new_hash
    if "occurred_on" in fields:
        case.application_date = _occurred_on(fields["occurred_on"])
    try:
        db.session.commit() if commit else db.session.flush()
    except (sa_exc.IntegrityError, sa_exc.OperationalError) as exc:
        db.session.rollback()
        raise Conflict("案件正在被他人修改，请刷新后重试") from exc
    result["case"] = {**result["case"], **views.summary(case)}
    return result


def _correction_target(rows: list[StepRecordRow], data: dict[str, Any]) -> StepRecordRow:
    target = next((r for r in rows if r.id == data.get("corrects")), None)
    if target is None or target.step == "step_corrected":
        raise Invalid("更正对象不存在", {"corrects": "必须是本案件中已记录步骤的编号"})
    fields = data.get("fields")
    allowed = {f.name for f in STEPS[target.step].fields} | {"occurred_on"}
    if isinstance(fields, dict):
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise Invalid("更正的字段不属于该步骤", {"fields": f"未知字段：{', '.join(unknown)}"})
        if "occurred_on" in fields:
            _occurred_on(fields["occurred_on"])
    return target


PERSON_CORRECTABLE = ("name", "gender", "birth_date", "id_number", "ethnicity", "education",
                      "unit", "phone")


def _person_correction(case: Case, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A correction of the applicant's details names only what changes; it is stored as the
    whole corrected person (replay uses the corrected record as it is), with a new ID number
    kept masked as always, and checked like a new application: the number agrees with the
    birth date and gender and has no other open case. Returns the data to record and the new
    ID number's look-up hash (None: unchanged)."""
    changes = data["fields"]["person"]
    unknown = sorted(set(changes) - set(PERSON_CORRECTABLE))
    if unknown:
        raise Invalid("更正的个人信息项目不正确",
                      {f"fields.person.{k}": "不能更正" for k in unknown})
    changes = {k: v.strip() if isinstance(v, str) else v for k, v in changes.items()}
    person = {k: v for k, v in case.person.items() if k != "id_number_masked"}
    person.update(changes)
    problems = person_errors(person)
    if problems:
        raise Invalid("更正后的个人信息不正确",
                      {f"fields.person.{k}": v for k, v in problems.items()})
    number = person.pop("id_number", None)
    person["id_number_masked"] = mask_id(number) if number else \
        case.person.get("id_number_masked")
    if person["id_number_masked"] is None:
        del person["id_number_masked"]
    new_hash = _id_hash(number) if number else None
    if new_hash is not None and new_hash != case.id_number_hash:
        _refuse_duplicate(new_hash, besides=case.id)
    return {**data, "fields": {**data["fields"], "person": person}}, new_hash


def _check_transfer(actor: User, case: Case, data: dict[str, Any]) -> None:
    code = data.get("to_branch")
    target = access.visible_org(actor, code) if isinstance(code, str) else None
    if target is None or target.kind != "branch" or target.id == case.branch_id:
        raise Invalid("转入的党支部不正确", {"to_branch": "必须是您管理范围内的另一个党支部"})


def _record(actor: User, case: Case, rows: list[StepRecordRow], step: str, day: date,
            data: dict[str, Any], note: str | None, acknowledge: bool,
            reason: str | None, commit: bool = True,
            decision: tuple[int | None, str | None] = (None, None)) -> dict[str, Any]:
    on, ctx = real_today(), _context(case)
    documents = ctx.documents
    # the stored history is fed once; judging the proposal needs only the folds' findings
    before = ctx.fold(rows, on)
    proposed = StepRecord(PROPOSED_SEQ, step, day, data, access.recorder_role(actor),
                          recorded_by_member=getattr(actor, "roster_member_id", None),
                          decided_by_member=decision[0])
    after = ctx.fed(before, rows, proposed)
    used = _exempted(case, before, after)
    if used:
        proposed = replace(proposed, exempt=frozenset(used))
        after = ctx.fed(before, rows, proposed)
    _refuse_invalid(before, after)
    new = _new_violations(before, after) + _over_plan(case, proposed)
    explained = isinstance(reason, str) and bool(reason.strip())
    if new and acknowledge is True and not explained:  # confirmed, but the why is missing
        raise ProcedureViolation("确认违规记录时必须填写原因说明",
                                 [views.violation(v) for v in new],
                                 fields={"reason": "必填：请说明为何仍需记录"})
    if new and not (acknowledge is True and explained):
        raise ProcedureViolation("该步骤违反发展党员程序，确认属实并填写原因后方可记录",
                                 [views.violation(v) for v in new])
    try:
        row = _write(actor, case, proposed, note, reason if new else None, after, new,
                     session_ref=decision[1])
        final = finish(ctx.fed(before, rows, repo.to_record(row)), documents)  # as stored
        moved = row.step == "case_transferred"  # then the new branch's settings apply
        deadline_rows.refresh_deadlines(case, final, rulebook=None if moved else ctx.book,
                                   calendar=ctx.calendar, documents=documents)
        # the answer is built inside the transaction: after the commit every row it shows
        # would be expired and reloaded one query at a time
        view = views.case(case, rows + [row], ctx.document_rows, final)
        db.session.commit() if commit else db.session.flush()
    except (sa_exc.IntegrityError, sa_exc.OperationalError) as exc:
        db.session.rollback()
        if isinstance(exc, sa_exc.OperationalError) and "locked" not in str(exc):
            raise
        raise Conflict("案件正在被他人修改，请刷新后重试") from exc
    return {"step": view["steps"][-1], "violations": [views.violation(v) for v in new],
            "case": view}


def _over_plan(case: Case, proposed: StepRecord) -> list[Violation]:
    """A passing admission vote when the branch's passed votes of the year already reach its
    plan (judged across the branch's cases: services/plans), acknowledged like any other."""
    if proposed.step != "admission_voted" or not machine.CONDITIONS["vote_passed"](proposed.data):
        return []
    code = case.branch.code
    found = plans.verdict(case, code, Admission(case.id, proposed.seq, proposed.occurred_on, code))
    return [found] if found else []


def _exempted(case: Case, before: Folded, after: Folded) -> set[str]:
    """Separation rules the proposal breaks for which the organisation named an exemption."""
    known = {(i.rule, i.step_seq) for i in before.invalid}
    broken = {i.rule for i in after.invalid if (i.rule, i.step_seq) not in known
              and i.step_seq == PROPOSED_SEQ and i.rule in exemptions.SEPARATION_RULES}
    return set(exemptions.applicable(case.branch_id, broken))


def _refuse_invalid(before: Folded, after: Folded) -> None:
    known = {(i.rule, i.step_seq) for i in before.invalid}
    fresh: list[InvalidFinding] = [i for i in after.invalid if (i.rule, i.step_seq) not in known]
    if not fresh:
        return
    first = fresh[0]
    fields = dict(first.fields) if first.fields else {}
    if first.step_seq != PROPOSED_SEQ and not fields:
        fields = {"occurred_on": f"与已记录的步骤 #{first.step_seq} 冲突"}
    elif not fields:  # the step itself cannot be recorded now (its order, a repeat, ...)
        fields = {"step": first.message}
    raise Invalid(first.message, fields, rule=first.rule)


def _new_violations(before: Folded, after: Folded) -> list[Violation]:
    """Violations the proposed step brings onto a record. Deadlines missed with time passing
    are reported on the case and in alerts, but are not the recorder's to acknowledge: they
    come only when a fold is finished, so a fold's own violations are exactly the ones here."""
    known = {v.key for v in before.violations}
    return [v for v in after.violations if v.key not in known and v.step_seq is not None]


def _write(actor: User, case: Case, proposed: StepRecord, note: str | None, reason: str | None,
           after: Folded, new: list[Violation], session_ref: str | None = None) -> StepRecordRow:
    """Insert the record and its acknowledged violations, chain them, bump the version."""
    old_version, head, length = case.version, case.chain_head, case.chain_length
    values = {"case_id": case.id, "case_version": old_version + 1, "step": proposed.step,
              "occurred_on": proposed.occurred_on, "data": dict(proposed.data), "note": note,
              "recorded_by_id": actor.id, "recorded_by_role": proposed.recorded_by_role,
              "recorded_by_member_id": proposed.recorded_by_member,
              "decided_by_member_id": proposed.decided_by_member, "session_ref": session_ref,
              "exemptions": sorted(proposed.exempt) or None, "acknowledged_reason": reason,
              "recorded_at": utcnow().replace(microsecond=0)}
    row = StepRecordRow(id=db.session.execute(_insert_step(), values).scalar_one(), **values)
    head = history_chain.link_row("step", row, head, length + 1)
    db.session.execute(_link_step(), {"b_id": row.id, "chain_index": row.chain_index,
                                      "prev_hash": row.prev_hash, "chain_hash": row.chain_hash})
    # the row as the session would have it after a flush, without the unit of work's cost
    make_transient_to_detached(row)
    db.session.add(row)
    links = 1
    for v in new:
        ack = ViolationRow(case_id=case.id, step_record_id=row.id, rule=v.rule,
                           responsible=v.responsible.value, detail=v.detail,
                           acknowledged_by_id=actor.id, reason=reason or "",
                           created_at=utcnow().replace(microsecond=0))
        db.session.add(ack)
        db.session.flush()
        links += 1
        head = history_chain.link_row("acknowledgement", ack, head, length + links)
    _bump(case, old_version, after, {"chain_head": head, "chain_length": length + links})
    if proposed.step == "case_transferred":
        case.branch = access.org_by_code(proposed.data["to_branch"])
        db.session.flush()  # the deadline rows below belong to (and follow the rules of) it
    return row


@functools.cache
def _insert_step() -> Any:
    """Built once: every write runs it. Core with RETURNING: the ORM's flush of one new row
    cost more than the statement itself."""
    t = StepRecordRow.__table__
    return sa.insert(t).values({c.name: sa.bindparam(c.name, type_=c.type)
                                for c in t.columns if c.name not in _LINK_COLUMNS
                                and c.name != "id"}).returning(t.c.id)


_LINK_COLUMNS = ("chain_index", "prev_hash", "chain_hash")


@functools.cache
def _link_step() -> Any:
    t = StepRecordRow.__table__
    return sa.update(t).where(t.c.id == sa.bindparam("b_id")).values(
        {c: sa.bindparam(c) for c in _LINK_COLUMNS})


def _bump(case: Case, old_version: int, after: Folded, chain: dict[str, Any]) -> None:
    """One update, guarded by the version and the chain length read with the case: a
    concurrent writer of the same version (or a concurrent chain append) finds no row. The
    values written are what the case now holds, so it is not read back."""
    values = {"version": old_version + 1, "stage": after.stage, "state": after.state,
              "updated_at": utcnow(), **chain}
    done = db.session.execute(_bump_statement(), {
        **values, "b_id": case.id, "b_version": old_version, "b_length": case.chain_length})
    if done.rowcount != 1:
        raise sa_exc.IntegrityError("version", None, Exception("stale version"))
    for name, value in values.items():
        set_committed_value(case, name, value)


@functools.cache
def _bump_statement() -> Any:
    """Built once: every write runs it. Core (not the ORM): the values are set on `case` below."""
    t = Case.__table__
    columns = ("version", "stage", "state", "updated_at", "chain_head", "chain_length")
    return sa.update(t).where(t.c.id == sa.bindparam("b_id"),
                              t.c.version == sa.bindparam("b_version"),
                              t.c.chain_length == sa.bindparam("b_length")) \
        .values({c: sa.bindparam(c) for c in columns})


def rederive(fix: bool = False) -> list[tuple[int, str, str]]:
    """Replay every case; report (case id, cached state, replayed state) where they differ."""
    mismatches = []
    on = real_today()
    for case in db.session.execute(db.select(Case).order_by(Case.id)).scalars():
        r = _replay_rows(case, repo.step_rows(case.id), on)
        if (case.stage, case.state) != (r.stage, r.state):
            mismatches.append((case.id, case.state, r.state))
            if fix:
                case.stage, case.state = r.stage, r.state
    if fix:
        db.session.commit()
        deadline_rows.refresh_all_deadlines()  # the deadline rows are a cache of the same replay
    return mismatches

