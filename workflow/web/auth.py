"""Login, logout and password change."""
from __future__ import annotations

import secrets
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from workflow.services import directory
from workflow.services.cases import decisions
from workflow.services.errors import Invalid
from workflow.web.forms import LoginForm, PasswordForm
from workflow.web.security import LOGIN_LIMIT, limiter

bp = Blueprint("auth", __name__)
SESSION_ID = "sid"


def origin() -> decisions.Origin:
    """This login session as the origin of a committee decision (`web:<session id>`); a session
    from before the id was introduced gets one now."""
    if not isinstance(session.get(SESSION_ID), str):
        session[SESSION_ID] = secrets.token_hex(8)
    return decisions.Origin.web(session[SESSION_ID])


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"], error_message="登录尝试过于频繁，请稍后再试")
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        user = directory.authenticate(form.username.data or "", form.password.data or "")
        if user is None:
            flash("用户名或密码不正确", "error")
        else:
            session.permanent = True
            login_user(user)
            session[SESSION_ID] = secrets.token_hex(8)  # names this login on its decisions
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/") and not target.startswith("//")
                            else url_for("home"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Any:
    logout_user()
    session.pop(SESSION_ID, None)
    flash("已退出登录", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> Any:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            directory.change_password(current_user, form.old_password.data or "",
                                      form.new_password.data or "")
        except Invalid as exc:
            flash(exc.message, "error")
        else:
            flash("密码已修改", "info")
            return redirect(url_for("home"))
    return render_template("auth/password.html", form=form)


__all__ = ["bp", "current_app"]
