"""Signed checkpoints of every case's chain head: anchors for the history outside the database.

The hash chain (history_chain) finds a record edited in place, but someone who can write the
database can delete a case's last records, or the whole case, and move the case's head back:
what is left is still a valid chain. A checkpoint is a file, outside the database, listing every
case's id, branch, chain length and head, signed with HMAC-SHA256 under a key from the
configuration (never the database). `verify` compares the live chains with the latest valid
checkpoint and names each case that is shorter than it was, whose record at the checkpointed
length is no longer the checkpointed one, or that is gone.

File layout (valid JSON, one case a line, so that both writing and reading stream):

    {"checkpoint": {"format": ..., "version": 1, "created_at": "...Z", "fields": [...]},
    "cases": [
    [case_id,branch_id,chain_length,"chain_head"],
    ...
    ],
    "count": N,
    "signature": "<hex HMAC-SHA256 of every byte above this line>"}

The name is the signed creation time (`checkpoint-20250101T063000.123456Z.json`); a file whose
name and signed time differ is rejected, so an old checkpoint cannot be passed off as the latest.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import current_app

from workflow import chain
from workflow.persistence.db import db
from workflow.persistence.models import Case
from workflow.services.cases import history_chain
from workflow.services.directory import access
from workflow.services.errors import Conflict

FORMAT = "dangyuan-chain-checkpoint"
VERSION = 1
FIELDS = ["case_id", "branch_id", "chain_length", "chain_head"]
READ_CHUNK = 5000  # case rows fetched per round trip while writing
NAME = re.compile(r"^checkpoint-(\d{8}T\d{6}\.\d{6}Z)\.json$")
SIGNATURE = re.compile(rb'^"signature": "([0-9a-f]{64})"}\n?$')
TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"


def key() -> bytes:
    """CHECKPOINT_KEY, or SECRET_KEY, under a label of its own (not the history chain's)."""
    secret = current_app.config.get("CHECKPOINT_KEY") or current_app.config["SECRET_KEY"]
    return hmac.new(secret.encode(), b"chain-checkpoint", hashlib.sha256).digest()


def directory() -> Path:
    configured = current_app.config.get("CHECKPOINT_DIR")
    return Path(configured or Path(current_app.config["INSTANCE_PATH"]) / "checkpoints")


def file_name(created_at: datetime) -> str:
    return f"checkpoint-{created_at.strftime(TIME_FORMAT)}.json"


# --- writing ----------------------------------------------------------------------------------

def write(now: datetime | None = None) -> tuple[Path, int]:
    """Write a checkpoint of every case; return its path and how many cases it holds.

    Streams: case rows are fetched `READ_CHUNK` at a time and written as they come, so a
    million cases need no more memory than a few thousand. The file appears under its final
    name only when complete and on disk, and never replaces another."""
    created = (now or datetime.now(UTC)).astimezone(UTC)
    folder = directory()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / file_name(created)
    if final.exists():
        raise Conflict(f"检查点 {final.name} 已存在")
    with tempfile.NamedTemporaryFile("wb", dir=folder, prefix=".checkpoint-", suffix=".tmp",
                                     delete=False) as handle:
        temp = Path(handle.name)
        try:
            count = _write_body(handle, created)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            temp.unlink(missing_ok=True)
            raise
    try:  # a hard link is a rename that refuses to replace: never overwrite a checkpoint
        os.link(temp, final)
    except FileExistsError:
        raise Conflict(f"检查点 {final.name} 已存在") from None
    finally:
        temp.unlink(missing_ok=True)
    _sync_directory(folder)
    return final, count


def _write_body(out: IO[bytes], created: datetime) -> int:
    signer = hmac.new(key(), digestmod=hashlib.sha256)

    def put(text: str) -> None:
        data = text.encode("utf-8")
        signer.update(data)
        out.write(data)

    header = {"format": FORMAT, "version": VERSION,
              "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "fields": FIELDS}
    put('{"checkpoint": ' + json.dumps(header, separators=(",", ":")) + ",\n")
    put('"cases": [\n')
    count = 0
    for row in _case_heads():
        line = json.dumps([row.id, row.branch_id, row.chain_length or 0,
                           row.chain_head or chain.GENESIS], separators=(",", ":"))
        put(("" if count == 0 else ",\n") + line)
        count += 1
    put(("\n" if count else "") + "],\n")
    put(f'"count": {count},\n')
    out.write(f'"signature": "{signer.hexdigest()}"}}\n'.encode("ascii"))
    return count


def _case_heads() -> Iterator[Any]:
    """Every case's id, branch, chain length and head, in id order, a chunk at a time (one
    statement: on PostgreSQL a server-side cursor, so the rows are one consistent snapshot)."""
    query = sa.select(Case.id, Case.branch_id, Case.chain_length, Case.chain_head) \
        .order_by(Case.id)
    # per statement: Connection.execution_options would change the session's connection
    result = db.session.connection().execute(query, execution_options={"yield_per": READ_CHUNK})
    for part in result.partitions():
        yield from part


def _sync_directory(folder: Path) -> None:
    """Make the new name itself durable (POSIX); a platform without directory fds skips it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- reading ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expected:
    case_id: int
    branch_id: int
    length: int
    head: str


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file whose signature, name and layout were checked."""
    path: Path
    created_at: str
    count: int

    @property
    def name(self) -> str:
        return self.path.name

    def entries(self) -> Iterator[Expected]:
        """The checkpointed cases in id order, read from the file a line at a time."""
        with self.path.open("rb") as f:
            for line in f:
                if line.startswith(b"["):
                    case_id, branch_id, length, head = json.loads(line.rstrip().rstrip(b","))
                    yield Expected(case_id, branch_id, length, head)


@dataclass(frozen=True)
class Rejected:
    name: str
    reason: str


class Invalid(Exception):
    pass


def read(path: Path) -> Checkpoint:
    """Check a checkpoint file in one streaming pass; raise Invalid saying why it is not
    trusted (a bad signature first: nothing in an unsigned file is believed)."""
    signer = hmac.new(key(), digestmod=hashlib.sha256)
    header: dict[str, Any] | None = None
    count, last_id, signature, declared = 0, 0, None, None
    problem = None
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if signature is not None:
                raise Invalid("签名行之后还有内容")
            found = SIGNATURE.match(line)
            if found:
                signature = found.group(1).decode("ascii")
                continue
            signer.update(line)
            if problem:
                continue  # keep hashing: a bad signature is the reason given first
            try:
                if number == 1:
                    header = json.loads(line.rstrip().rstrip(b",") + b"}")["checkpoint"]
                elif line.startswith(b"["):
                    case_id = json.loads(line.rstrip().rstrip(b","))[0]
                    if not isinstance(case_id, int) or case_id <= last_id:
                        problem = f"第 {number} 行的案件编号不递增"
                    count, last_id = count + 1, case_id
                elif line.startswith(b'"count": '):
                    declared = int(line[len(b'"count": '):].rstrip().rstrip(b","))
            except (ValueError, KeyError, TypeError, IndexError):
                problem = f"第 {number} 行无法读取"
    if signature is None:
        raise Invalid("没有签名")
    if not hmac.compare_digest(signature, signer.hexdigest()):
        raise Invalid("签名不符（文件被改动，或不是用本系统的密钥签的）")
    if problem or not isinstance(header, dict):
        raise Invalid(problem or "缺少文件头")
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise Invalid("不是本系统的检查点格式")
    if declared != count:
        raise Invalid(f"声明 {declared} 个案件，实有 {count} 个")
    created = str(header.get("created_at", ""))
    try:
        when = datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise Invalid("创建时间无法读取") from None
    if file_name(when) != path.name:
        raise Invalid(f"文件名与签名内的时间 {created} 不符")
    return Checkpoint(path, created, count)


@dataclass
class Latest:
    checkpoint: Checkpoint | None
    rejected: list[Rejected] = field(default_factory=list)  # newer files that failed


def latest() -> Latest:
    """The newest checkpoint that holds, and every newer file that did not (never trusted)."""
    folder = directory()
    names = sorted((p.name for p in folder.iterdir() if NAME.match(p.name)), reverse=True) \
        if folder.is_dir() else []
    found = Latest(None)
    for name in names:
        try:
            found.checkpoint = read(folder / name)
            return found
        except Invalid as exc:
            found.rejected.append(Rejected(name, str(exc)))
        except OSError as exc:
            found.rejected.append(Rejected(name, f"无法读取：{exc.strerror or exc}"))
    return found


# --- comparing --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    case_id: int
    kind: str  # shortened | rewritten | missing
    message: str


class Comparison:
    """Walks the checkpoint alongside `history_chain.verify`'s pass over the cases (both in id
    order), so neither the checkpoint nor the history is held in memory."""

    def __init__(self, checkpoint: Checkpoint, scope: set[int] | None = None) -> None:
        self.checkpoint = checkpoint
        self.scope = scope  # branch ids of `--org`; None: everything
        self.problems: list[Problem] = []
        self.compared = 0
        self._expected = checkpoint.entries()
        self._next = next(self._expected, None)

    def see(self, case_id: int, entries: list[chain.Entry]) -> None:
        while self._next is not None and self._next.case_id < case_id:
            self._missing(self._next)
            self._next = next(self._expected, None)
        if self._next is not None and self._next.case_id == case_id:
            self._compare(self._next, entries)
            self._next = next(self._expected, None)
        # else: the case was opened after the checkpoint; its chain alone is checked

    def finish(self) -> list[Problem]:
        while self._next is not None:
            self._missing(self._next)
            self._next = next(self._expected, None)
        return self.problems

    def _compare(self, expected: Expected, entries: list[chain.Entry]) -> None:
        self.compared += 1
        name = self.checkpoint.name
        if len(entries) < expected.length:
            self.problems.append(Problem(
                expected.case_id, "shortened",
                f"shorter than at checkpoint {name}: {len(entries)} record(s), the checkpoint "
                f"has {expected.length} (records deleted)"))
        elif expected.length and not any(
                e.index == expected.length and e.hash == expected.head for e in entries):
            self.problems.append(Problem(
                expected.case_id, "rewritten",
                f"record {expected.length} is not the one in checkpoint {name} "
                "(history rewritten)"))

    def _missing(self, expected: Expected) -> None:
        if self.scope is not None and expected.branch_id not in self.scope:
            return
        where = "" if self.scope is None else ", or moved out of this organisation"
        self.problems.append(Problem(
            expected.case_id, "missing",
            f"missing: checkpoint {self.checkpoint.name} has it with {expected.length} "
            f"record(s) (case deleted{where})"))


@dataclass
class Report:
    checks: list[history_chain.CaseCheck]
    heads: dict[str, str]
    checkpoint: Checkpoint | None
    rejected: list[Rejected]
    problems: list[Problem]
    compared: int = 0

    @property
    def ok(self) -> bool:
        return not (self.rejected or self.problems or any(not c.ok for c in self.checks))


def verify(org: str | None = None) -> Report:
    """Every chain recomputed (history_chain.verify) and compared with the latest valid
    checkpoint; newer checkpoints that fail their checks are reported, never used."""
    found = latest()
    scope = access.subtree_ids(access.org_by_code(org).id) if org else None
    comparison = Comparison(found.checkpoint, scope) if found.checkpoint else None
    checks, heads = history_chain.verify(org, comparison.see if comparison else None)
    problems = comparison.finish() if comparison else []
    return Report(checks, heads, found.checkpoint, found.rejected, problems,
                  comparison.compared if comparison else 0)
