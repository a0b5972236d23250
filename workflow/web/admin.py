"""Admin pages: users, rule settings, the holiday table; plus the roster and organisation tree."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from workflow.rulesets import SETTING_LABELS
from workflow.services import access, admin, directory
from workflow.services.errors import Forbidden, NotFound, ServiceError

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(login_required(lambda: None))


def _guard() -> None:
    if current_user.role != "admin":
        abort(403)


def _flash_error(exc: ServiceError) -> None:
    flash(exc.message + "".join(f"（{v}）" for v in exc.extra.get("fields", {}).values()), "error")


@bp.route("/users", methods=["GET", "POST"])
def users() -> Any:
    _guard()
    if request.method == "POST":
        f = request.form
        try:
            directory.create_user(f.get("username", ""), f.get("password", ""), f.get("role", ""),
                                  f.get("org", ""), f.get("display_name", ""))
            flash("已创建用户", "info")
        except ServiceError as exc:
            _flash_error(exc)
        return redirect(url_for("admin.users"))
    return render_template("admin/users.html", users=admin.users(current_user),
                           orgs=admin.organisations(), roles=access.ROLE_LABELS)


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Any:
    _guard()
    if request.method == "POST":
        f = request.form
        try:
            admin.add_setting(current_user, f.get("org", ""), f.get("key", ""), f.get("value"),
                              f.get("effective_from"))
            flash("已保存规则设置", "info")
        except ServiceError as exc:
            _flash_error(exc)
        return redirect(url_for("admin.settings"))
    return render_template("admin/settings.html", data=admin.settings(current_user),
                           labels=SETTING_LABELS, orgs=admin.organisations())


@bp.route("/holidays", methods=["GET", "POST"])
def holidays() -> Any:
    _guard()
    if request.method == "POST":
        f = request.form
        try:
            admin.set_holiday(current_user, f.get("day"), f.get("is_workday") == "y", f.get("note", ""))
            flash("已保存节假日调整", "info")
        except ServiceError as exc:
            _flash_error(exc)
        return redirect(url_for("admin.holidays"))
    return render_template("admin/holidays.html", rows=admin.holidays())


@bp.route("/roster/<code>", methods=["GET", "POST"])
def roster(code: str) -> Any:
    try:
        if request.method == "POST":
            directory.add_roster_member(current_user, code, {
                "name": request.form.get("name"), "status": request.form.get("status"),
                "since": request.form.get("since")})
            flash("已加入花名册", "info")
            return redirect(url_for("admin.roster", code=code))
        items = directory.list_roster(current_user, code)["items"]
        org = access.visible_org(current_user, code)
    except NotFound:
        abort(404)
    except Forbidden as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.roster", code=code))
    except ServiceError as exc:
        _flash_error(exc)
        return redirect(url_for("admin.roster", code=code))
    return render_template("admin/roster.html", org=org, items=items)


@bp.get("/orgs")
def orgs() -> Any:
    scope = access.subtree_ids(current_user.org_id)
    return render_template("admin/orgs.html",
                           orgs=[o for o in admin.organisations() if o.id in scope])
