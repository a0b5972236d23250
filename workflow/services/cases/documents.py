"""Documents (手续): an uploaded file or a paper original marked "on file" for one step."""
from __future__ import annotations

import hashlib
import io
import re
import secrets
import zipfile
from pathlib import Path
from typing import IO, Any

import filetype
from flask import current_app

from workflow.persistence.db import db
from workflow.persistence.models import Case, Document, StepRecordRow, User, utcnow
from workflow.services.alerts import deadline_rows
from workflow.services.cases import views
from workflow.services.clock import today
from workflow.services.directory import access
from workflow.services.errors import BadRequest, Invalid, NotFound, TooLarge
from workflow.steps import (
    DOCUMENT_LABELS,
    FILENAME_MAX,
    STEPS,
    TEXT_MAX,
    is_id,
    text_problem,
    visible,
)

_SURROGATE = re.compile("[\ud800-\udfff]")


def _target(actor: User, case_id: int, step_record_id: Any, doc_type: Any) -> StepRecordRow:
    access.require_writer(actor)
    case = access.visible_case(actor, case_id)
    try:
        record_id = int(step_record_id)
    except (TypeError, ValueError):
        raise Invalid("步骤编号不正确", {"step_record_id": "必须是整数"}) from None
    if not is_id(record_id):
        raise Invalid("步骤编号不正确", {"step_record_id": "不是有效的编号"})
    row = db.session.get(StepRecordRow, record_id)
    if row is None or row.case_id != case.id:
        raise Invalid("步骤记录不属于该案件", {"step_record_id": "不是该案件的步骤记录"})
    if doc_type not in STEPS[row.step].documents:
        listed = "、".join(f"{d}（{DOCUMENT_LABELS[d]}）" for d in STEPS[row.step].documents)
        raise Invalid("该步骤不需要这种材料", {"doc_type": f"应为：{listed or '（该步骤无需材料）'}"})
    return row


ON_FILE_FIELDS = ("doc_type", "step_record_id", "on_file", "reference")


def mark_on_file(actor: User, case_id: int, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("请求体必须是对象")
    unknown = {k: "未知字段" for k in sorted(set(body) - set(ON_FILE_FIELDS))}
    if unknown:
        raise Invalid("材料信息不正确", unknown)
    row = _target(actor, case_id, body.get("step_record_id"), body.get("doc_type"))
    reference = body.get("reference")
    if body.get("on_file") is not True or not isinstance(reference, str) or not reference.strip():
        raise Invalid("纸质材料须注明存放位置", {"reference": "必填，例如：档案柜 A-3 第 12 卷"})
    problem = text_problem(reference, TEXT_MAX)
    if problem:
        raise Invalid("存放位置不正确", {"reference": problem})
    doc = Document(case_id=row.case_id, step_record_id=row.id, doc_type=body["doc_type"],
                   on_file=True, reference=reference.strip(), attached_on=today(),
                   attached_by_id=actor.id)
    _append(doc)
    return views.document(doc)


def upload(actor: User, case_id: int, step_record_id: Any, doc_type: Any, filename: str,
           stream: IO[bytes], content_type: str | None = None) -> dict[str, Any]:
    """Store an uploaded file for a step. What it is comes from its content, not from the
    client's name or content type (`sniff`); the stored media type is the sniffed one."""
    row = _target(actor, case_id, step_record_id, doc_type)
    name = clean_filename(filename)
    suffix = Path(name).suffix.lower()
    allowed = [s for s in current_app.config["UPLOAD_ALLOWED"] if s in SUFFIXES]
    if suffix not in allowed:
        raise Invalid("不支持的文件类型", {"file": "允许：" + " ".join(allowed)})
    content = stream.read(current_app.config["MAX_CONTENT_LENGTH"] + 1)
    if len(content) > current_app.config["MAX_CONTENT_LENGTH"]:
        raise TooLarge("文件超过大小限制")
    if not content:
        raise Invalid("文件为空", {"file": "文件为空"})
    media_type = sniff(content)
    if media_type is None:
        raise Invalid("文件内容不是允许的类型", {
            "file": "文件内容不是 PDF、JPEG、PNG、OFD、Word（.docx）或 Excel（.xlsx）文件"})
    if suffix not in KINDS[media_type]:
        raise Invalid("文件内容与扩展名不符", {
            "file": f"文件内容是 {KIND_LABELS[media_type]}，扩展名应为 "
                    + " / ".join(KINDS[media_type])})
    stored = secrets.token_hex(16) + suffix
    folder = Path(current_app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / stored).write_bytes(content)
    doc = Document(case_id=row.case_id, step_record_id=row.id, doc_type=doc_type, on_file=False,
                   filename=name, stored_name=stored, content_type=media_type,
                   size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                   attached_on=today(), attached_by_id=actor.id)
    _append(doc)
    return views.document(doc)


# What may be uploaded, by the media type its content shows, with the suffixes its name may
# have. OFD (GB/T 33190, China's fixed-layout format) and Office files are zip archives;
# their structure inside decides.
PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
OFD = "application/ofd"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KINDS: dict[str, tuple[str, ...]] = {PDF: (".pdf",), JPEG: (".jpg", ".jpeg"), PNG: (".png",),
                                     OFD: (".ofd",), DOCX: (".docx",), XLSX: (".xlsx",)}
SUFFIXES = {suffix for suffixes in KINDS.values() for suffix in suffixes}
KIND_LABELS = {PDF: "PDF", JPEG: "JPEG 图片", PNG: "PNG 图片", OFD: "OFD", DOCX: "Word（.docx）",
               XLSX: "Excel（.xlsx）"}
_ZIP_TYPES = {"application/zip", DOCX, XLSX}


def sniff(content: bytes) -> str | None:
    """The media type of an acceptable file by its content, or None: the leading bytes
    (`filetype`) for PDF, JPEG and PNG; for a zip, its member names (the Office package's
    `[Content_Types].xml` with `word/document.xml` or `xl/workbook.xml`; OFD's `OFD.xml`).
    An HTML page, a script or a program named `.pdf` is none of them."""
    kind = filetype.guess(content[:8192])
    mime = kind.mime if kind else None
    if mime in (PDF, JPEG, PNG):
        return mime
    if mime not in _ZIP_TYPES:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())  # the central directory only: nothing is unpacked
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "OFD.xml" in names:
        return OFD
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
    return None


_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_filename(filename: Any) -> str:
    """The name to show for an upload: its last path part (either separator), control
    characters out, trimmed; refused when nothing visible is left or it is longer than
    FILENAME_MAX (a name is shown and offered back on download, never used as a path)."""
    raw = filename if isinstance(filename, str) else ""
    if "\x00" in raw:
        raise Invalid("文件名不正确", {"file": "文件名不能包含 NUL 字符"})
    name = _UNSAFE_IN_NAME.sub("", raw.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if _SURROGATE.search(name) or not visible(name) or name in (".", ".."):
        raise Invalid("文件名不正确", {"file": "缺少有效的文件名"})
    if len(name) > FILENAME_MAX:
        raise Invalid("文件名太长", {"file": f"文件名不能超过 {FILENAME_MAX} 个字符"})
    return name


def _append(doc: Document) -> None:
    """Store and chain a document reference in one transaction; a concurrent append conflicts."""
    from sqlalchemy import exc as sa_exc

    from workflow.services.cases import history_chain
    from workflow.services.errors import Conflict
    doc.attached_at = doc.attached_at or utcnow().replace(microsecond=0)
    try:
        db.session.add(doc)
        db.session.flush()
        history_chain.append(doc.case_id, "document", doc)
        deadline_rows.refresh_deadlines(db.session.get(Case, doc.case_id))  # its paperwork changed
        db.session.commit()
    except sa_exc.IntegrityError as exc:
        db.session.rollback()
        raise Conflict("案件正在被他人修改，请刷新后重试") from exc


def stored_file(actor: User, case_id: int, document_id: int) -> tuple[Document, Path, str]:
    """An uploaded file of a case in the actor's scope, for download: the row, its path and
    the media type to send (the sniffed one; a file stored before sniffing existed goes out
    as plain bytes). Anything else, another case's document included, is "not found"."""
    case = access.visible_case(actor, case_id)
    doc = db.session.get(Document, document_id) if is_id(document_id) else None
    if doc is None or doc.case_id != case.id or doc.on_file or not doc.stored_name:
        raise NotFound(f"材料 {document_id} 不存在")
    folder = Path(current_app.config["UPLOAD_DIR"])
    path = folder / Path(doc.stored_name).name  # the name is ours, but never a path
    if not path.is_file():
        raise NotFound(f"材料 {document_id} 的文件不存在")
    media_type = doc.content_type if doc.content_type in KINDS else "application/octet-stream"
    return doc, path, media_type
