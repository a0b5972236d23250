"""The organisation's day, not the server's: with the clock at 23:30 UTC it is already the next
day in Beijing, and every "today" (future-date check, alert sweep, displayed times) follows
Beijing (`TIMEZONE`)."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
import time_machine

from tests.integration.helpers import open_case
from tests.unit.builders import PERSON
from tests.web.test_pages import login
from workflow.persistence.db import db
from workflow.persistence.models import Notification, StepRecordRow
from workflow.services import clock

# 23:30 UTC on 2 December: 07:30 on 3 December in Beijing
LATE_UTC = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)


@pytest.fixture
def late():
    with time_machine.travel(LATE_UTC, tick=False) as traveller:
        yield traveller


@pytest.fixture
def zone_name(ctx, monkeypatch):
    def use(name: str) -> None:
        monkeypatch.setitem(ctx.config, "TIMEZONE", name)
    return use


def test_today_is_the_organisations_date(ctx, late, zone_name):
    assert date.today() == date(2026, 12, 2)  # the server's (UTC) date
    assert clock.today() == date(2026, 12, 3)
    assert clock.now().strftime("%Y-%m-%d %H:%M") == "2026-12-03 07:30"
    zone_name("UTC")
    assert clock.today() == date(2026, 12, 2)
    zone_name("America/New_York")
    assert clock.today() == date(2026, 12, 2)


def test_a_pinned_today_still_wins(ctx, late, monkeypatch):
    monkeypatch.setitem(ctx.config, "TODAY", "2025-06-01")
    assert clock.today() == date(2025, 6, 1)


def test_a_step_dated_the_organisations_today_is_accepted(world, late):
    case = open_case(world, date="2026-12-03")  # tomorrow by the server's date
    assert case["application_date"] == "2026-12-03"
    r = world.post("sec1", "/api/v1/cases", {"branch": "B1", "application_date": "2026-12-04",
                                              "person": {**PERSON, "name": "林青"}})
    assert r.status_code == 422, r.json  # the day after the organisation's today is future


def test_the_same_step_is_future_for_an_organisation_on_utc(world, late, zone_name):
    zone_name("UTC")
    r = world.post("sec1", "/api/v1/cases", {"branch": "B1", "application_date": "2026-12-03",
                                              "person": PERSON})
    assert r.status_code == 422, r.json


def test_pages_show_stored_utc_times_in_the_organisations_zone(world, late):
    case = open_case(world, date="2026-12-03")
    stored = db.session.execute(sa.select(StepRecordRow.recorded_at)
                                .where(StepRecordRow.case_id == case["id"])).scalar_one()
    assert stored.strftime("%Y-%m-%d %H:%M") == "2026-12-02 23:30"  # kept in UTC
    login(world.client, "sec1")
    page = world.client.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert "2026-12-03 07:30" in page and "2026-12-02 23:30" not in page


def test_the_sweep_without_a_date_sweeps_the_organisations_day(world, late, ctx):
    # applied 2026-11-05: the applicant interview is due within a month, by 2026-12-05,
    # which is in its alert window on the organisation's 3 December
    open_case(world, date="2026-11-05")
    result = ctx.test_cli_runner().invoke(args=["alerts", "scan"])
    assert result.exit_code == 0, result.output
    days = set(db.session.execute(sa.select(Notification.created_on)).scalars())
    assert days == {date(2026, 12, 3)}, days


def test_celery_beat_keeps_the_organisations_zone(monkeypatch):
    import config
    monkeypatch.delenv("CELERY_TIMEZONE", raising=False)
    monkeypatch.setenv("TIMEZONE", "Asia/Urumqi")
    conf = config.load("testing")
    assert conf.TIMEZONE == conf.CELERY_TIMEZONE == "Asia/Urumqi"
    monkeypatch.delenv("TIMEZONE")
    assert config.load("testing").TIMEZONE == "Asia/Shanghai"


def test_an_unknown_zone_stops_the_start_with_a_clear_message(monkeypatch):
    import config
    monkeypatch.setenv("TIMEZONE", "Asia/Beijing")  # not an IANA zone
    with pytest.raises(RuntimeError, match="Asia/Beijing"):
        config.load("testing")
