"""Consistent online backups and restores: SQLite's backup API, or pg_dump / pg_restore."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from workflow.persistence.db import db
from workflow.services.errors import Invalid


def _sqlite_path() -> str:
    database = make_url(str(db.engine.url)).database
    if not database:
        raise Invalid("内存数据库无法备份")
    return database


def _pg_args() -> tuple[list[str], dict[str, str]]:
    url = make_url(str(db.engine.url))
    args = ["-h", url.host or "localhost", "-p", str(url.port or 5432), "-U", url.username or "postgres",
            "-d", url.database or ""]
    return args, {"PGPASSWORD": url.password or ""}


def _tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if not found:
        raise Invalid(f"找不到 {name}，请安装 PostgreSQL 客户端")
    return str(found)


def backup(target: str) -> str:
    """Copy the live database to `target` without stopping writers."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    if db.engine.dialect.name == "sqlite":
        source = sqlite3.connect(_sqlite_path())
        dest = sqlite3.connect(target)
        with dest:
            source.backup(dest)
        source.close()
        dest.close()
    else:
        args, env = _pg_args()
        subprocess.run([_tool("pg_dump"), "-Fc", "-f", target, *args], check=True,
                       env={**_environ(), **env}, capture_output=True)
    return target


def restore(source: str) -> None:
    """Replace the database's contents with a backup taken by `backup`."""
    if not Path(source).exists():
        raise Invalid(f"备份文件 {source} 不存在")
    db.session.remove()
    db.engine.dispose()
    if db.engine.dialect.name == "sqlite":
        src = sqlite3.connect(source)
        dest = sqlite3.connect(_sqlite_path())
        with dest:
            src.backup(dest)
        src.close()
        dest.close()
    else:
        args, env = _pg_args()
        subprocess.run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", *args, source],
                       check=True, env={**_environ(), **env}, capture_output=True)
    from workflow.persistence import reference
    reference.renew()  # the rows changed without the triggers: kept reference data is void


def _environ() -> dict[str, str]:
    import os
    return dict(os.environ)
