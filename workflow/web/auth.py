"""Login, logout and password change; where to go after login; an expired page or session.

A login is a server-side session (services.directory.users: start_session); logout ends it
there, so a copy of the cookie stops working too. After login only a same-site path is
followed (`safe_next`); when a session has expired, the way back to the login page keeps the
page the user was on, even when the expiry shows on submitting a form.
"""
from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError

from workflow.extensions import login_manager
from workflow.services import directory
from workflow.services.cases import decisions
from workflow.services.errors import Invalid
from workflow.web.common import error_text, tr
from workflow.web.forms import LoginForm, PasswordForm
from workflow.web.security import LOGIN_LIMIT, limiter

bp = Blueprint("auth", __name__)
SESSION_ID = "sid"
NEXT_MAX = 2000


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site ("/cases/3?x=1"), else None. Refused: anything
    with a scheme or host (`https:x`, `http://evil`, `javascript:…`), `//host` and `/\\host`
    (browsers read both as another host), backslashes, and control characters or spaces
    (browsers drop a tab or newline, so `/%09/evil` would become `//evil`)."""
    if not target or len(target) > NEXT_MAX or not target.startswith("/"):
        return None
    if target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _came_from() -> str | None:
    """The page to come back to after logging in again: this one for a GET, for a form's POST
    the page the form was on (the referrer, when it is on this site)."""
    if request.method in ("GET", "HEAD"):
        query = request.query_string.decode("latin-1")
        return safe_next(request.path + (f"?{query}" if query else ""))
    return referring_page()


def referring_page() -> str | None:
    """The page of this site the request came from (its referrer's path and query), None for
    another site's page or none: a redirect "back" must not lead off the site."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc and referrer.netloc != request.host:
        return None
    return safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))


@login_manager.unauthorized_handler
def _to_login() -> Any:
    """A page that needs a login (none, expired, or ended elsewhere): to the login form, which
    brings the user back here afterwards."""
    flash(_(login_manager.login_message or "请先登录"), login_manager.login_message_category)
    return redirect(url_for("auth.login", next=_came_from()))


@bp.app_errorhandler(CSRFError)
def _page_expired(exc: CSRFError) -> Any:
    """A form sent without a valid CSRF token: most often the session expired while the form
    was open (its token lived in the session). Logged out: to the login form, then back to the
    page the form was on; still logged in (the token alone expired): a page that says so.
    Nothing is written either way."""
    if request.endpoint == "auth.login":
        flash(_("页面已过期，请重新登录"), "error")
        return render_template("auth/login.html", form=LoginForm()), 400
    if not current_user.is_authenticated:
        flash(_("登录已过期，请重新登录；未保存的内容需要重新填写"), "error")
        return redirect(url_for("auth.login", next=_came_from()))
    # logged in, the form's token alone expired: what was typed comes back, visible and
    # editable, to be sent again with a fresh token by a deliberate click (files and secrets
    # excepted: a password or a robot's key is never written into a page). Only for a form
    # of this site: a post from elsewhere gets the plain page, so it cannot ride on this.
    if not _same_site_post():
        return render_template("error.html", code=400,
                               message=_("页面已过期，内容未保存。请刷新页面后重新提交。")), 400
    typed = [(k, v) for k, v in request.form.items(multi=True)
             if k != "csrf_token" and not SECRET_FIELD.search(k)]
    withheld = any(SECRET_FIELD.search(k) for k in request.form)
    response = make_response(render_template(
        "auth/expired.html", action=request.path, typed=typed, withheld=withheld,
        had_files=bool(request.files)), 400)
    response.headers["Cache-Control"] = "no-store"
    return response


SECRET_FIELD = re.compile(r"password|secret|token|^url$", re.IGNORECASE)


def _same_site_post() -> bool:
    """The post came from a page of this site (Origin, else Referer, names this host)."""
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    return urlsplit(source).netloc == request.host


def origin() -> decisions.Origin:
    """This login session as the origin of a committee decision (`web:<session id>`); a session
    from before the id was introduced gets one now."""
    if not isinstance(session.get(SESSION_ID), str):
        session[SESSION_ID] = secrets.token_hex(8)
    return decisions.Origin.web(session[SESSION_ID])


@bp.route("/login", methods=["GET", "POST"])
# only attempts that did not log in count (a login redirects): colleagues behind one office
# address log in every morning; guessing is what the limit is for
@limiter.limit(LOGIN_LIMIT, methods=["POST"], error_message="登录尝试过于频繁，请稍后再试",
               deduct_when=lambda response: response.status_code != 302)
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        user = directory.authenticate(form.username.data or "", form.password.data or "")
        if user is None:
            flash(_("用户名或密码不正确"), "error")
        else:
            session.permanent = True
            directory.start_session(user)  # user.get_id() is now this login session's key
            login_user(user)
            session[SESSION_ID] = secrets.token_hex(8)  # names this login on its decisions
            return redirect(safe_next(request.args.get("next")) or url_for("home"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Any:
    key = session.get("_user_id")  # Flask-Login's copy of user.get_id(): the session key
    if isinstance(key, str):
        directory.end_session(key)
    logout_user()
    session.pop(SESSION_ID, None)
    flash(_("已退出登录"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> Any:
    form = PasswordForm()
    if form.validate_on_submit():
        try:  # this session stays; the user's other sessions end, their API tokens are revoked
            directory.change_password(current_user, form.old_password.data or "",
                                      form.new_password.data or "",
                                      keep_session=current_user.get_id())
        except Invalid as exc:  # the message above the form, the reason at its field
            flash(error_text(exc), "error")
            for name, why in exc.extra.get("fields", {}).items():
                field = getattr(form, name, None)
                if field is not None:
                    field.errors = [*field.errors, tr(why)]
        else:
            flash(_("密码已修改；其他设备上的登录已退出，您的 API 令牌已全部吊销"), "info")
            return redirect(url_for("home"))
    return render_template("auth/password.html", form=form)


__all__ = ["bp", "current_app"]
