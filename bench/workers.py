"""Bulk work on 1 and 2 Celery worker processes against the same work done locally.

    .venv/bin/python bench/workers.py --cases 20000 [--database-url URL] [--redis] [--chunk 1000]
        [--workers 1,2] [--skip-local] [--instance DIR] [--what rebuild,verify,report]

Builds a fresh instance with synthetic histories (`seed-synthetic`), then times bulk runs
(services/bulk_runs.py). `rebuild` (every case's deadline rows and findings, every row written:
the rows are emptied, untimed, before each run) and `verify`
(every hash chain): one run done in this process chunk after chunk (what `--local` did before
the local processes), one over 2 local processes (services/bulk_local.py: what `rederive --fix
--local` and `verify --local` do now), then sent as one Celery group to a worker with 1 and
with 2 pool processes (`celery worker --pool=prefork --concurrency=N`), waiting as `flask
rederive --fix` waits. `report`: every branch scored from every replayed history, as the
committee table does after a rule change (`reports.score_everything(replayed=True)`): in this
process without a run, as a `report` run done by 2 local processes, and as the same run on the
workers (a share of about `--chunk` cases per chunk). The broker is the embedded SQLAlchemy one
on a SQLite file, or with --redis a throwaway redis-server. The worker is started and ready
before the clock starts. Prints one row per measurement and the ratio of 1 to 2 workers. Never
run by the test suite; tests do not assert timings.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import build, kept_cases  # noqa: E402  (after the path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Worker:
    def __init__(self, app: Any, broker: str, results: str, concurrency: int,
                 folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.py").write_text(
            "CELERY_BROKER_TRANSPORT_OPTIONS = {'polling_interval': 0.1}\n", encoding="utf-8")
        (folder / "secret_key").write_text("bench-worker-key", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
        env.update(DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
                   INSTANCE_PATH=str(folder), CELERY_BROKER_URL=broker,
                   CELERY_RESULT_BACKEND=results, SECRET_KEY=app.config["SECRET_KEY"])
        self.log = folder / "worker.log"
        self.out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks.worker", "worker",
             "--pool=prefork", f"--concurrency={concurrency}", "--loglevel=info",
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--prefetch-multiplier=1", "-n", f"bench{concurrency}@%h"],
            cwd=ROOT, env=env, stdout=self.out, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 120
        while b" ready." not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.out.close()


def bulk(app: Any, kind: str, chunk: int, send: Any = None,
         processes: int = 1) -> tuple[float, int]:
    """One `rebuild` or `verify` run, in this process (`send` None): chunk after chunk, or
    over `processes` local processes (services/bulk_local.py), or on the workers; seconds,
    chunks."""
    import sqlalchemy as sa

    from workflow.persistence.db import db
    from workflow.persistence.models import DeadlineRow
    from workflow.services import bulk_local, bulk_runs, bulk_verify
    from workflow.services.alerts import deadline_rows  # noqa: F401  (registers the kind)
    with app.app_context():
        app.config.update(BULK_WORKER_WAIT=600.0,  # never fall back to this process here
                          BULK_CHUNK_CASES=chunk, REPORT_PROCESSES=processes,
                          REPORT_PARALLEL_MIN_CASES=1)
        if kind == "rebuild":  # a rebuild rewrites only the rows that differ: time them all
            db.session.execute(sa.delete(DeadlineRow))
            db.session.commit()
        run_id = (bulk_runs.plan("rebuild", {"today": None}, size=chunk) if kind == "rebuild"
                  else bulk_verify.plan_verify(None))
        local = bulk_local.executor() if processes > 1 else None
        start = time.perf_counter()
        bulk_runs.execute(run_id, send=send, local=local)
        seconds = time.perf_counter() - start
        status = bulk_runs.status(run_id)
        assert status.finished_at is not None and status.done == status.chunks, status
        return seconds, status.chunks


def report(app: Any, processes: int = 1, send: Any = None) -> float:
    """Every branch scored from replayed histories: in this process (`processes` 1, no
    `send`), in local report processes, or on the workers; seconds."""
    from workflow.services import bulk_runs, clock, reports
    with app.app_context():
        app.config.update(BULK_WORKER_WAIT=600.0, REPORT_PROCESSES=processes,
                          REPORT_PARALLEL_MIN_CASES=1 if processes > 1 or send else 10**12,
                          BULK_LOCAL=send is None)
        with bulk_runs.using(send):
            start = time.perf_counter()
            branches = reports.score_everything(clock.today(), replayed=True)
            seconds = time.perf_counter() - start
        assert branches > 0
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--database-url")
    parser.add_argument("--redis", action="store_true", help="a redis-server as broker")
    parser.add_argument("--chunk", type=int, default=1000, help="cases per chunk")
    parser.add_argument("--workers", default="1,2",
                        help="pool sizes to measure (empty: no workers)")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--what", default="rebuild,report",
                        help="any of rebuild, verify, report (comma-separated)")
    parser.add_argument("--instance", help="keep the instance in this folder; a database that "
                        "already has cases is measured as it is, not seeded again")
    args = parser.parse_args()
    instance = Path(args.instance or tempfile.mkdtemp(prefix="bench-workers-"))
    instance.mkdir(parents=True, exist_ok=True)
    app = build(args.cases, args.database_url, str(instance))
    redis = None
    try:
        if args.redis:
            if shutil.which("redis-server") is None:
                raise SystemExit("redis-server is not installed")
            port = free_port()
            redis = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(instance)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            time.sleep(0.5)
            broker, results = f"redis://127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/1"
        else:
            broker = f"sqla+sqlite:///{instance / 'broker.db'}"
            results = f"db+sqlite:///{instance / 'results.db'}"
        database = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
        with app.app_context():
            cases = kept_cases()  # a kept database has its own count, whatever --cases said
        print(f"{cases:,} cases, {database}, broker {broker.split(':')[0]}, "
              f"chunks of {args.chunk}", flush=True)
        what = set(args.what.split(","))
        app.config["BULK_CHUNK_CASES"] = args.chunk
        rows: list[tuple[str, float]] = []

        def measure(name: str, seconds: float) -> None:
            print(f"{name}: {seconds:.1f} s", flush=True)
            rows.append((name, seconds))
        if not args.skip_local:
            for kind in ("rebuild", "verify"):
                if kind in what:
                    measure(f"{kind}, in this process, chunk after chunk",
                            bulk(app, kind, args.chunk)[0])
                    measure(f"{kind}, 2 local processes", bulk(app, kind, args.chunk,
                                                               processes=2)[0])
            if "report" in what:
                measure("report, in this process", report(app))
                measure("report, 2 local report processes", report(app, 2))
        app.config.update(CELERY_BROKER_URL=broker, CELERY_RESULT_BACKEND=results,
                          CELERY_BROKER_TRANSPORT_OPTIONS={"polling_interval": 0.1},
                          BULK_LOCAL=False)
        from tasks.bulk import sender
        with app.app_context():
            send = sender(app)
        measured: dict[tuple[str, int], float] = {}
        for n in [int(x) for x in args.workers.split(",") if x.strip()]:
            worker = Worker(app, broker, results, n, instance / f"worker{n}")
            try:
                for kind in ("rebuild", "verify"):
                    if kind in what:
                        measured[kind, n] = bulk(app, kind, args.chunk, send)[0]
                        measure(f"{kind}, {n} worker process(es)", measured[kind, n])
                if "report" in what:
                    measured["report", n] = report(app, 1, send)
                    measure(f"report, {n} worker process(es)", measured["report", n])
            finally:
                worker.stop()
        print("\n| measurement | seconds |\n|---|---|")
        for name, seconds in rows:
            print(f"| {name} | {seconds:.1f} |")
        for kind in ("rebuild", "verify", "report"):
            if (kind, 1) in measured and (kind, 2) in measured:
                print(f"\n{kind}: 1 → 2 workers: "
                      f"{measured[kind, 1] / measured[kind, 2]:.2f}× faster")
    finally:
        if redis is not None:
            os.killpg(redis.pid, 9)
            redis.wait()


if __name__ == "__main__":
    main()
