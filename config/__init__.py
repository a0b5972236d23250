"""Settings, read from environment variables here and nowhere else.

Embedded defaults make a first run need nothing: SQLite and the Celery broker live under
`instance/`, and the SECRET_KEY is generated once and kept there.
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent


def instance_path() -> Path:
    return Path(os.environ.get("INSTANCE_PATH") or ROOT / "instance")


def _secret_key(instance: Path) -> str:
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


# Celery, read by tasks/ with namespace CELERY_ (CELERY_BROKER_URL -> broker_url). Schedules are
# cron strings or seconds so that loading the config does not import Celery (~0.25 s).
SWEEP_CRON = "30 6 * * *"  # daily deadline sweep, in CELERY_TIMEZONE (default: TIMEZONE)
DEFAULT_TIMEZONE = "Asia/Shanghai"


def _flag(value: str) -> bool:
    """An on/off environment variable: 1, true or yes (any case) is on."""
    return value.strip().lower() in ("1", "true", "yes")


def _zone_name(name: str) -> str:
    """A time zone the system knows (IANA name), or a start that says which one it does not."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuntimeError(f"TIMEZONE {name!r} is not a known time zone (e.g. Asia/Shanghai)") \
            from None
    return name
BROKER_CLEANUP_SECONDS = 3600.0


DEADLINE_REBUILD_SECONDS = 300  # how soon a rule-setting or holiday change reaches the rows
BULK_RESUME_SECONDS = 300  # tasks.bulk_resume: re-send stalled chunks of bulk runs
CHECKPOINT_CRON = "15 2 * * *"  # daily signed checkpoint of every case's chain head


def beat_schedule(sweep_cron: str) -> dict[str, dict[str, Any]]:
    return {
        "deadline-sweep": {"task": "tasks.sweep", "schedule": sweep_cron},
        "broker-cleanup": {"task": "tasks.cleanup_broker", "schedule": BROKER_CLEANUP_SECONDS},
        "stale-deadlines": {"task": "tasks.rebuild_stale_deadlines",
                            "schedule": DEADLINE_REBUILD_SECONDS},
        "chain-checkpoint": {"task": "tasks.checkpoint", "schedule": CHECKPOINT_CRON},
        # chunks of bulk runs whose worker died: the embedded broker never redelivers them
        "bulk-resume": {"task": "tasks.bulk_resume", "schedule": BULK_RESUME_SECONDS},
    }


class Config:
    TESTING = False
    DEBUG = False
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    JSON_AS_ASCII = False
    MAX_CONTENT_LENGTH = 20 * 1024 * 1024
    # file suffixes taken for documents; the content must be of that kind too (services.cases.
    # documents.sniff knows PDF, JPEG, PNG, OFD, DOCX and XLSX)
    UPLOAD_ALLOWED = (".pdf", ".jpg", ".jpeg", ".png", ".ofd", ".docx", ".xlsx")
    BABEL_DEFAULT_LOCALE = "zh"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=2)  # session timeout for the pages
    # The embedded SQLAlchemy broker polls; kombu reads this option (tasks/broker.py makes the
    # transport accept it). Redis ignores it.
    CELERY_BROKER_TRANSPORT_OPTIONS: ClassVar[dict[str, Any]] = {"polling_interval": 1.0}
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    CELERY_TASK_IGNORE_RESULT = True  # tasks that report back (the sweep) opt in
    CELERY_RESULT_EXPIRES = 24 * 3600
    # Alert delivery: exponential backoff (base * 2**retry seconds, capped), then the row waits
    # for the next sweep; a pause between cases spreads a large sweep's writes (tests use it to
    # stop a worker mid-sweep).
    ALERT_DELIVERY_BACKOFF = 60.0
    ALERT_DELIVERY_BACKOFF_MAX = 3600.0
    ALERT_DELIVERY_MAX_RETRIES = 8
    ALERT_DELIVERY_LEASE_SECONDS = 600
    ALERT_SWEEP_PAUSE = 0.0
    ALERT_SWEEP_CHUNK = 200  # cases per multi-row insert and commit in the sweep
    # Group robots (workflow/notifications/webhooks.py): only WeCom's and DingTalk's own hosts
    # over https; the tests' local robot needs any http(s) URL, and only they turn it on.
    WEBHOOK_ALLOW_ANY_HOST = False

    def __init__(self, instance: Path | None = None) -> None:
        instance = instance or instance_path()
        env = os.environ
        self.INSTANCE_PATH = str(instance)
        self.SQLALCHEMY_DATABASE_URI = env.get("DATABASE_URL") or f"sqlite:///{instance / 'dangyuan.db'}"
        self.SECRET_KEY = env.get("SECRET_KEY") or _secret_key(instance)
        self.UPLOAD_DIR = env.get("UPLOAD_DIR") or str(instance / "uploads")
        # signed checkpoints of the hash chains (workflow/services/cases/checkpoints.py): the
        # key is never in the database; unset, one is derived from SECRET_KEY under its own
        # label. Keep a copy of the directory off the database host.
        self.CHECKPOINT_DIR = env.get("CHECKPOINT_DIR") or str(instance / "checkpoints")
        self.CHECKPOINT_KEY = env.get("CHECKPOINT_KEY") or None
        self.CELERY_BROKER_URL = env.get("CELERY_BROKER_URL") or \
            f"sqla+sqlite:///{instance / 'celery-broker.db'}"
        self.CELERY_RESULT_BACKEND = env.get("CELERY_RESULT_BACKEND") or \
            f"db+sqlite:///{instance / 'celery-results.db'}"
        self.CELERY_BEAT_SCHEDULE_FILENAME = str(instance / "celerybeat-schedule")
        # the organisation's day: today, due dates, alert windows and displayed times
        self.TIMEZONE = _zone_name(env.get("TIMEZONE") or DEFAULT_TIMEZONE)
        self.CELERY_TIMEZONE = env.get("CELERY_TIMEZONE") or self.TIMEZONE
        self.CELERY_BEAT_SCHEDULE = beat_schedule(env.get("ALERT_SWEEP_CRON") or SWEEP_CRON)
        for key in ("MAIL_SERVER", "MAIL_PORT", "MAIL_USERNAME", "MAIL_PASSWORD",
                    "MAIL_DEFAULT_SENDER"):
            setattr(self, key, env.get(key))
        # the address people open the pages at (https://dangyuan.example.org): alerts sent to
        # group chats link to the case with it; unset, they name the case number only
        self.PUBLIC_BASE_URL = env.get("PUBLIC_BASE_URL") or None
        if env.get("ALERT_SWEEP_CHUNK"):
            self.ALERT_SWEEP_CHUNK = max(1, int(env["ALERT_SWEEP_CHUNK"]))
        # cases per chunk of bulk work (services/bulk_runs.py: one Celery task each)
        if env.get("BULK_CHUNK_CASES"):
            self.BULK_CHUNK_CASES = max(1, int(env["BULK_CHUNK_CASES"]))
        # 1: bulk runs and large reports are done by the process that asks (and its report
        # processes), never sent to the workers; seconds a caller waits for a worker to take a
        # chunk before it does the run itself
        if env.get("BULK_LOCAL"):
            self.BULK_LOCAL = _flag(env["BULK_LOCAL"])
        if env.get("BULK_WORKER_WAIT"):
            self.BULK_WORKER_WAIT = max(0.0, float(env["BULK_WORKER_WAIT"]))
        # the local processes that do a report's run, or a command line's run, without workers
        # (default one per core; services/bulk_local.py), and the number of cases (to replay)
        # from which a report is a run and a local run uses them
        self.REPORT_PROCESSES = int(env.get("REPORT_PROCESSES") or os.cpu_count() or 1)
        self.REPORT_PARALLEL_MIN_CASES = int(env.get("REPORT_PARALLEL_MIN_CASES") or 20_000)
        # whether a large report's run goes to the workers; unset: not on the embedded broker,
        # whose one solo worker made the table slower than the page alone, while the local
        # processes made it faster (docs/performance.md, ninth round; services/reports/fanout)
        if env.get("REPORT_ON_WORKERS"):
            self.REPORT_ON_WORKERS = _flag(env["REPORT_ON_WORKERS"])
        # whether the command line's runs (`rederive --fix`, `verify`, `bulk resume`) go to the
        # workers when neither --local nor --workers is given; unset: not on the embedded
        # broker, whose one solo worker rebuilt more slowly than the local processes
        # (docs/performance.md, sixteenth round)
        if env.get("BULK_ON_WORKERS"):
            self.BULK_ON_WORKERS = _flag(env["BULK_ON_WORKERS"])
        # proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (0: none)
        self.TRUSTED_PROXIES = int(env.get("TRUSTED_PROXIES") or 0)
        # days a new API token is valid (services/directory/users.py: create_token)
        self.API_TOKEN_DAYS = max(1, int(env.get("API_TOKEN_DAYS") or 180))
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URI", "memory://")
        if "TODAY" in env:  # demo and tests: pin "today" for reproducible deadlines
            self.TODAY = env["TODAY"]


class DevelopmentConfig(Config):
    DEBUG = False


class TestingConfig(Config):
    TESTING = True
    RATELIMIT_ENABLED = False  # tests log in many times a minute; test_security enables it
    WEBHOOK_ALLOW_ANY_HOST = True  # the tests' robot listens on 127.0.0.1


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True

    def __init__(self, instance: Path | None = None) -> None:
        if not os.environ.get("SECRET_KEY"):
            raise RuntimeError("production needs SECRET_KEY set in the environment")
        if os.environ.get("FLASK_DEBUG") in ("1", "true"):
            raise RuntimeError("production refuses to run with debug mode on")
        super().__init__(instance)


def load(name: str | None = None) -> Config:
    name = name or os.environ.get("APP_ENV", "development")
    classes = {"development": DevelopmentConfig, "testing": TestingConfig,
               "production": ProductionConfig}
    if name not in classes:
        raise RuntimeError(f"APP_ENV must be one of {sorted(classes)}, not {name!r}")
    return classes[name]()
