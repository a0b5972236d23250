"""The flask commands: output, exit statuses and one-line errors."""
from __future__ import annotations

import json

import pytest

from workflow.persistence.db import db
from workflow.persistence.models import Case, Notification

pytestmark = pytest.mark.db


@pytest.fixture
def runner(ctx):
    return ctx.test_cli_runner()


def test_orgs_users_tokens(runner):
    r = runner.invoke(args=["orgs", "create", "--code", "C", "--name", "党委", "--kind", "committee"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["orgs", "create", "--code", "B", "--name", "支部", "--kind", "branch",
                            "--parent", "C"])
    assert r.exit_code == 0
    r = runner.invoke(args=["users", "create", "--username", "u", "--password", "Harbor2026lamp",
                            "--role", "branch_secretary", "--org", "B"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["tokens", "create", "--username", "u"])
    assert r.exit_code == 0
    token = r.stdout.strip()
    assert token.startswith("dy_") and "\n" not in token


@pytest.mark.parametrize("args,needle", [
    (["orgs", "create", "--code", "B", "--name", "x", "--kind", "branch"], "上级"),
    (["users", "create", "--username", "u", "--password", "short", "--role", "admin",
      "--org", "C"], "密码"),
    (["users", "create", "--username", "u", "--password", "Harbor2026lamp", "--role", "king",
      "--org", "C"], "角色"),
    (["tokens", "create", "--username", "nobody"], "不存在"),
    (["rubric", "--org", "NOPE", "--year", "2025"], "不存在"),
    (["alerts", "scan", "--as-of", "2025-13-01"], "YYYY-MM-DD"),
])
def test_user_mistakes_are_one_line_without_traceback(runner, args, needle):
    runner.invoke(args=["orgs", "create", "--code", "C", "--name", "党委", "--kind", "committee"])
    r = runner.invoke(args=args)
    assert r.exit_code != 0
    assert needle in r.output
    assert "Traceback" not in r.output


def test_seed_demo_is_idempotent_and_everything_replays(runner):
    r = runner.invoke(args=["seed-demo"])
    assert r.exit_code == 0, r.output
    assert "organizer" in r.output and "Demo2026pass" in r.output
    count = db.session.execute(db.select(db.func.count()).select_from(Case)).scalar()
    assert 38 <= count <= 42
    stages = {c.stage for c in db.session.execute(db.select(Case)).scalars()}
    assert {"applicant", "activist", "candidate", "probationary", "full_member"} <= stages
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert db.session.execute(db.select(db.func.count()).select_from(Case)).scalar() == count
    r = runner.invoke(args=["rederive"])
    assert r.exit_code == 0 and "0 mismatch" in r.output
    r = runner.invoke(args=["rubric", "--org", "B01", "--year", "2026", "--json"])
    assert r.exit_code == 0
    assert set(json.loads(r.output)["items"]) == {"13", "14"}


def test_rederive_finds_a_tampered_cache(runner):
    runner.invoke(args=["seed-demo"])
    case = db.session.execute(db.select(Case).order_by(Case.id)).scalars().first()
    case.state, case.stage = "full_member.archived", "full_member"
    db.session.commit()
    r = runner.invoke(args=["rederive"])
    assert r.exit_code == 1 and f"case {case.id}:" in r.output
    assert runner.invoke(args=["rederive", "--fix"]).exit_code == 0
    assert "0 mismatch" in runner.invoke(args=["rederive"]).output


def test_alert_scan_twice_creates_nothing_new(runner):
    runner.invoke(args=["seed-demo"])
    first = runner.invoke(args=["alerts", "scan"])
    assert first.exit_code == 0, first.output
    created = db.session.execute(db.select(db.func.count()).select_from(Notification)).scalar()
    assert created > 0 and f"created={created}" in first.output
    second = runner.invoke(args=["alerts", "scan"])
    assert "created=0" in second.output
    assert db.session.execute(db.select(db.func.count()).select_from(Notification)).scalar() == created


def test_seed_synthetic_leaves_a_database_the_service_keeps_writing_to(runner, ctx):
    """Synthetic rows carry their own ids: afterwards new cases and steps must still get fresh
    ids (PostgreSQL's sequences moved past them), the chains verify and the state replays."""
    r = runner.invoke(args=["seed-synthetic", "--cases", "120", "--seed", "3"])
    assert r.exit_code == 0, r.output
    summary = dict(kv.split("=") for kv in r.output.split())
    assert summary["cases"] == "120" and int(summary["steps"]) > 120
    from workflow.services import cases, directory
    from workflow.persistence.models import Organisation
    branch = db.session.execute(db.select(Organisation).filter_by(kind="branch")
                                .order_by(Organisation.id)).scalars().first()
    directory.create_user("syn", "Harbor2026lamp", "branch_secretary", branch.code)
    user = directory.user_by_name("syn")
    opened = cases.open_case(user, branch.code, {"name": "新申请人", "gender": "female",
                                                 "birth_date": "2000-01-01"}, "2026-01-05")
    assert opened["id"] > 120 and opened["version"] == 1
    assert runner.invoke(args=["verify"]).exit_code == 0
    assert cases.rederive() == []
