"""Committee decisions name the person: who decided, when, and from which session.

A committee decision (`steps.COMMITTEE_DECISIONS`: the pre-review sign-off and the admission and
conversion approvals, and a correction of one) is stored with the roster member who decided and
a session reference, besides the account that recorded it and when. An account does not always
say who is behind it: an API token is used by a program, a shared account (an office login) by
several people, and an account not linked to a roster member by nobody the system knows. Those
must name the person (`decided_by`, a roster member id of the deciding committee or an
organisation under it); a personal account linked to a roster member decides as that member.
The named person is judged by the separation-of-duties rules like the recorder is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow.persistence.db import db
from workflow.persistence.models import Organisation, RosterMember, User
from workflow.services.directory import access
from workflow.services.errors import Invalid
from workflow.steps import is_committee_decision, is_id


@dataclass(frozen=True)
class Origin:
    """Where a request came from: the session reference stored with a decision, whether the
    credential is an API token, and whether it transcribes paper records (the import)."""

    ref: str | None
    via_token: bool = False
    transcription: bool = False

    @classmethod
    def web(cls, session_id: str) -> Origin:
        return cls(f"web:{session_id}")

    @classmethod
    def api_token(cls, token_id: int) -> Origin:
        return cls(f"api:token:{token_id}", via_token=True)


CLI = Origin("cli")
# The Excel import transcribes an archive: the decisions in it were taken on paper, by people
# the file does not name, so no decider is recorded (and none is required).
TRANSCRIPTION = Origin("import", transcription=True)
UNKNOWN = Origin(None)  # an in-process caller that did not say: treated like a web session

FIELD = "decided_by"


def must_name(actor: Any, origin: Origin | None) -> bool:
    """Whether a committee decision recorded by this actor must name who decided."""
    origin = origin or UNKNOWN
    if origin.transcription:
        return False
    return (origin.via_token or bool(getattr(actor, "shared", False))
            or getattr(actor, "roster_member_id", None) is None)


def _why(actor: Any, origin: Origin) -> str:
    if origin.via_token:
        return "通过 API 令牌记录上级党委的决定（预审、审批）时，必须用 decided_by 注明决定人"
    if getattr(actor, "shared", False):
        return "本账号为多人共用账号，记录上级党委的决定（预审、审批）时必须选择决定人"
    return "本账号未关联花名册成员，记录上级党委的决定（预审、审批）时必须选择决定人"


def _member(actor: Any, value: Any) -> RosterMember:
    if not is_id(value):
        raise Invalid("决定人不正确", {FIELD: "必须是花名册成员编号"})
    member = db.session.get(RosterMember, value)
    if member is None or member.org_id not in access.subtree_ids(actor.org_id):
        raise Invalid("决定人不是本党委及其下属党组织花名册上的党员",
                      {FIELD: "不是本党委及其下属党组织的花名册成员"})
    if member.status != "full":
        raise Invalid("决定人必须是正式党员", {FIELD: "预备党员不能作出上级党委的决定"})
    return member


def resolve(actor: Any, step: str, corrected_step: str | None, decided_by: Any,
            origin: Origin | None) -> tuple[int | None, str | None]:
    """(decided_by_member_id, session_ref) to store with the record; Invalid when the person
    must be named and is not, or the named person cannot have decided."""
    origin = origin or UNKNOWN
    if not is_committee_decision(step, corrected_step):
        if decided_by is not None:
            raise Invalid("只有上级党委的决定（预审、审批）需要注明决定人",
                          {FIELD: "该步骤不填写决定人"})
        return None, None
    if decided_by is not None:
        return _member(actor, decided_by).id, origin.ref
    if origin.transcription:
        return None, origin.ref
    if must_name(actor, origin):
        raise Invalid(_why(actor, origin), {FIELD: "必须注明作出决定的人（花名册成员）"})
    return actor.roster_member_id, origin.ref


def choices(actor: User) -> list[tuple[int, str]]:
    """The people who may be named as decider: full members on the rosters of the actor's
    committee and the organisations under it, the committee's own roster first."""
    scope = access.subtree_ids(actor.org_id)
    rows = db.session.execute(
        db.select(RosterMember, Organisation.name).join(Organisation,
                                                        RosterMember.org_id == Organisation.id)
        .where(RosterMember.org_id.in_(scope), RosterMember.status == "full")).all()
    rows.sort(key=lambda r: (r[0].org_id != actor.org_id, r[0].org_id, r[0].name, r[0].id))
    return [(m.id, f"{m.name} · {org}") for m, org in rows]  # words of neither language
