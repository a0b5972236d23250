"""Holidays an admin enters reach every date: 2027 has no official calendar data yet, so a
notice in it is counted Monday to Friday and flagged unverified; once the admin enters that
year's holidays and adjusted working weekends, the notice rule counts with them, the warning is
gone, and the case's kept findings (what the rubric scores) follow after the rebuild."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from tests.integration.helpers import drive, open_case
from tests.unit.builders import HAPPY
from tests.web.test_pages import _csrf, login
from workflow.persistence.db import db
from workflow.persistence.models import DeadlineSet
from workflow.services.alerts import deadline_rows


def _shifted(entries, years: int):
    """The reference history `years` later (no 29 February in it)."""
    def move(value):
        if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
            return date.fromisoformat(value).replace(
                year=date.fromisoformat(value).year + years).isoformat()
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        return value
    return [(step, move(on), move(data)) for step, on, data in entries]


NOTICE = ("2027-05-28", "2027-06-03")  # Fri … Thu: five days Monday to Friday


@pytest.fixture
def notice_case(world, ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "TODAY", "2027-12-31")
    entries = _shifted(HAPPY, 3)
    notice = next(e for e in entries if e[0] == "public_notice_held")
    assert (notice[2]["start_on"], notice[2]["end_on"]) == NOTICE
    case = open_case(world, date=entries[0][1])
    drive(world, case["id"], entries, until="public_notice_held")
    return case["id"]


def _holiday(world, day: str, workday: bool, note: str) -> None:
    login(world.client, "admin")
    page = world.client.get("/admin/holidays").text
    data = {"csrf_token": _csrf(page), "day": day, "note": note}
    if workday:
        data["is_workday"] = "y"
    r = world.client.post("/admin/holidays", data=data)
    assert r.status_code == 302, r.text


def _notice_violations(view):
    return [v for v in view["violations"] if v["rule"] == "notice_working_days"]


def test_holidays_entered_for_an_unknown_year_change_the_count_and_the_warning(world,
                                                                              notice_case):
    view = world.get("sec1", f"/api/v1/cases/{notice_case}").json
    assert _notice_violations(view) == []  # five assumed working days: enough
    assert any("官方日历尚未公布" in w for w in view["warnings"])
    _holiday(world, "2027-05-31", False, "测试：调休放假")
    view = world.get("sec1", f"/api/v1/cases/{notice_case}").json
    (found,) = _notice_violations(view)
    assert "仅 4 个工作日" in found["detail"]
    assert not any("官方日历尚未公布" in w for w in view["warnings"])  # the year is known now
    _holiday(world, "2027-05-29", True, "测试：周六调休上班")  # an adjusted working Saturday
    view = world.get("sec1", f"/api/v1/cases/{notice_case}").json
    assert _notice_violations(view) == []  # five working days again


def test_the_kept_findings_follow_after_the_rebuild(world, notice_case):
    def deductions():
        r = world.get("org", "/api/v1/rubric?org=B1&year=2027&as_of=2027-12-31").json
        return [d for d in r["items"]["13"]["deductions"] if d["rule"] == "notice_working_days"]
    assert deductions() == []
    _holiday(world, "2027-05-31", False, "测试")
    _holiday(world, "2027-06-01", False, "测试")
    # marked stale in the admin's transaction; beat's rebuild rewrites them
    horizon = sa.select(DeadlineSet.complete_until).where(DeadlineSet.case_id == notice_case)
    assert db.session.execute(horizon).scalar_one() == date.min
    assert deadline_rows.rebuild_stale(date(2027, 12, 31)) >= 1
    assert db.session.execute(horizon).scalar_one() > date(2027, 12, 31)
    (deduction,) = deductions()
    assert deduction["case_id"] == notice_case
