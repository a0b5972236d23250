"""Documents (手续): an uploaded file or a paper original marked "on file" for one step."""
from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import IO, Any

from flask import current_app

from workflow.persistence.db import db
from workflow.persistence.models import Case, Document, StepRecordRow, User, utcnow
from workflow.services.alerts import deadline_rows
from workflow.services.cases import views
from workflow.services.clock import today
from workflow.services.directory import access
from workflow.services.errors import BadRequest, Invalid, TooLarge
from workflow.steps import DOCUMENT_LABELS, STEPS, is_id


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


def mark_on_file(actor: User, case_id: int, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("请求体必须是对象")
    row = _target(actor, case_id, body.get("step_record_id"), body.get("doc_type"))
    reference = body.get("reference")
    if body.get("on_file") is not True or not isinstance(reference, str) or not reference.strip():
        raise Invalid("纸质材料须注明存放位置", {"reference": "必填，例如：档案柜 A-3 第 12 卷"})
    doc = Document(case_id=row.case_id, step_record_id=row.id, doc_type=body["doc_type"],
                   on_file=True, reference=reference.strip(), attached_on=today(),
                   attached_by_id=actor.id)
    _append(doc)
    return views.document(doc)


def upload(actor: User, case_id: int, step_record_id: Any, doc_type: Any, filename: str,
           stream: IO[bytes], content_type: str | None) -> dict[str, Any]:
    row = _target(actor, case_id, step_record_id, doc_type)
    suffix = Path(filename or "").suffix.lower()
    if suffix not in current_app.config["UPLOAD_ALLOWED"]:
        raise Invalid("不支持的文件类型", {"file": "允许：" + " ".join(current_app.config["UPLOAD_ALLOWED"])})
    content = stream.read(current_app.config["MAX_CONTENT_LENGTH"] + 1)
    if len(content) > current_app.config["MAX_CONTENT_LENGTH"]:
        raise TooLarge("文件超过大小限制")
    if not content:
        raise Invalid("文件为空", {"file": "文件为空"})
    stored = secrets.token_hex(16) + suffix
    folder = Path(current_app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / stored).write_bytes(content)
    doc = Document(case_id=row.case_id, step_record_id=row.id, doc_type=doc_type, on_file=False,
                   filename=os.path.basename(filename), stored_name=stored,
                   content_type=content_type, size=len(content),
                   sha256=hashlib.sha256(content).hexdigest(), attached_on=today(),
                   attached_by_id=actor.id)
    _append(doc)
    return views.document(doc)


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
