"""Kept findings (services/alerts/findings_store.py): the committee table reads them instead of
replaying every history, gives exactly what replaying gives, and replays whatever it cannot
trust: no findings yet, a rule or holiday change, a day before or beyond what they saw, a
step or document chained without refreshing them."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.helpers import drive, open_case, post_step
from tests.integration.test_reports import actor, attach_all, pin, three_cases  # noqa: F401
from workflow.persistence.db import db
from workflow.persistence.models import (
    Case,
    DeadlineSet,
    DevelopmentPlan,
    Organisation,
    PlanVersionRow,
)
from workflow.services.directory import admin
from workflow.services import alerts as alerting, bulk, directory, reports
from workflow.services.alerts import findings_store
from workflow.cli import synthetic

pytestmark = pytest.mark.db
TODAY = date(2026, 1, 15)  # the `pin` fixture's day


@pytest.fixture
def replayed(monkeypatch) -> list[int]:
    """The ids of the cases reports replay (the real replay still runs)."""
    seen: list[int] = []
    real = bulk.scored_cases
    monkeypatch.setattr(bulk, "scored_cases", lambda rows, day, years=None: seen.extend(
        r[0] if isinstance(r, tuple) else r.id for r in rows) or real(rows, day, years))
    return seen


@pytest.fixture
def population(world, pin):
    """Cases recorded through the API (papers partly attached, a late interview, a transfer)
    and a few hundred synthetic histories of every stage, their findings built."""
    driven, moved = three_cases(world)
    synthetic.seed(300, 5, TODAY, "Q")
    _plan_every_year()
    alerting.refresh_all_deadlines()
    return {"driven": driven, "moved": moved}


def _plan_every_year() -> None:
    """Every branch planned every year, generously: item 13's `no_plan` (−2, judged across a
    branch's cases, not kept per case) would otherwise floor scores at 0 and hide the
    differences these tests look for."""
    for org_id in _branches():
        for year in range(TODAY.year - 4, TODAY.year + 1):
            plan = DevelopmentPlan(org_id=org_id, year=year)
            db.session.add(plan)
            db.session.flush()
            db.session.add(PlanVersionRow(plan_id=plan.id, version=1, quota=999, targets={},
                                          effective_on=date(year, 1, 1), reason=""))
    db.session.commit()


def _branches() -> list[int]:
    return list(db.session.execute(sa.select(Organisation.id).where(
        Organisation.kind == "branch").order_by(Organisation.id)).scalars())


def _tables(as_of: date) -> tuple[list, list]:
    years = [as_of.year - 2, as_of.year - 1, as_of.year]
    kept = reports.table_share(_branches(), years, as_of)
    return kept, reports.table_share(_branches(), years, as_of, replayed=True)


def test_the_table_from_kept_findings_equals_the_table_from_every_history(population,
                                                                         replayed):
    horizon = TODAY + timedelta(alerting.HORIZON_DAYS - alerting.LOOKAHEAD_DAYS)
    ids = db.session.execute(sa.select(Case.id).order_by(Case.id)).scalars().all()
    for as_of in (TODAY, TODAY + timedelta(40), TODAY + timedelta(200), horizon):
        replayed.clear()
        kept, from_histories = _tables(as_of)
        assert kept == from_histories
        assert replayed == ids  # by the replayed table alone
    # not a table of zeros: deadlines missed after the findings were made count too
    later = reports.table_share(_branches(), [2026], TODAY + timedelta(200))
    assert sum(row["items"]["13"]["deductions"] for row, _ in later) > sum(
        row["items"]["13"]["deductions"] for row, _ in reports.table_share(
            _branches(), [2026], TODAY))


def test_a_step_or_a_document_refreshes_the_findings_in_its_transaction(world, pin, replayed):
    case = open_case(world)
    drive(world, case["id"], until="activist_filed")
    org = actor("org")
    before = reports.committee_table(org, None, 2023, TODAY)
    assert replayed == []  # every case recorded through the service has fresh findings
    papers = {r["org"]: r["items"]["13"]["deductions"] for r in before["rows"]}
    attach_all(world, case["id"])
    after = reports.committee_table(org, None, 2023, TODAY)
    assert replayed == []
    assert {r["org"]: r["items"]["13"]["deductions"] for r in after["rows"]}["B1"] < papers["B1"]
    s = db.session.get(DeadlineSet, case["id"])
    assert (s.chain_length, s.findings_from) == (db.session.get(Case, case["id"]).chain_length,
                                                 TODAY)


def test_cases_whose_findings_cannot_be_trusted_are_replayed(population, replayed):
    ids = db.session.execute(sa.select(Case.id).order_by(Case.id)).scalars().all()
    kept, _ = _tables(TODAY)
    replayed.clear()
    # a day before the findings were made: replayed (as the table for a past day must be)
    reports.table_share(_branches(), [2025], TODAY - timedelta(1))
    assert sorted(set(replayed)) == ids
    # beyond their horizon: replayed; the sweep's catch-up rebuilds them
    replayed.clear()
    reports.table_share(_branches(), [2026], TODAY + timedelta(
        alerting.HORIZON_DAYS - alerting.LOOKAHEAD_DAYS + 1))
    assert sorted(set(replayed)) == ids
    # a rule change: the cases it reaches are replayed (with the new rule) until rebuilt
    admin.add_setting(directory.user_by_name("admin"), "C", "activist_assessment_months", 3,
                      "2020-01-01")
    replayed.clear()
    changed, from_histories = _tables(TODAY)
    assert changed == from_histories != kept  # more assessment windows missed now
    assert set(replayed) >= set(db.session.execute(sa.select(Case.id).join(
        Organisation, Organisation.id == Case.branch_id).where(
        Organisation.code.in_(["B1", "B2"]))).scalars())
    alerting.rebuild_stale(TODAY)
    replayed.clear()
    assert _tables(TODAY)[0] == changed and len(replayed) == len(ids)  # the replayed table's
    # a chained write that did not refresh the findings: that case alone is replayed
    moved = population["moved"]
    db.session.execute(sa.update(Case).where(Case.id == moved)
                       .values(chain_length=Case.chain_length + 1))
    db.session.commit()
    replayed.clear()
    reports.table_share(_branches(), [2023], TODAY)
    assert replayed == [moved]


def test_the_findings_are_read_not_recomputed(population):
    """Emptying a branch's kept findings changes the table: they are what it reads."""
    branch = db.session.execute(sa.select(Organisation.id).where(
        Organisation.code == "B2")).scalar_one()
    first = reports.table_share([branch], [2023], TODAY)
    assert first[0][0]["items"]["13"]["deductions"] > 0
    cases = list(db.session.execute(sa.select(Case.id).where(Case.branch_id == branch)).scalars())
    for s in db.session.execute(sa.select(DeadlineSet).where(DeadlineSet.case_id.in_(cases))
                                ).scalars():
        s.findings = {**s.findings, "violations": [], "misses": [], "paperwork": []}
    db.session.commit()
    assert reports.table_share([branch], [2023], TODAY)[0][0]["items"]["13"]["deductions"] == 0


def test_findings_made_by_other_rule_code_are_replayed_and_rebuilt(population, replayed):
    """A deploy that changes a rule or the official calendar changes `derivation()`: findings
    made before it are not trusted, and the catch-up rebuilds them."""
    kept, _ = _tables(TODAY)
    moved = population["moved"]
    db.session.execute(sa.update(DeadlineSet).where(DeadlineSet.case_id == moved)
                       .values(findings_version="0" * 16))
    db.session.commit()
    branch = db.session.get(Case, moved).branch_id
    assert findings_store.to_replay([branch], TODAY) == {branch: 1}  # what fan-out weighs
    db.session.execute(sa.update(DeadlineSet).where(DeadlineSet.case_id == moved)
                       .values(findings_version=None))  # made before versions were kept
    db.session.commit()
    assert findings_store.to_replay([branch], TODAY) == {branch: 1}
    replayed.clear()
    assert reports.table_share(_branches(), [2023], TODAY) == reports.table_share(
        _branches(), [2023], TODAY, replayed=True)
    assert replayed[0] == moved and len(replayed) == 1 + len(set(replayed[1:]))
    assert alerting.rebuild_stale(TODAY) == 1
    assert db.session.get(DeadlineSet, moved).findings_version == findings_store.derivation()
    replayed.clear()
    assert _tables(TODAY)[0] == kept


def test_a_write_never_clears_a_rule_change_that_came_after_it_read_the_rules(world, pin,
                                                                               replayed):
    """A writer reads the rule settings when its request starts; an admin's change that
    commits before the writer's does marks the case stale, and the write keeps it so: only a
    rebuild, which reads the settings after taking the case's lock, makes it fresh."""
    case = open_case(world)
    drive(world, case["id"], until="activist_filed")
    alerting.invalidate_deadlines()  # as if committed while the next step was being recorded
    db.session.commit()
    assert post_step(world, case["id"], "cultivators_assigned", "2023-04-20",
                     {"cultivators": [1, 2]}).status_code == 201
    s = db.session.get(DeadlineSet, case["id"])
    db.session.refresh(s)
    assert s.complete_until == date.min  # still stale
    reports.committee_table(actor("org"), None, 2023, TODAY)
    assert replayed == [case["id"]]
    alerting.rebuild_stale(TODAY)
    replayed.clear()
    reports.committee_table(actor("org"), None, 2023, TODAY)
    assert replayed == []


def test_kept_findings_are_stored_as_the_json_their_encoding_made(population):
    """The findings are written by orjson (`json_text.Encoded`), not the column's json.dumps:
    the stored text, read by the standard library, is the kept findings' value with its days
    as ISO dates and whoever answers as the enum's value, non-ASCII details unescaped."""
    import json

    from workflow.history import Responsible
    from workflow.services.alerts import deadline_rows
    ids = list(db.session.execute(sa.select(Case.id).order_by(Case.id)).scalars())
    derived = deadline_rows.derive(ids)
    stored = dict(db.session.execute(sa.select(
        DeadlineSet.case_id, sa.cast(DeadlineSet.findings, sa.Text))).all())
    def plain(value):  # what `findings.kept` leaves for the writer: days and enums
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, date):
            return value.isoformat()
        return value.value if isinstance(value, Responsible) else value
    assert {i: json.loads(stored[i]) for i in ids} == {
        i: plain(derived.sets[i]["findings"]) for i in ids}
    assert any(not text.isascii() for text in stored.values())  # Chinese details, unescaped


def test_a_set_locked_before_its_findings_holds_sql_null(world, pin):
    """The lock's placeholder (`_lock_set` without values) writes no findings: SQL NULL."""
    from workflow.services.alerts import deadline_rows
    case = open_case(world)
    db.session.execute(sa.delete(DeadlineSet).where(DeadlineSet.case_id == case["id"]))
    deadline_rows._lock_set(case["id"])
    db.session.commit()
    assert db.session.execute(sa.select(DeadlineSet.case_id).where(
        DeadlineSet.case_id == case["id"], DeadlineSet.findings.is_(None))).scalar_one() \
        == case["id"]
