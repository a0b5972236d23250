"""Drive cases through the API with the unit tests' reference history."""
from __future__ import annotations

from typing import Any

from tests.unit.builders import HAPPY, PERSON, Entry
from workflow.steps import COMMITTEE_DECISIONS, STEPS

ROSTER_NAMES = {1: "张伟", 2: "王芳", 3: "李强", 6: "赵敏"}


def map_roster(world: Any, data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for key in ("cultivators", "introducers"):
        if key in out:
            out[key] = [world.roster[ROSTER_NAMES[i]] for i in out[key]]
    return out


def open_case(world: Any, who: str = "sec1", branch: str = "B1", date: str = "2023-03-01",
              person: dict[str, Any] | None = None) -> dict[str, Any]:
    r = world.post(who, "/api/v1/cases", {"branch": branch, "person": person or PERSON,
                                          "application_date": date})
    assert r.status_code == 201, r.json
    return r.json  # type: ignore[no-any-return]


def post_step(world: Any, case_id: int, step: str, on: str, data: dict[str, Any],
              **extra: Any) -> Any:
    """Through the API; a committee decision names 刘洋 (committee C) as who decided unless the
    call says otherwise (`decided_by=None` leaves it out)."""
    who = extra.pop("who", None) or ("org" if STEPS[step].recorder.value == "committee" else "sec1")
    if step in COMMITTEE_DECISIONS and who == "org":
        extra.setdefault("decided_by", world.roster["刘洋"])
    if extra.get("decided_by", 0) is None:
        del extra["decided_by"]
    return world.post(who, f"/api/v1/cases/{case_id}/steps",
                      {"step": step, "occurred_on": on, "data": map_roster(world, data), **extra})


def drive(world: Any, case_id: int, entries: list[Entry] = HAPPY, until: str | None = None) -> Any:
    """Record entries[1:] (the first is the case's own application) up to and including `until`."""
    last = None
    for step, on, data in entries[1:]:
        last = post_step(world, case_id, step, on, data)
        assert last.status_code == 201, (step, last.json)
        if step == until:
            break
    return last


def plan_year(world: Any, branch: str = "B1", year: int = 2024, quota: int = 5) -> int:
    """Committee C's yearly development plan for a branch: a year of admission votes without
    one costs item 13 two points (`no_plan`), which tests about other deductions avoid."""
    r = world.post("org", "/api/v1/plans", {"org": branch, "year": year, "quota": quota})
    assert r.status_code == 201, r.json
    return int(r.json["id"])
