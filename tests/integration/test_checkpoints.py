"""Tamper evidence on the real database, through `flask verify` and `flask checkpoint`.

Each test plays someone with database access (plain SQL, no key) who rewrites a case's history:
an edited document or acknowledgement row, a record inserted or deleted in the middle, the
last record cut off with the case's chain head rewound, a whole case deleted, and a forged
checkpoint file. The chain alone finds the first four; the signed checkpoint the others.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from tests.integration.helpers import drive, open_case, post_step
from workflow.persistence.db import db
from workflow.persistence.models import (
    Case,
    Document,
    RosterMember,
    StepRecordRow,
    ViolationRow,
)

pytestmark = pytest.mark.db


@pytest.fixture
def folder(ctx, tmp_path):
    """This test's own checkpoint directory (the app, and its instance folder, are shared)."""
    before = ctx.config["CHECKPOINT_DIR"], ctx.config.get("CHECKPOINT_KEY")
    ctx.config["CHECKPOINT_DIR"] = str(tmp_path / "checkpoints")
    yield tmp_path / "checkpoints"
    ctx.config["CHECKPOINT_DIR"], ctx.config["CHECKPOINT_KEY"] = before


@pytest.fixture
def cases(world):
    """Three cases: `full` has steps, an acknowledged violation and a document; `short` has
    two steps; `other` is in branch B2."""
    full = open_case(world)["id"]
    late = post_step(world, full, "applicant_interviewed", "2023-04-05", {"interviewer": "张伟"},
                     acknowledge=True, reason="申请人外出学习")
    assert late.status_code == 201 and late.json["violations"], late.json
    first = world.get("sec1", f"/api/v1/cases/{full}").json["steps"][0]["id"]
    r = world.post("sec1", f"/api/v1/cases/{full}/documents",
                   {"doc_type": "application_letter", "on_file": True, "reference": "柜 A-1",
                    "step_record_id": first})
    assert r.status_code == 201, r.json
    for step, on, data in (("activist_designated", "2023-05-10",
                            {"method": "member_recommendation",
                             "committee_meeting_on": "2023-05-08"}),
                           ("activist_filed", "2023-05-20", {})):
        assert post_step(world, full, step, on, data).status_code == 201
    short = open_case(world, person={"name": "第二人", "gender": "male",
                                     "birth_date": "1990-01-01"})["id"]
    drive(world, short, until="applicant_interviewed")
    other = open_case(world, who="sec2", branch="B2",
                      person={"name": "第三人", "gender": "female",
                              "birth_date": "1995-05-05"})["id"]
    return {"full": full, "short": short, "other": other}


def verify(ctx, *args: str):
    return ctx.test_cli_runner().invoke(args=["verify", *args])


def checkpoint(ctx) -> Path:
    r = ctx.test_cli_runner().invoke(args=["checkpoint"])
    assert r.exit_code == 0, r.output
    return Path(r.output.split()[1])


def rows(model, case_id: int) -> list:
    table = model.__table__
    return list(db.session.execute(sa.select(table).where(table.c.case_id == case_id)
                                   .order_by(table.c.chain_index)))


def chain_of(case_id: int) -> list:
    """The case's records of every kind, in chain order."""
    found = [*rows(StepRecordRow, case_id), *rows(Document, case_id),
             *rows(ViolationRow, case_id)]
    return sorted(found, key=lambda r: r.chain_index)


def commit(sql: str, **params) -> None:
    db.session.execute(text(sql), params)
    db.session.commit()


def cut_tail(case_id: int) -> None:
    """Delete the case's last record and rewind the case's head and length, as an outside
    probe did: what is left is a valid, shorter chain."""
    last = chain_of(case_id)[-1]
    assert last.chain_index > 1
    assert last.step  # a step record: its documents and acknowledgements go with it
    commit("DELETE FROM violations WHERE step_record_id = :i", i=last.id)
    commit("DELETE FROM documents WHERE step_record_id = :i", i=last.id)
    commit("DELETE FROM step_records WHERE id = :i", i=last.id)
    commit("UPDATE cases SET chain_head = :h, chain_length = chain_length - 1 WHERE id = :c",
           h=last.prev_hash, c=case_id)


def delete_case(case_id: int) -> None:
    """Every row of the case, children first, then the case itself."""
    for table in reversed(db.metadata.sorted_tables):
        if "case_id" in table.c and table.name != "cases":
            db.session.execute(table.delete().where(table.c.case_id == case_id))
    db.session.execute(sa.update(RosterMember).where(RosterMember.person_case_id == case_id)
                       .values(person_case_id=None))
    db.session.execute(sa.delete(Case).where(Case.id == case_id))
    db.session.commit()


# --- a clean system ---------------------------------------------------------------------------

def test_a_clean_system_passes_before_and_after_a_checkpoint(ctx, world, folder, cases):
    r = verify(ctx)
    assert r.exit_code == 0, r.output
    assert "no checkpoint yet" in r.stderr and "3 case(s) checked, 0 broken" in r.stdout
    path = checkpoint(ctx)
    assert path.parent == folder and path.name.startswith("checkpoint-")
    body = json.loads(path.read_text(encoding="utf-8"))  # plain JSON for any other tool
    assert body["count"] == 3 and len(body["signature"]) == 64
    by_id = {c[0]: c for c in body["cases"]}
    assert set(by_id) == set(cases.values())
    full = db.session.get(Case, cases["full"])
    assert by_id[full.id][2:] == [full.chain_length, full.chain_head] and full.chain_length >= 6
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp file left
    # records and cases added after the checkpoint are fine: chains only grow
    assert post_step(world, cases["short"], "activist_designated", "2023-04-10",
                     {"method": "member_recommendation",
                      "committee_meeting_on": "2023-04-08"}).status_code == 201
    open_case(world, person={"name": "后来人", "gender": "male",
                                     "birth_date": "1992-02-02"})
    r = verify(ctx)
    assert r.exit_code == 0, r.output
    assert "no checkpoint" not in r.output
    assert f"checkpoint {path.name}: 3 case(s) compared, 0 shortened" in r.stdout
    assert "4 case(s) checked, 0 broken" in r.stdout
    second = checkpoint(ctx)  # a second run adds a file, it never replaces one
    assert second != path and path.exists() and len(list(folder.iterdir())) == 2


# --- what the chain alone finds ---------------------------------------------------------------

def test_an_edited_document_row_is_found(ctx, folder, cases):
    doc = rows(Document, cases["full"])[0]
    commit("UPDATE documents SET reference = '柜 B-9' WHERE id = :i", i=doc.id)
    r = verify(ctx)
    assert r.exit_code == 1
    assert f"case {cases['full']}: broken at document #{doc.id}:" in r.stdout
    assert f"case {cases['short']}:" not in r.stdout and "1 broken" in r.stdout


def test_an_edited_acknowledgement_row_is_found(ctx, folder, cases):
    ack = rows(ViolationRow, cases["full"])[0]
    commit("UPDATE violations SET reason = '无' WHERE id = :i", i=ack.id)
    r = verify(ctx)
    assert r.exit_code == 1
    assert f"case {cases['full']}: broken at acknowledgement #{ack.id}:" in r.stdout


def test_a_record_inserted_in_the_middle_is_found(ctx, folder, cases):
    case_id = cases["full"]
    middle = chain_of(case_id)[2]
    source = rows(StepRecordRow, case_id)[1]  # copied to look like a real record
    for name in ("step_records", "documents", "violations"):  # make room after `middle`
        commit(f"UPDATE {name} SET chain_index = chain_index + 1 "
               "WHERE case_id = :c AND chain_index > :k", c=case_id, k=middle.chain_index)
    table = StepRecordRow.__table__
    values = {k: v for k, v in source._mapping.items() if k != "id"}
    values.update(note="补记的谈话", case_version=99, chain_index=middle.chain_index + 1,
                  prev_hash=middle.chain_hash, chain_hash=source.chain_hash)
    inserted = db.session.execute(table.insert().values(**values)
                                  .returning(table.c.id)).scalar_one()
    commit("UPDATE cases SET chain_length = chain_length + 1 WHERE id = :c", c=case_id)
    r = verify(ctx)
    assert r.exit_code == 1
    assert f"case {case_id}: broken at step #{inserted}:" in r.stdout, r.stdout


def test_a_middle_record_deleted_is_found(ctx, folder, cases):
    case_id = cases["full"]
    middle = next(r for r in chain_of(case_id) if r.chain_index == 5)
    assert rows(StepRecordRow, case_id)[-2].id == middle.id  # a step nothing else points to
    commit("DELETE FROM step_records WHERE id = :i", i=middle.id)
    r = verify(ctx)
    assert r.exit_code == 1
    assert f"case {case_id}: broken at step #" in r.stdout and "链序号应为 5" in r.stdout


# --- what needs the checkpoint ----------------------------------------------------------------

def test_a_cut_off_tail_with_the_head_rewound_is_found_by_the_checkpoint(ctx, folder, cases):
    path = checkpoint(ctx)
    cut_tail(cases["full"])
    cut_tail(cases["short"])
    shutil.move(path, folder.parent / path.name)  # without the checkpoint, the chain holds
    r = verify(ctx)
    assert r.exit_code == 0 and "0 broken" in r.stdout, r.output
    shutil.move(folder.parent / path.name, path)
    r = verify(ctx)
    assert r.exit_code == 1
    for key in ("full", "short"):
        assert f"case {cases[key]}: shorter than at checkpoint {path.name}" in r.stdout
    assert f"case {cases['other']}:" not in r.stdout
    assert "0 broken" in r.stdout and "2 shortened, rewritten or missing" in r.stdout
    # `--org` names only its own cases
    r = verify(ctx, "--org", "B2")
    assert r.exit_code == 0, r.output


def test_a_replaced_last_record_is_found_by_the_checkpoint(ctx, world, folder, cases):
    """Cut off the last record, then record a different one through the application: the
    chain is as long as at the checkpoint, but not the same chain."""
    path = checkpoint(ctx)
    length = db.session.get(Case, cases["short"]).chain_length
    cut_tail(cases["short"])
    db.session.expire_all()
    r = post_step(world, cases["short"], "applicant_interviewed", "2023-03-20",
                  {"interviewer": "王芳"})
    assert r.status_code == 201, r.json
    r = verify(ctx)
    assert r.exit_code == 1
    assert (f"case {cases['short']}: record {length} is not the one in checkpoint {path.name}"
            in r.stdout), r.stdout


def test_a_deleted_case_is_found_by_the_checkpoint(ctx, folder, cases):
    path = checkpoint(ctx)
    delete_case(cases["full"])
    r = verify(ctx)
    assert r.exit_code == 1
    assert f"case {cases['full']}: missing: checkpoint {path.name} has it" in r.stdout
    r = verify(ctx, "--org", "B1")
    assert r.exit_code == 1 and f"case {cases['full']}: missing" in r.stdout
    r = verify(ctx, "--org", "B2")  # not this organisation's case
    assert r.exit_code == 0, r.output


# --- the checkpoint itself --------------------------------------------------------------------

def test_a_forged_checkpoint_is_reported_and_not_trusted(ctx, folder, cases):
    good = checkpoint(ctx)
    cut_tail(cases["short"])
    # the attacker edits a copy of the checkpoint to match the shortened case, under a newer
    # name: the signature no longer holds
    short = db.session.get(Case, cases["short"])
    lines = good.read_text(encoding="utf-8").splitlines(keepends=True)
    forged_lines = [line if not line.startswith(f"[{short.id},") else
                    json.dumps([short.id, short.branch_id, short.chain_length,
                                short.chain_head], separators=(",", ":"))
                    + ("," if line.rstrip().endswith(",") else "") + "\n"
                    for line in lines]
    assert forged_lines != lines
    newer = folder / "checkpoint-29990101T000000.000000Z.json"
    newer.write_text("".join(forged_lines), encoding="utf-8")
    r = verify(ctx)
    assert r.exit_code == 1
    assert f"checkpoint {newer.name}: not trusted: 签名不符" in r.stdout
    # the latest valid checkpoint is used instead, and still finds the cut
    assert f"case {cases['short']}: shorter than at checkpoint {good.name}" in r.stdout


def test_a_checkpoint_signed_with_another_key_or_renamed_is_not_trusted(ctx, folder, cases):
    ctx.config["CHECKPOINT_KEY"] = "the attacker's own key"
    forged = checkpoint(ctx)
    ctx.config["CHECKPOINT_KEY"] = None
    r = verify(ctx)
    assert r.exit_code == 1
    assert f"checkpoint {forged.name}: not trusted: 签名不符" in r.stdout
    assert "no valid checkpoint" in r.stderr
    forged.unlink()
    good = checkpoint(ctx)  # a genuine old checkpoint passed off as the latest
    renamed = folder / "checkpoint-29990101T000000.000000Z.json"
    shutil.copy(good, renamed)
    r = verify(ctx)
    assert r.exit_code == 1
    assert f"checkpoint {renamed.name}: not trusted: 文件名与签名内的时间" in r.stdout
    renamed.unlink()
    assert verify(ctx).exit_code == 0


def test_the_daily_task_writes_a_checkpoint(ctx, folder, cases):
    from config import beat_schedule
    from tasks.app import TASK_MODULES
    from tasks.integrity import checkpoint as task
    assert "tasks.integrity" in TASK_MODULES and task.name == "tasks.checkpoint"
    entry = [e for e in beat_schedule("30 6 * * *").values() if e["task"] == task.name]
    assert entry and ctx.config["CELERY_BEAT_SCHEDULE"]["chain-checkpoint"] == entry[0]
    done = task.run()
    assert done["cases"] == 3 and Path(done["path"]).parent == folder
    r = verify(ctx)
    assert r.exit_code == 0 and Path(done["path"]).name in r.stdout
