"""What every page module shares: Babel and CSRF, the page language, the error page of a
service error, and the personal-data access log of a page request."""
from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from flask import Response, render_template, request, send_file, session
from flask_babel import Babel
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect

from workflow.citations import Article, article_text
from workflow.messages import Message
from workflow.services.errors import ServiceError

babel = Babel()
csrf = CSRFProtect()
LANGUAGES = ("zh", "en")


def locale() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else "zh"


def tr(text: Any) -> Any:
    """A label the system made in Chinese (a stage, a sub-state, a document type, a choice),
    in the page's language: looked up in the catalogue, which holds every label
    (workflow/web/label_messages.py); parts joined by " · " are looked up one by one, and a
    service's `Message` by its template, its values put in after."""
    if locale() != "en" or not isinstance(text, str) or not text:
        return text
    from flask_babel import gettext
    if isinstance(text, Article):
        return article_text(text.article, "en")
    if isinstance(text, Message):
        values = {k: " ".join(tr(p) for p in v) if isinstance(v, tuple) else tr(v)
                  for k, v in text.params.items()}
        try:
            return gettext(text.template) % values if text.params else gettext(text.template)
        except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder
            return str(text)
    return " · ".join(gettext(part) if part else part for part in text.split(" · "))


def typed_year(typed: str | None, low: int, high: int, shown: int) -> str | None:
    """A year typed into a page's year box, or None with the reason flashed in the page's
    language when it is not one between `low` and `high` (a typo: "20266"): the page then shows
    the year `shown` instead of an error page."""
    if typed is None or (typed.isascii() and typed.isdigit() and len(typed) == 4
                         and low <= int(typed) <= high):
        return typed
    from flask import flash
    from flask_babel import gettext
    flash(gettext("年度必须是 %(low)d–%(high)d 之间的年份，已显示 %(year)d 年", low=low, high=high,
                  year=shown), "error")
    return None


def audit_detail(detail: str | None) -> str | None:
    """An access log entry's detail, stored in Chinese as written, in the page's language: its
    fixed words (services.directory.audit.DETAIL_PHRASES, alone or as `key=word`) through the
    catalogue, a filter's key by its word (DETAIL_KEYS; "overdue=True" as the word alone), a
    step or stage id by its name; data (codes, years, ids, file names) as it is."""
    if not detail:
        return detail
    from workflow.services.directory.audit import DETAIL_KEYS, DETAIL_PHRASES
    from workflow.services.interchange.sheet_columns import STAGE_LABELS
    from workflow.steps import STEPS

    def word(token: str) -> str:
        key, eq, value = token.rpartition("=")
        named = STEPS[value].zh if value in STEPS else STAGE_LABELS.get(value)
        if named is not None or value in DETAIL_PHRASES:
            value = tr(named or value)
        if not eq:
            return value
        said = tr(DETAIL_KEYS.get(key, key))
        return said if value == "True" else f"{said}={value}"
    return " ".join(word(t) for t in detail.split(" "))


def error_text(exc: ServiceError, with_fields: bool = False,
               labels: dict[str, str] | None = None) -> str:
    """A service error's message (and, `with_fields`, its field reasons, each after its field's
    name in `labels`, the form's own words) in the page's language: the services word their
    errors in Chinese (the API's messages); the fixed ones and every `Message` have an English
    text in the catalogue (scripts/label_messages.py)."""
    text = tr(exc.message)
    if with_fields:
        en = locale() == "en"
        labels = labels or {}
        reasons = [(f"{tr(labels[k])}{': ' if en else '：'}" if k in labels else "") + tr(v)
                   for k, v in exc.extra.get("fields", {}).items() if v != exc.message]
        text += "".join(f" ({r})" if en else f"（{r}）" for r in reasons)
    return text


def violation_text(v: dict[str, Any]) -> str:
    """A procedure violation of a refused step (ProcedureViolation's `violations`): its rule's
    statement in the page's language."""
    from workflow.rules import REGISTRY
    rule = REGISTRY.get(v.get("rule", ""))
    return rule.message(locale()) if rule is not None else tr(v.get("message", ""))


def refused_page(render: Callable[[dict[str, Any]], str], typed: dict[str, Any]) -> str:
    """A page again after its form was refused: `render(typed)` shows the reason
    (`typed["refusal"]`) at the top of the refused form, with what was typed. When that form is
    not on the page (a plan set meanwhile shows its adjust form instead), the reason goes to
    the top of the page."""
    page = render(typed)
    if " data-refusal>" in page:  # the marker as only markup has it (text escapes ">")
        return page
    # base.html shows it with the flashes (flash() itself would come too late: the first
    # rendering took this request's flashes already)
    return render({**{k: v for k, v in typed.items() if k != "refusal"},
                   "page_refusal": typed["refusal"]})


def service_error_page(exc: ServiceError) -> Any:
    status = 404 if exc.status == 404 else exc.status
    return render_template("error.html", code=status, message=error_text(exc)), status


def audited(action: str, *, case_id: int | None = None, subjects: int = 1,
            detail: str | None = None, actor: Any = None) -> None:
    """Log that this page request disclosed personal data (services.directory.audit): called after the
    service read succeeded and before the page or file goes out; a failure fails the request."""
    from workflow.services.directory import audit
    audit.record(actor or current_user, action, case_id=case_id, subjects=subjects,
                 channel="web", remote=request.remote_addr, detail=detail)


REPORT_FORMATS = ("xlsx", "pdf")


def check_format(fmt: str) -> None:
    """A report file is Excel or PDF; anything else is a bad request (before it is logged)."""
    from workflow.services.errors import BadRequest
    if fmt not in REPORT_FORMATS:
        raise BadRequest("文件格式只能是 xlsx 或 pdf")


def report_download(report: Any, fmt: str, name: str) -> Response:
    """A report (services/reports/files.Report) as an Excel or PDF attachment, never cached."""
    from workflow.services.reports import files
    check_format(fmt)
    data, mimetype = files.render(report, fmt)
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=f"{name}.{fmt}", max_age=0)
