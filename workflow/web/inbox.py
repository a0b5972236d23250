"""The inbox: the alerts addressed to the user's organisation (and those escalated to it),
newest first, read and cleared per user; the bell on every page counts the same rows."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from workflow.deadlines import label as deadline_label
from workflow.notifications import inapp
from workflow.web.common import audited, locale

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
bp.before_request(login_required(lambda: None))
SHOWN = 200  # the newest; older ones stay in the outbox and on the cases
MAX_IDS = 500


def level_text(level: str) -> str:
    """`before_14` → 14 天后到期, `due` → 今天到期, `overdue_2` → 已超期 2 周, in the page's
    language."""
    kind, _sep, n = level.partition("_")
    if kind == "before":
        return _("%(n)s 天后到期", n=n)
    if kind == "due":
        return _("今天到期")
    if kind == "overdue":
        return _("已超期 %(n)s 周", n=n) if n not in ("", "0") else _("已超期")
    return level


@bp.get("/")
def index() -> Any:
    unread_only = request.args.get("show") == "unread"
    items = inapp.inbox(current_user, unread_only=unread_only, limit=SHOWN)
    for item in items:
        item["what"] = deadline_label(item["kind"], locale())  # the stored text is Chinese
        item["when"] = level_text(item["level"])
    audited("list_cases", subjects=len({i["case_id"] for i in items}), detail="提醒")
    return render_template("inbox/index.html", items=items, unread_only=unread_only,
                           unread=inapp.unread_count(current_user))


@bp.post("/read")
def read() -> Any:
    """Mark the ticked alerts (or, with `all`, every unread one) as read by this user."""
    if request.form.get("all"):
        done = inapp.mark_read(current_user)
    else:
        ids = [int(i) for i in request.form.getlist("id")[:MAX_IDS]
               if i.isascii() and i.isdigit() and len(i) < 10]
        if not ids:
            flash(_("请选择要标为已读的提醒"), "error")
            return redirect(url_for("inbox.index"))
        done = inapp.mark_read(current_user, ids)
    flash(_("已将 %(n)s 条提醒标为已读", n=done), "info")
    return redirect(url_for("inbox.index"))
