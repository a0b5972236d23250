"""Settings, read from environment variables here and nowhere else.

Embedded defaults make a first run need nothing: SQLite and the Celery broker live under
`instance/`, and the SECRET_KEY is generated once and kept there.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

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


class Config:
    TESTING = False
    DEBUG = False
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    JSON_AS_ASCII = False
    MAX_CONTENT_LENGTH = 20 * 1024 * 1024
    UPLOAD_ALLOWED = (".pdf", ".jpg", ".jpeg", ".png", ".doc", ".docx", ".xls", ".xlsx", ".txt")
    BABEL_DEFAULT_LOCALE = "zh"

    def __init__(self, instance: Path | None = None) -> None:
        instance = instance or instance_path()
        env = os.environ
        self.INSTANCE_PATH = str(instance)
        self.SQLALCHEMY_DATABASE_URI = env.get("DATABASE_URL") or f"sqlite:///{instance / 'dangyuan.db'}"
        self.SECRET_KEY = env.get("SECRET_KEY") or _secret_key(instance)
        self.UPLOAD_DIR = env.get("UPLOAD_DIR") or str(instance / "uploads")
        self.CELERY_BROKER_URL = env.get("CELERY_BROKER_URL") or \
            f"sqla+sqlite:///{instance / 'celery-broker.db'}"
        self.CELERY_RESULT_BACKEND = env.get("CELERY_RESULT_BACKEND") or \
            f"db+sqlite:///{instance / 'celery-results.db'}"
        for key in ("MAIL_SERVER", "MAIL_PORT", "MAIL_USERNAME", "MAIL_PASSWORD",
                    "MAIL_DEFAULT_SENDER"):
            setattr(self, key, env.get(key))
        if "TODAY" in env:  # demo and tests: pin "today" for reproducible deadlines
            self.TODAY = env["TODAY"]


class DevelopmentConfig(Config):
    DEBUG = False


class TestingConfig(Config):
    TESTING = True


class ProductionConfig(Config):
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
