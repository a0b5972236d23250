"""One command, ratios against the floor measured in the same run on the same database.

    .venv/bin/python bench/run.py --cases 100000 [--database-url URL]

Builds a fresh instance with synthetic histories, then measures each operation against its
floor (the least work that could answer the same question) and prints a table. Never run by
the test suite; tests do not assert timings.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def org_today() -> date:
    """The organisation's date (Asia/Shanghai by default), as the product takes it; inside an
    app context. Not the server's `date.today()`: from 16:00 UTC the two differ, and findings
    kept for the organisation's day are rightly not trusted for the day before (scoring "from
    kept findings" then replayed every case)."""
    from workflow.services import clock
    return clock.today()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def build(cases: int, url: str | None, instance: str | None = None) -> Any:
    """A migrated instance with `cases` synthetic cases; with `instance` a kept folder (its
    secret key signs the hash chains), whose database is seeded only if it has no case yet."""
    instance = instance or tempfile.mkdtemp(prefix="bench-")
    os.makedirs(instance, exist_ok=True)
    os.environ["INSTANCE_PATH"] = instance
    if url:
        os.environ["DATABASE_URL"] = url
    from flask_migrate import upgrade

    from workflow.app import create_app
    app = create_app()
    with app.app_context():
        upgrade()
        from workflow.cli import synthetic
        kept = kept_cases()
        if kept:
            print(f"kept database: {kept:,} cases, not seeded again", flush=True)
            return app
        seconds, result = timed(lambda: synthetic.seed(cases, 7, org_today()))
        print(f"seeded {result} in {seconds:.1f} s ({cases / seconds:,.0f} cases/s)")
    return app


def kept_cases() -> int:
    """Cases already in the database (a kept instance's: `--instance`)."""
    import sqlalchemy as sa

    from workflow.persistence.db import db
    from workflow.persistence.models import Case
    return int(db.session.execute(sa.select(sa.func.count(Case.id))).scalar_one())


def bench_user() -> Any:
    """A branch secretary of a branch with activists (made once, inside an app context)."""
    import sqlalchemy as sa

    from workflow.persistence.db import db
    from workflow.persistence.models import Case, Organisation, User
    from workflow.services import directory
    user = db.session.execute(sa.select(User).filter_by(username="bench")).scalar_one_or_none()
    if user is None:
        code = db.session.execute(sa.select(Organisation.code).join(
            Case, Case.branch_id == Organisation.id).where(Case.stage == "activist")
            .limit(1)).scalar_one()
        directory.create_user("bench", "Harbor2026lamp", "branch_secretary", code)
        user = db.session.execute(sa.select(User).filter_by(username="bench")).scalar_one()
    return user


def bench_recording(app: Any, n: int = 200) -> tuple[float, float, float]:
    """Per step: the service (checks, replays, chain, deadline rows, findings, the answer) vs
    the raw SQL of the same writes: read the version and chain head, insert the record with
    its link, move the case's version and head, upsert the deadline set with the findings (the
    value the service wrote for that case), replace the deadline rows (the same rows the
    service wrote), commit. Also returns statements per step."""
    import hashlib
    import importlib

    import sqlalchemy as sa

    from workflow.persistence.db import db
    from workflow.persistence.models import Case, DeadlineRow, DeadlineSet, StepRecordRow, utcnow
    from workflow.services import cases
    with app.app_context():
        user = bench_user()
        branch = user.org_id
        ids = db.session.execute(sa.select(Case.id).where(Case.branch_id == branch,
                                                          Case.stage == "activist")).scalars().all()
        targets = (ids * (n // max(1, len(ids)) + 1))[:n]
        day = (org_today() - timedelta(1)).isoformat()
        data = {"period": "2026H2", "conclusion": "良好"}
        statements = [0]

        def count(*_: Any) -> None:
            statements[0] += 1

        def service() -> None:
            for case_id in targets:
                cases.record_step(user, case_id, "activist_assessed", day, data,
                                  acknowledge=True, reason="bench")
        sa.event.listen(db.engine, "before_cursor_execute", count)
        service_time = timed(service)[0]
        sa.event.remove(db.engine, "before_cursor_execute", count)
        deadline_cols = [c.name for c in DeadlineRow.__table__.columns if c.name != "id"]
        deadlines = {case_id: [dict(r._mapping) for r in db.session.execute(
            sa.select(*[DeadlineRow.__table__.c[c] for c in deadline_cols])
            .where(DeadlineRow.case_id == case_id))] for case_id in set(targets)}
        steps, cases_t, sets_t = (StepRecordRow.__table__, Case.__table__, DeadlineSet.__table__)
        kept = {case_id: db.session.execute(sa.select(sets_t.c.findings).where(
            sets_t.c.case_id == case_id)).scalar() for case_id in set(targets)}
        dialect = importlib.import_module(f"sqlalchemy.dialects.{db.engine.dialect.name}")
        chains = {case_id: tuple(db.session.execute(
            sa.select(cases_t.c.version, cases_t.c.chain_length, cases_t.c.chain_head)
            .where(cases_t.c.id == case_id)).one()) for case_id in set(targets)}
        last_id = db.session.execute(sa.select(sa.func.max(steps.c.id))).scalar_one()
        db.session.commit()

        def undo_floor() -> None:
            """The floor's records carry a plain hash, not the chain's keyed link: remove
            them and put the cases' versions and chain heads back, and rebuild their deadline
            rows and findings, so that a kept instance (`--instance`) verifies in the next run."""
            from workflow.services import alerts as alerting
            db.session.execute(sa.delete(steps).where(steps.c.id > last_id,
                                                      steps.c.case_id.in_(list(chains))))
            for case_id, (version, length, head) in chains.items():
                db.session.execute(sa.update(cases_t).where(cases_t.c.id == case_id).values(
                    version=version, chain_length=length, chain_head=head))
            db.session.commit()
            for case_id in chains:
                alerting.refresh_deadlines(db.session.get(Case, case_id))
            db.session.commit()

        def floor() -> None:
            for case_id in targets:
                version, length, head = db.session.execute(
                    sa.select(cases_t.c.version, cases_t.c.chain_length, cases_t.c.chain_head)
                    .where(cases_t.c.id == case_id)).one()
                link = hashlib.sha256(f"{head}{case_id}{version}".encode()).hexdigest()
                db.session.execute(sa.insert(steps).values(
                    case_id=case_id, case_version=version + 1, step="activist_assessed",
                    occurred_on=org_today() - timedelta(1), data=data, recorded_by_id=user.id,
                    recorded_by_role="branch", recorded_at=utcnow(), chain_index=length + 1,
                    prev_hash=head, chain_hash=link))
                db.session.execute(sa.update(cases_t).where(
                    cases_t.c.id == case_id, cases_t.c.version == version).values(
                    version=version + 1, chain_length=length + 1, chain_head=link,
                    updated_at=utcnow()))
                upsert = dialect.insert(sets_t).values(
                    case_id=case_id, case_version=version + 1, known_on=org_today(),
                    complete_until=org_today() + timedelta(days=300), refreshed_at=utcnow(),
                    findings=kept[case_id], findings_from=org_today(), chain_length=length + 1)
                db.session.execute(upsert.on_conflict_do_update(
                    index_elements=["case_id"], set_={
                        c: upsert.excluded[c] for c in ("case_version", "refreshed_at",
                                                        "findings", "findings_from",
                                                        "chain_length")}))
                db.session.execute(sa.delete(DeadlineRow.__table__)
                                   .where(DeadlineRow.__table__.c.case_id == case_id))
                if deadlines[case_id]:
                    db.session.execute(sa.insert(DeadlineRow.__table__), deadlines[case_id])
                db.session.commit()
        floor_time = timed(floor)[0]
        undo_floor()
        return service_time / n, floor_time / n, statements[0] / n


def bench_replay(app: Any) -> dict[str, Any]:
    """Every branch scored as the committee table scores it, vs one stream of every step row:
    from every replayed history, in one process and in the report processes the configuration
    gives (services/reports/fanout.py); then from the findings kept with the deadline rows (rebuilt
    for every case first, as `rederive --fix` or the first sweep after the upgrade does). A
    rebuild rewrites only the rows that differ from its derivation, so it is timed twice: with
    every row written (the rows emptied first), then again when nothing differs."""
    import sqlalchemy as sa

    from workflow.persistence.db import db
    from workflow.persistence.models import Case, DeadlineRow, StepRecordRow
    from workflow.services import alerts, reports
    from workflow.services.reports import fanout
    with app.app_context():
        def floor() -> int:
            t = StepRecordRow.__table__  # Core rows: an ORM select would add its own overhead
            rows = db.session.execute(sa.select(t.c.case_id, t.c.step, t.c.occurred_on, t.c.data)
                                      .execution_options(yield_per=10_000))
            return sum(1 for _ in rows)

        def score(processes: int, replayed: bool) -> float:
            configured = app.config["REPORT_PROCESSES"]
            app.config["REPORT_PROCESSES"] = processes
            try:
                return timed(lambda: reports.score_everything(org_today(), replayed))[0]
            finally:
                app.config["REPORT_PROCESSES"] = configured
        configured = app.config["REPORT_PROCESSES"]
        processes = fanout.processes(db.session.execute(sa.select(sa.func.count(Case.id))).scalar())
        result = {"processes": processes, "stream": timed(floor)[0],
                  "replayed_alone": score(1, True)}
        result["replayed_shared"] = (score(configured, True) if processes > 1
                                     else result["replayed_alone"])
        # a rebuild rewrites only the cases whose rows differ from its derivation: timed with
        # every row written (the rows emptied first), then again when nothing differs
        db.session.execute(sa.delete(DeadlineRow))
        db.session.commit()
        result["rebuild_written"] = timed(alerts.refresh_all_deadlines)[0]
        result["rebuild"] = timed(alerts.refresh_all_deadlines)[0]
        # as configured: report processes only for the cases whose findings must be replayed
        # (none here, right after the rebuild), so this runs in the calling process
        result["kept"] = score(configured, False)
        result["stream_again"] = timed(floor)[0]
        return result


def best(fn: Callable[[], Any], runs: int = 3) -> float:
    """The fastest of a few runs: a floor read once is as often cold as warm (at 20,000 cases
    the indexed due query measured 149 ms once, 6 ms warm)."""
    return min(timed(fn)[0] for _ in range(runs))


def bench_sweep(app: Any) -> dict[str, float]:
    """The day's sweep, first (writes every alert: a kept instance's outbox is emptied first)
    and again (nothing new), vs the indexed query of the due rows (ids only: the index alone
    answers it), the same rows with the columns the sweep reads and its joins (open cases,
    trusted sets), and a full scan of the open cases' step rows. The floors are the best of
    three runs."""
    import sqlalchemy as sa

    from workflow.persistence.db import db
    from workflow.persistence.models import (
        Case,
        DeadlineRow,
        DeadlineSet,
        Notification,
        NotificationRead,
        StepRecordRow,
        WebhookDelivery,
    )
    from workflow.services import alerts
    from workflow.services.alerts import sweep as sweeping
    with app.app_context():
        rebuild = timed(alerts.refresh_all_deadlines)[0]
        print(f"deadline rows and findings rebuilt for every case in {rebuild:.1f} s", flush=True)
        day = org_today()
        due = sa.select(DeadlineRow.id).where(DeadlineRow.met.is_(False),
                                              DeadlineRow.due_on <= day + timedelta(60))
        d, c = DeadlineRow.__table__.c, Case.__table__.c
        rows = (sa.select(d.case_id, d.rule, d.kind, d.due_on, d.responsible, d.met, d.org_id,
                          c.branch_id, c.person_name)
                .select_from(DeadlineRow.__table__.join(Case.__table__, c.id == d.case_id)
                             .join(DeadlineSet.__table__,
                                   DeadlineSet.__table__.c.case_id == d.case_id))
                .where(sweeping._may_alert(day)))
        result = {"indexed": best(lambda: len(db.session.execute(due).all())),
                  "rows": best(lambda: len(db.session.execute(rows).all())),
                  "full": timed(lambda: sum(1 for _ in db.session.execute(
                      sa.select(StepRecordRow.case_id, StepRecordRow.data).join(Case)
                      .where(Case.stage.in_(alerts.OPEN_STAGES))).yield_per(10_000)))[0]}
        # a kept instance has the day's alerts already: the first sweep writes them all again
        for model in (NotificationRead, WebhookDelivery, Notification):
            db.session.execute(sa.delete(model.__table__))
        db.session.commit()
        result["first"], first = timed(lambda: alerts.scan(day))
        result["again"], second = timed(lambda: alerts.scan(day))  # the same day: nothing new
        result["write"] = min(raw_write(Notification.__table__, day) for _ in range(3))
        print(f"first sweep: {first['alerts']:,} alerts in window, {first['created']:,} written "
              f"({result['first'] / max(1, first['alerts']) * 1e6:.0f} µs per alert); the same "
              f"sweep again: {result['again']:.2f} s, {second['created']} written; the same "
              f"alerts' raw write {result['write']:.2f} s", flush=True)
        return result


def raw_write(table: Any, day: date) -> float:
    """The least a database does to write a sweep's alerts: the rows the sweep wrote, taken
    out (not timed) and put back in one plain insert by the driver (COPY on PostgreSQL, its
    executemany on SQLite; no conflict clause, no Python per alert), then rolled back. The
    time is of the insert alone; its indexes hold the deleted rows' entries, as the sweep's
    own first run met those of the emptied outbox (no vacuum in between)."""
    import sqlalchemy as sa

    from workflow.persistence.db import db
    from workflow.persistence.driver_many import execute_many
    from workflow.services.alerts.sweep import _OUTBOX_COLUMNS
    written = [r._asdict() for r in db.session.execute(
        sa.select(*(table.c[c] for c in _OUTBOX_COLUMNS))
        .where(table.c.created_on == day)).all()]
    db.session.execute(sa.delete(table).where(table.c.created_on == day))
    db.session.flush()
    start = time.perf_counter()
    execute_many(sa.insert(table), written)
    took = time.perf_counter() - start
    db.session.rollback()
    return took


def bench_verify(app: Any) -> tuple[float, float]:
    """Recomputing every hash chain vs streaming the same rows (every chained table) once."""
    import sqlalchemy as sa

    from workflow.persistence.db import db
    from workflow.services.cases import history_chain
    with app.app_context():
        def floor() -> int:
            return sum(1 for model in history_chain.KINDS.values() for _ in db.session.execute(
                sa.select(model.__table__).execution_options(yield_per=10_000)))

        def verify() -> int:
            checks, _ = history_chain.verify()
            assert all(c.ok for c in checks), "synthetic chains must verify"
            return len(checks)
        return timed(verify)[0], timed(floor)[0]


def bench_pages(app: Any, workers: int, clients: int = 8,
                requests: int = 100) -> dict[str, tuple[float, float]]:
    """p50/p95 of the case list and a case page with `clients` concurrent clients, served by
    the production stack: gunicorn (config/gunicorn.conf.py) with `workers` processes on this
    run's database. The clients run here, on the same machine, and use CPU too. 800 requests
    per row: a p95 of 200 (the earlier rounds) moved by ±20 % between runs."""
    import signal
    import socket
    import subprocess

    import sqlalchemy as sa

    from workflow.persistence.db import db
    from workflow.persistence.models import Case
    from workflow.services import directory
    with app.app_context():
        user = bench_user()
        token = directory.create_token(user.username)
        ids = db.session.execute(sa.select(Case.id).where(Case.branch_id == user.org_id)).scalars().all()
        url = db.engine.url.render_as_string(hide_password=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers),
           "DATABASE_URL": url, "INSTANCE_PATH": app.instance_path}
    log = open(Path(app.instance_path) / "gunicorn.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
                               "wsgi:app"], cwd=root, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/api/v1"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(path: str) -> None:
        req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
        opener.open(req, timeout=30).read()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                opener.open(base + "/health", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start; see gunicorn.log") from None
                time.sleep(0.2)
        results: dict[str, tuple[float, float]] = {}
        for name, path in (("case list", lambda i: "/cases?per_page=20"),
                           ("case page", lambda i: f"/cases/{ids[i % len(ids)]}")):
            for i in range(4 * workers):  # every worker has served one before we measure
                get(path(i))
            samples: list[float] = []

            def client(k: int, path: Callable[[int], str] = path,
                       samples: list[float] = samples) -> None:
                for i in range(requests):
                    start = time.perf_counter()
                    get(path(k * requests + i))
                    samples.append(time.perf_counter() - start)
            threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            samples.sort()
            results[name] = (statistics.median(samples), samples[int(len(samples) * 0.95) - 1])
        return results
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--database-url")
    parser.add_argument("--web-workers", type=int, default=2,
                        help="gunicorn worker processes for the page latency rows")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["record", "replay", "verify", "sweep", "pages"])
    parser.add_argument("--instance", help="keep the instance in this folder; a database that "
                        "already has cases is measured as it is, not seeded again")
    args = parser.parse_args()
    app = build(args.cases, args.database_url, args.instance)
    with app.app_context():
        cases = kept_cases()  # a kept database has its own count, whatever --cases said
    rows = [f"| measurement ({cases:,} cases) | ours | floor | ratio |", "|---|---|---|---|"]

    def row(text: str) -> None:
        rows.append(text)
        print(text, flush=True)
    # first: the recording floor writes raw, unchained rows, which verify rightly reports
    if "verify" not in args.skip:
        verify, stream = bench_verify(app)
        row(f"| verify every hash chain | {verify:.1f} s | {stream:.1f} s streaming the same rows "
            f"| {verify / stream:.1f}× floor |")
    if "replay" not in args.skip:
        r = bench_replay(app)
        stream = min(r["stream"], r["stream_again"])  # the floor at its best: ratios err high
        processes = r["processes"]
        alone = r["replayed_alone"]
        row(f"| score every branch from replayed histories, 1 process | {alone:.1f} s "
            f"| {stream:.1f} s streaming all step rows | {alone / stream:.1f}× floor |")
        if processes > 1:
            row(f"| the same in {processes} report processes | {r['replayed_shared']:.1f} s | "
                f"{stream:.1f} s | {r['replayed_shared'] / stream:.1f}× floor |")
        row(f"| rebuild every case's deadline rows and findings (every row written: the rows "
            f"emptied first) | {r['rebuild_written']:.1f} s | {stream:.1f} s | "
            f"{r['rebuild_written'] / stream:.1f}× floor |")
        row(f"| the same again (nothing differs: no row rewritten) | {r['rebuild']:.1f} s | "
            f"{stream:.1f} s | {r['rebuild'] / stream:.1f}× floor |")
        row(f"| score every branch from kept findings (nothing to replay: 1 process) | "
            f"{r['kept']:.1f} s | {stream:.1f} s | {r['kept'] / stream:.2f}× floor |")
    if "record" not in args.skip:
        record, record_floor, statements = bench_recording(app)
        row(f"| record one step (per step, {statements:.0f} statements) | {record * 1e3:.1f} ms | "
            f"{record_floor * 1e3:.2f} ms raw SQL of the same writes (6 statements) | "
            f"{record_floor / record:.0%} of floor speed |")
    if "sweep" not in args.skip:
        w = bench_sweep(app)
        for name, key in (("alert sweep for a day (first: writes every alert)", "first"),
                          ("the same sweep again (nothing new)", "again")):
            row(f"| {name} | {w[key]:.2f} s | {w['indexed'] * 1e3:.0f} ms indexed due rows "
                f"(ids) / {w['rows'] * 1e3:.0f} ms the due rows' columns, joined / "
                f"{w['full']:.1f} s full scan | {w[key] / w['indexed']:.1f}× indexed, "
                f"{w[key] / w['rows']:.1f}× due rows, {w[key] / w['full']:.2f}× full scan |")
        row(f"| the first sweep against reading its due rows and writing its alerts raw | "
            f"{w['first']:.2f} s | {w['rows'] * 1e3:.0f} ms + {w['write'] * 1e3:.0f} ms "
            f"(one plain insert by the driver) | {w['first'] / (w['rows'] + w['write']):.1f}× |")
    if "pages" not in args.skip:
        for name, (p50, p95) in bench_pages(app, args.web_workers).items():
            row(f"| {name} (API), 8 clients, gunicorn {args.web_workers} workers | "
                f"p50 {p50 * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms | | |")
    print("\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
