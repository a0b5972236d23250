"""Flask commands: thin wrappers that call one service and turn its errors into one stderr line."""
from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from workflow.persistence.db import db
from workflow.services import cases, directory
from workflow.services.clock import today
from workflow.services.errors import ServiceError


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """User mistakes become one readable line and exit status 1, never a traceback."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ServiceError as exc:
            db.session.rollback()
            fields = "; ".join(f"{k}: {v}" for k, v in exc.extra.get("fields", {}).items())
            raise click.ClickException(exc.message + (f" ({fields})" if fields else "")) from None
    return wrapper


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("日期格式应为 YYYY-MM-DD") from None


orgs = AppGroup("orgs", help="Organisations (党组织).")
users = AppGroup("users", help="User accounts.")
tokens = AppGroup("tokens", help="API tokens.")
alerts = AppGroup("alerts", help="Deadline alerts.")


@orgs.command("create")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--kind", required=True, type=click.Choice(directory.ORG_KINDS))
@click.option("--parent")
@friendly
def orgs_create(code: str, name: str, kind: str, parent: str | None) -> None:
    org = directory.create_org(code, name, kind, parent)
    click.echo(f"created {org.kind} {org.code} {org.name}")


@users.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True)
@click.option("--org", required=True)
@click.option("--shared", is_flag=True, help="an account used by several people (office account)")
@friendly
def users_create(username: str, password: str, role: str, org: str, shared: bool) -> None:
    user = directory.create_user(username, password, role, org, shared=shared)
    click.echo(f"created user {user.username} ({user.role}) in {user.org.code}"
               + (" [shared]" if user.shared else ""))


@users.command("set-shared")
@click.option("--username", required=True)
@click.option("--shared/--personal", default=True,
              help="shared: used by several people, so committee decisions must name the person")
@friendly
def users_set_shared(username: str, shared: bool) -> None:
    """Mark an account as shared (office account) or personal."""
    user = directory.set_shared(username, shared)
    click.echo(f"user {user.username} is {'shared' if user.shared else 'personal'}")


@users.command("link")
@click.option("--username", required=True)
@click.option("--member", "member_id", required=True, type=int, help="roster member id")
@friendly
def users_link(username: str, member_id: int) -> None:
    """Link an account to the roster member behind it (separation of duties)."""
    user = directory.link_member(username, member_id)
    click.echo(f"linked {user.username} to roster member {member_id}")


exemptions_group = AppGroup("exemptions", help="Separation-of-duties exemptions.")


@exemptions_group.command("grant")
@click.option("--org", required=True)
@click.option("--rule", required=True)
@click.option("--reason", required=True)
@click.option("--by", "granted_by", required=True, help="the committee organiser granting it")
@friendly
def exemptions_grant(org: str, rule: str, reason: str, granted_by: str) -> None:
    from workflow.services.cases import exemptions
    row = exemptions.grant(directory.user_by_name(granted_by), org, rule, reason)
    click.echo(f"exemption {row['id']}: {row['org']} {row['rule']}")


@tokens.command("create")
@click.option("--username", required=True)
@friendly
def tokens_create(username: str) -> None:
    click.echo(directory.create_token(username))


def _moment(stored: Any) -> str:
    """A stored UTC time as the organisation's local time, or "-"."""
    from workflow.services.clock import local
    moment = local(stored)
    return moment.strftime("%Y-%m-%dT%H:%M") if moment else "-"


@tokens.command("list")
@click.option("--username", required=True)
@friendly
def tokens_list(username: str) -> None:
    """One line per token: id, created, expires, last used, revoked (organisation's time)."""
    for row in directory.list_tokens(username):
        click.echo(f"id={row.id}  created={_moment(row.created_at)}  "
                   f"expires={_moment(row.expires_at)}  last_used={_moment(row.last_used_at)}  "
                   f"revoked={_moment(row.revoked_at)}  {directory.token_state(row)}")


@tokens.command("revoke")
@click.option("--username", required=True)
@click.option("--id", "token_id", type=click.IntRange(1, 2**31 - 1),
              help="only this token (default: all of the user's)")
@friendly
def tokens_revoke(username: str, token_id: int | None) -> None:
    """Revoke one token or all of the user's tokens; a revoked token gets 401."""
    count = directory.revoke_tokens(username, token_id)
    click.echo(f"已吊销 {count} 个令牌" if count or token_id is None
               else f"令牌 {token_id} 此前已被吊销")


@alerts.command("scan")
@click.option("--as-of", "as_of")
@friendly
def alerts_scan(as_of: str | None) -> None:
    from workflow.services.alerts import scan
    summary = scan(_date(as_of) or today(), chunk=int(current_app.config["ALERT_SWEEP_CHUNK"]))
    click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))


@click.command("rubric")
@click.option("--org", required=True)
@click.option("--year", required=True, type=int)
@click.option("--as-of", "as_of")
@click.option("--json", "as_json", is_flag=True)
@friendly
def rubric_cmd(org: str, year: int, as_of: str | None, as_json: bool) -> None:
    from workflow.services.reports import system_rubric
    result = system_rubric(org, year, _date(as_of) or today())
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    click.echo(f"{result['org']} {result['year']} 年度考核（截至 {result['as_of']}）")
    for key, item in result["items"].items():
        click.echo(f"  第 {key} 项：{item['score']} / {item['max']}")
        for d in item["deductions"]:
            click.echo(f"    -{d['points']}  案件 {d['case_id']}  {d['rule']}  {d['message']}")


@click.command("rederive")
@click.option("--fix", is_flag=True, help="also rewrite the cached stage/state, and rebuild "
              "every case's deadline rows and findings")
@click.option("--background", is_flag=True,
              help="with --fix: send the rebuild to the workers and print its run id")
@click.option("--local", is_flag=True, help="with --fix: rebuild on this machine's processes "
              "(the default on the embedded broker)")
@click.option("--workers", is_flag=True, help="with --fix: rebuild on the Celery workers and "
              "wait (the default on any other broker)")
@friendly
def rederive_cmd(fix: bool, background: bool, local: bool, workers: bool) -> None:
    """Replay every case and report where the cached state differs from its history; with
    --fix, every case's deadline rows and findings are rebuilt as a run of chunks (progress
    bar), on the Celery workers or this machine's processes (BULK_ON_WORKERS)."""
    with _on_workers(local, background, workers) as started:
        mismatches = cases.rederive(fix)
    for case_id, cached, replayed in mismatches:
        click.echo(f"case {case_id}: cached {cached} != replayed {replayed}")
    click.echo(f"{len(mismatches)} mismatch(es)")
    for run_id in started:
        click.echo(f"rebuild: run {run_id}" + (f" sent to the workers (`flask bulk status "
                                               f"{run_id}`)" if background else " done"))
    if mismatches and not fix:
        raise SystemExit(1)


@contextlib.contextmanager
def _on_workers(local: bool, background: bool = False,
                workers: bool = False) -> Iterator[list[int]]:
    """Runs started inside go to the Celery workers (`workers`, `background`, or neither nor
    `local` given and BULK_ON_WORKERS: by default not on the embedded broker; never when tasks
    run eagerly) with a progress bar on stderr, or, `background`, are only sent; yields the
    run ids. Done here, a large run's chunks are spread over the local processes
    (services/bulk_local.py)."""
    from workflow.services import bulk_local, bulk_runs
    if local and (background or workers):
        raise click.UsageError("--local runs here: it cannot go with --background or --workers")
    started: list[int] = []
    to_workers = background or workers or (not local and bulk_runs.on_workers("BULK_ON_WORKERS"))
    send = _sender() if to_workers else None
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="chunks", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)
    try:
        with bulk_runs.using(send, None if background else progress, wait=not background,
                             started=started, local=bulk_local.executor()):
            yield started
    except bulk_runs.ChunksFailed as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc} (`flask bulk resume` runs them again)") from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


def _sender() -> Any:
    from workflow.services import bulk_runs
    return bulk_runs.app_sender()


@click.command("seed-demo")
@friendly
def seed_demo_cmd() -> None:
    """Load the demo committee, branches, people and ~40 cases (idempotent)."""
    from workflow.cli.demo import seed
    for line in seed():
        click.echo(line)


@click.command("backup")
@click.option("--to", "target", required=True, help="file to write")
@friendly
def backup_cmd(target: str) -> None:
    """Take a consistent online backup (SQLite backup API or pg_dump)."""
    from workflow.services.directory import audit
    from workflow.services.interchange import backup
    # logged first: a backup holds everyone's data, and the copy then contains its own entry
    audit.record(None, "backup", subjects=_case_count(), channel="cli",
                 detail=f"{_os_user()} → {Path(target).name}")
    click.echo(f"backup written to {backup.backup(target)}")


def _case_count() -> int:
    from workflow.persistence.models import Case
    return db.session.execute(db.select(db.func.count()).select_from(Case)).scalar() or 0


def _os_user() -> str:
    import getpass
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "?"


@click.command("restore")
@click.option("--from", "source", required=True)
@click.option("--yes", is_flag=True, help="confirm replacing the current data")
@friendly
def restore_cmd(source: str, yes: bool) -> None:
    """Replace the database's contents with a backup (stop the web and workers first)."""
    from workflow.services.interchange import backup
    if not yes:
        raise click.ClickException("恢复会覆盖当前数据，请确认后加 --yes")
    backup.restore(source)
    from sqlalchemy.exc import SQLAlchemyError

    from workflow.services.directory import audit
    try:  # the restored log ends when the backup was taken: say here that it was replaced
        audit.record(None, "restore", subjects=_case_count(), channel="cli",
                     detail=f"{_os_user()} ← {Path(source).name}")
    except SQLAlchemyError:
        db.session.rollback()
        raise click.ClickException(f"已从 {source} 恢复，但无法写入访问记录：请先运行 "
                                   "flask --app wsgi db upgrade") from None
    click.echo(f"restored from {source}")


@click.command("seed-synthetic")
@click.option("--cases", "n", required=True, type=click.IntRange(1, 5_000_000))
@click.option("--seed", "seed_value", default=1, type=int)
@click.option("--prefix", default="S", help="organisation code prefix (one run per prefix)")
@friendly
def seed_synthetic_cmd(n: int, seed_value: int, prefix: str) -> None:
    """Bulk-insert N realistic synthetic cases (benchmarks)."""
    from workflow.cli import synthetic
    result = synthetic.seed(n, seed_value, today(), prefix)
    click.echo(" ".join(f"{k}={v}" for k, v in result.items()))


@click.command("verify")
@click.option("--org", help="only this organisation's subtree")
@click.option("--background", is_flag=True, help="send the run to the workers, print its id")
@click.option("--local", is_flag=True, help="check on this machine's processes (the default on "
              "the embedded broker)")
@click.option("--workers", is_flag=True, help="check on the Celery workers and wait (the default "
              "on any other broker)")
@click.option("--run", "run_id", type=int, help="report a finished verify run")
@friendly
def verify_cmd(org: str | None, background: bool, local: bool, workers: bool,
               run_id: int | None) -> None:
    """Recompute every case's hash chain and compare it with the latest valid checkpoint;
    one line per broken, shortened, rewritten or missing case, exit 1 if any. The chains are
    checked a chunk of cases at a time (progress bar), on the Celery workers or this machine's
    processes (BULK_ON_WORKERS)."""
    from workflow.services import bulk_runs, bulk_verify
    if run_id is None:
        with _on_workers(local, background, workers):  # its flags checked before the plan
            run_id = bulk_verify.plan_verify(org)
            bulk_runs.execute(run_id)
        if background:
            click.echo(f"verify: run {run_id} sent to the workers "
                       f"(`flask verify --run {run_id}` reports it when done)")
            return
    else:
        try:
            run = bulk_runs.status(run_id)
        except KeyError:
            raise click.ClickException(f"no bulk run {run_id} (`flask bulk status`)") from None
        if run.kind != "verify":
            raise click.ClickException(f"run {run_id} is a {run.kind} run, not a verify run")
        if run.finished_at is None:
            raise click.ClickException(f"run {run_id} is not finished (`flask bulk status`)")
    report = bulk_verify.verify_report(run_id)
    for name, reason in report.rejected:
        click.echo(f"checkpoint {name}: not trusted: {reason}")
    if report.checkpoint is None:
        from workflow.services.cases import checkpoints
        what = "no valid checkpoint" if report.rejected else "no checkpoint yet"
        click.echo(f"{what} in {checkpoints.directory()}: chains checked only "
                   "(`flask checkpoint` writes one)", err=True)
    for case_id, kind, record_id, reason in report.broken:
        where = f"{kind} #{record_id}" if record_id else "chain head"
        click.echo(f"case {case_id}: broken at {where}: {reason}")
    for case_id, _, message in report.problems:
        click.echo(f"case {case_id}: {message}")
    for code, head in report.heads.items():
        click.echo(f"org {code} head {head}")
    summary = f"{report.checked} case(s) checked, {len(report.broken)} broken"
    if report.checkpoint is not None:
        summary += (f"; checkpoint {report.checkpoint}: {report.compared} case(s) "
                    f"compared, {len(report.problems)} shortened, rewritten or missing")
    click.echo(summary)
    if not report.ok:
        raise SystemExit(1)


bulk = AppGroup("bulk", help="Runs of bulk work (rebuild, verify): their state, and resuming one.")


@bulk.command("status")
@click.argument("run_id", required=False, type=int)
@friendly
def bulk_status(run_id: int | None) -> None:
    """The latest runs (or one): kind, chunks done of all, started, finished, failures."""
    from workflow.services import bulk_runs
    found = [bulk_runs.status(run_id)] if run_id else bulk_runs.runs()
    for r in found:
        click.echo(f"run {r.id} {r.kind}: {r.done}/{r.chunks} chunks, {r.cases} case(s), "
                   f"started {_moment(r.started_at)}, finished {_moment(r.finished_at)}, "
                   f"{r.failed} failed" + (f" ({r.last_error})" if r.failed else ""))


@bulk.command("resume")
@click.argument("run_id", type=int)
@click.option("--local", is_flag=True, help="run the undone chunks on this machine's processes "
              "(the default on the embedded broker)")
@click.option("--workers", is_flag=True, help="send the undone chunks to the Celery workers and "
              "wait (the default on any other broker)")
@friendly
def bulk_resume(run_id: int, local: bool, workers: bool) -> None:
    """Run the undone chunks of a run (after a worker or the machine died) and wait."""
    from workflow.services import alerts as _alerts  # noqa: F401  (registers the rebuild kind)
    from workflow.services import bulk_runs
    from workflow.services import bulk_verify as _verify  # noqa: F401  (registers verify)
    try:
        kind = bulk_runs.status(run_id).kind
    except KeyError:
        raise click.ClickException(f"no bulk run {run_id} (`flask bulk status`)") from None
    if bulk_runs.caller_only(kind):
        raise click.ClickException(f"run {run_id} is a report: only the page that asked for it "
                                   "reads it; open the report again")
    with _on_workers(local, workers=workers):
        bulk_runs.execute(run_id)
    r = bulk_runs.status(run_id)
    click.echo(f"run {r.id} {r.kind}: {r.done}/{r.chunks} chunks done")


@click.command("checkpoint")
@friendly
def checkpoint_cmd() -> None:
    """Write a signed checkpoint of every case's chain head and length to CHECKPOINT_DIR."""
    from workflow.services.cases import checkpoints
    path, count = checkpoints.write()
    click.echo(f"wrote {path} ({count} case(s))")


def register(app: Flask) -> None:
    for command in (orgs, users, tokens, alerts, bulk, exemptions_group, rubric_cmd, rederive_cmd, seed_demo_cmd,
                    backup_cmd, restore_cmd, seed_synthetic_cmd, verify_cmd,
                    checkpoint_cmd):
        app.cli.add_command(command)
