"""The pages for branch secretaries and committee organisers, on the same services as the API.

Server-rendered Jinja templates, Flask-WTF forms with CSRF, Flask-Babel with Simplified Chinese
by default and English on request; no build step.
"""
from __future__ import annotations

from typing import Any

from flask import (Flask, has_request_context, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext, refresh
from flask_login import current_user, login_required

from workflow.citations import article_text
from workflow.deadlines import label as deadline_label
from workflow.extensions import login_manager
from workflow.rules import REGISTRY
from workflow.services import clock
from workflow.steps import STEPS
from workflow.web.common import (
    LANGUAGES,
    audit_detail,
    audited,
    babel,
    csrf,
    service_error_page,
    tr,
)
from workflow.web.common import locale as _locale


def register(app: Flask) -> None:
    from workflow.web import (
        admin,
        auth,
        cases,
        committee,
        inbox,
        plans,
        reports,
        security,
        transfer,
    )

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(app.root_path + "/../translations"))
    babel.init_app(app, locale_selector=_locale)
    csrf.init_app(app)
    security.init(app)
    from workflow.api import api
    csrf.exempt(api)  # the API authenticates with bearer tokens, not cookies
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"
    for bp in (auth.bp, cases.bp, committee.bp, admin.bp, reports.bp, reports.trainings_bp,
               transfer.bp, inbox.bp, plans.bp):
        app.register_blueprint(bp)
    app.add_url_rule("/", "home", _home)
    app.add_url_rule("/lang/<code>", "set_lang", _set_lang)
    app.add_url_rule("/pipeline", "pipeline", _pipeline)
    app.context_processor(_globals)
    app.jinja_env.globals.update(PUNCTUATION)
    app.add_template_filter(_localtime, "localtime")
    app.add_template_filter(_choice, "choice")
    app.add_template_filter(lambda article: article_text(article, _locale()), "article")
    app.add_template_filter(_session_words, "session_words")
    # names of steps, rules and deadlines in the page's language (the views carry Chinese)
    app.add_template_filter(lambda step: _step_name(step, _locale()), "step_name")
    app.add_template_filter(lambda rule: REGISTRY[rule].message(_locale())
                            if rule in REGISTRY else rule, "rule_name")
    app.add_template_filter(lambda kind: deadline_label(kind, _locale()), "deadline_name")
    app.add_template_filter(tr, "tr")  # labels made in Chinese, in the page's language
    app.add_template_filter(audit_detail, "audit_detail")
    app.register_error_handler(404, _not_found)
    app.register_error_handler(403, _forbidden)
    app.register_error_handler(405, _not_allowed)
    app.register_error_handler(429, _too_many)


def _home() -> Any:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.role in ("committee_organizer", "auditor"):
        return redirect(url_for("committee.home"))
    if current_user.role == "admin":
        return redirect(url_for("admin.users"))
    return redirect(url_for("cases.home"))


@login_required
def _pipeline() -> Any:
    """The whole pipeline, legible: every stage with its sub-states and steps."""
    from workflow.web import diagram
    return render_template("pipeline.html", stages=diagram.pipeline(_locale()))


def _set_lang(code: str) -> Any:
    if code in LANGUAGES:
        session["lang"] = code
        refresh()  # translations are cached per context; switch them now
    from workflow.web.auth import referring_page
    return redirect(referring_page() or url_for("home"))


def _localtime(stored: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC timestamp as the organisation's local time (TIMEZONE), for the pages."""
    moment = clock.local(stored)
    return moment.strftime(fmt) if moment else ""


def _step_name(step: str, lang: str) -> str:
    spec = STEPS.get(step)
    return step if spec is None else (spec.en if lang == "en" else spec.zh)


def _session_words(ref: str | None) -> str:
    """Where a committee decision came from, in words: `web:3f2a…` is a page session,
    `api:token:5` an API token, `cli` the command line."""
    if not ref:
        return "—"
    zh = _locale() == "zh"
    if ref.startswith("web:"):
        return ("网页会话 " if zh else "web session ") + ref[4:12]
    if ref.startswith("api:token:"):
        return ("API 令牌 #" if zh else "API token #") + ref[len("api:token:"):]
    if ref == "cli":
        return "命令行" if zh else "command line"
    if ref == "import":
        return "历史档案导入" if zh else "archive import"
    return ref


def _choice(value: Any) -> str:
    """A stored choice (`female`, `worker`) as a word in the page's language; — when unset."""
    from workflow.services.interchange.sheet_columns import CHOICE_LABELS
    return tr(CHOICE_LABELS.get(value, value)) if value else "—"


def _globals() -> dict[str, Any]:
    from workflow.notifications.inapp import unread_count
    unread = unread_count(current_user) if current_user.is_authenticated else 0
    return {"lang": _locale(), "unread_alerts": unread}


class _Punctuation:
    """A mark templates put around data, in the page's language: "案件 12（2024-05-01）" reads
    "Case 12 (2024-05-01)" in English, not with the full-width forms. A global (not a context
    value), so that macros imported without the context see it too."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en

    def __str__(self) -> str:  # a file rendered outside a request (a task) is Chinese
        return self.en if has_request_context() and _locale() == "en" else self.zh

    def __html__(self) -> str:
        return str(self)


PUNCTUATION = {"lp": _Punctuation("（", " ("), "rp": _Punctuation("）", ")"),
               "colon": _Punctuation("：", ": "), "comma": _Punctuation("，", ", "),
               "semi": _Punctuation("；", "; "), "stop": _Punctuation("。", ". "),
               "enum": _Punctuation("、", ", "),
               "bang": _Punctuation("！", "")}  # before a violation, which English marks in red only


def _not_found(exc: Exception) -> Any:
    if request.path.startswith("/api/"):
        return {"error": {"code": "not_found", "message": "资源不存在"}}, 404
    return render_template("error.html", code=404,
                           message=gettext("页面不存在，或不在您的管理范围内。")), 404


def _forbidden(exc: Exception) -> Any:
    return render_template("error.html", code=403, message=gettext("您没有权限进行此操作。")), 403


def _not_allowed(exc: Exception) -> Any:
    """A method a route does not take (DELETE on a case): the API's error shape under /api/,
    the site's page elsewhere. Routing refuses it before any blueprint's handler is chosen."""
    allowed = {"Allow": ", ".join(getattr(exc, "valid_methods", None) or ())}
    if request.path.startswith("/api/"):
        return {"error": {"code": "method_not_allowed",
                          "message": "该地址不支持此请求方法"}}, 405, allowed
    return (render_template("error.html", code=405, message=gettext("该页面不支持此操作。")),
            405, allowed)


def _too_many(exc: Exception) -> Any:
    """Too many login attempts from one address (the only limited route: the login page): the
    site's page in the page's language."""
    return render_template("error.html", code=429,
                           message=gettext("登录尝试过于频繁，请稍后再试")), 429



__all__ = ["audited", "babel", "csrf", "register", "service_error_page"]
