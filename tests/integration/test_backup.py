"""A backup taken while the service runs restores to exactly the data it saw."""
from __future__ import annotations

import pytest

from tests.integration.helpers import open_case, post_step
from workflow.persistence.db import db
from workflow.persistence.models import Case, StepRecordRow

pytestmark = pytest.mark.db


def _counts():
    return (db.session.execute(db.select(db.func.count()).select_from(Case)).scalar(),
            db.session.execute(db.select(db.func.count()).select_from(StepRecordRow)).scalar())


def _stamp() -> int:
    return int(db.session.execute(db.text("SELECT value FROM reference_stamps")).scalar_one())


def test_backup_and_restore(world, ctx, tmp_path):
    case = open_case(world)
    runner = ctx.test_cli_runner()
    target = tmp_path / "backup.bin"
    saved_stamp = _stamp()
    db.session.commit()
    r = runner.invoke(args=["backup", "--to", str(target)])
    assert r.exit_code == 0, r.output
    saved = _counts()
    post_step(world, case["id"], "applicant_interviewed", "2023-03-15", {"interviewer": "张伟"})
    open_case(world)
    assert _counts() != saved
    assert runner.invoke(args=["restore", "--from", str(target)]).exit_code != 0  # needs --yes
    r = runner.invoke(args=["restore", "--from", str(target), "--yes"])
    assert r.exit_code == 0, r.output
    assert _counts() == saved
    # the restore loaded rows without the triggers: a new stamp voids every process's kept data
    assert _stamp() != saved_stamp
    got = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert [s["step"] for s in got["steps"]] == ["application_submitted"]
    assert runner.invoke(args=["restore", "--from", str(tmp_path / "none"), "--yes"]).exit_code == 1
