"""Admin pages: users, rule settings, the holiday table, group robots; plus the roster and
organisation tree."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from workflow.rulesets import SETTING_LABELS
from workflow.services import directory
from workflow.services.directory import access, admin, audit
from workflow.services.directory import webhooks as robots
from workflow.services.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from workflow.web.common import audited, error_text, refused_page, tr

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(login_required(lambda: None))


def _guard() -> None:
    if current_user.role != "admin":
        abort(403)


def _flash_error(exc: ServiceError) -> None:
    flash(error_text(exc, with_fields=True), "error")


def _refused(exc: ServiceError, page: Any, *args: Any,
             labels: dict[str, str] | None = None) -> Any:
    """A refused form: its page again with the reason at the top of the form (each field's
    reason after its label on the form, `labels`), what was typed (`typed` in the template,
    never a password, a secret or a robot's address, which holds its key: those inputs have no
    value) and the refusal's status, instead of a redirect that would lose the input."""
    typed = {**request.form.to_dict(),
             "refusal": error_text(exc, with_fields=True, labels=labels)}
    # a form naming an organisation or key that does not exist is refused input, not a
    # missing page
    return (refused_page(lambda kept: page(*args, typed=kept), typed),
            422 if exc.status == 404 else exc.status)


# the forms' labels of the fields a service names (a robot's reasons name their field already)
USER_FIELDS = {"username": "用户名", "display_name": "姓名", "password": "初始密码",
               "role": "角色", "org": "党组织"}
SETTING_FIELDS = {"org": "党组织", "key": "项目", "value": "取值", "effective_from": "生效日期"}
HOLIDAY_FIELDS = {"day": "日期", "note": "说明"}
ROSTER_FIELDS = {"name": "姓名", "status": "身份", "since": "自"}


@bp.route("/users", methods=["GET", "POST"])
def users() -> Any:
    _guard()
    if request.method == "POST":
        f = request.form
        try:
            directory.create_user(f.get("username", ""), f.get("password", ""), f.get("role", ""),
                                  f.get("org", ""), f.get("display_name", ""),
                                  shared=f.get("shared") == "y")
        except ServiceError as exc:
            return _refused(exc, _users_page, labels=USER_FIELDS)
        flash(_("已创建用户"), "info")
        return redirect(url_for("admin.users"))
    return _users_page()


def _users_page(typed: Any = None) -> str:
    return render_template("admin/users.html", users=admin.users(current_user),
                           orgs=admin.organisations(),
                           roles={k: tr(v) for k, v in access.ROLE_LABELS.items()},
                           sessions=directory.open_sessions(current_user),
                           tokens=directory.tokens_by_user(current_user),
                           token_state=directory.token_state, typed=typed or {})


@bp.post("/users/logout-everywhere")
def user_logout_everywhere() -> Any:
    """End every login session of a user and revoke all of their API tokens (a lost laptop, a
    leaked password, someone leaving the post)."""
    _guard()
    username = request.form.get("username", "")
    try:
        ended, revoked = directory.log_out_everywhere(current_user, username)
        flash(_("%(user)s：已退出 %(ended)d 个登录会话，吊销 %(revoked)d 个 API 令牌", user=username,
                ended=ended, revoked=revoked), "info")
    except ServiceError as exc:
        _flash_error(exc)
    return redirect(url_for("admin.users"))


@bp.post("/users/tokens/revoke")
def token_revoke() -> Any:
    """Revoke one API token of a user: it gets 401 from then on."""
    _guard()
    username, raw = request.form.get("username", ""), request.form.get("token_id", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        flash(_("令牌编号不正确"), "error")
        return redirect(url_for("admin.users"))
    try:
        directory.revoke_tokens(username, int(raw))
        flash(_("%(user)s：已吊销令牌 %(token)s", user=username, token=raw), "info")
    except ServiceError as exc:
        _flash_error(exc)
    return redirect(url_for("admin.users"))


@bp.post("/users/shared")
def user_shared() -> Any:
    """Mark an account as shared by several people (an office account) or as personal."""
    _guard()
    try:
        user = directory.set_shared(request.form.get("username", ""),
                                    request.form.get("shared") == "y")
        flash(_("%(user)s：已设为多人共用账号", user=user.username) if user.shared
              else _("%(user)s：已设为个人账号", user=user.username), "info")
    except ServiceError as exc:
        _flash_error(exc)
    return redirect(url_for("admin.users"))


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Any:
    _guard()
    if request.method == "POST":
        f = request.form
        try:
            admin.add_setting(current_user, f.get("org", ""), f.get("key", ""), f.get("value"),
                              f.get("effective_from"))
        except ServiceError as exc:
            return _refused(exc, _settings_page, labels=SETTING_FIELDS)
        flash(_("已保存规则设置；案件页面立即按新设置计算，提醒用的截止日期将在几分钟内于后台"
                "重新计算（每日提醒发出前必定完成）"), "info")
        return redirect(url_for("admin.settings"))
    return _settings_page()


def _settings_page(typed: Any = None) -> str:
    from workflow.services import bulk_runs
    return render_template("admin/settings.html", data=admin.settings(current_user),
                           labels=SETTING_LABELS, orgs=admin.organisations(),
                           runs=bulk_runs.runs(10), typed=typed or {})


@bp.route("/holidays", methods=["GET", "POST"])
def holidays() -> Any:
    _guard()
    if request.method == "POST":
        f = request.form
        try:
            admin.set_holiday(current_user, f.get("day"), f.get("is_workday") == "y", f.get("note", ""))
        except ServiceError as exc:
            return _refused(exc, _holidays_page, labels=HOLIDAY_FIELDS)
        flash(_("已保存节假日调整；提醒用的截止日期将在几分钟内于后台重新计算"
                "（每日提醒发出前必定完成）"), "info")
        return redirect(url_for("admin.holidays"))
    return _holidays_page()


def _holidays_page(typed: Any = None) -> str:
    return render_template("admin/holidays.html", rows=admin.holidays(), typed=typed or {})


@bp.route("/roster/<code>", methods=["GET", "POST"])
def roster(code: str) -> Any:
    try:
        if request.method == "POST":
            try:
                directory.add_roster_member(current_user, code, {
                    "name": request.form.get("name"), "status": request.form.get("status"),
                    "since": request.form.get("since")})
            except (Invalid, Conflict) as exc:
                return _refused(exc, _roster_page, code, labels=ROSTER_FIELDS)
            flash(_("已加入花名册"), "info")
            return redirect(url_for("admin.roster", code=code))
        return _roster_page(code)
    except NotFound:
        abort(404)
    except Forbidden as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("admin.roster", code=code))


def _roster_page(code: str, typed: Any = None) -> str:
    items = directory.list_roster(current_user, code)["items"]
    org = access.visible_org(current_user, code)
    audited("view_roster", subjects=len(items), detail=f"花名册 {code}")
    return render_template("admin/roster.html", org=org, items=items, typed=typed or {})


@bp.get("/orgs")
def orgs() -> Any:
    scope = access.subtree_ids(current_user.org_id)
    return render_template("admin/orgs.html",
                           orgs=[o for o in admin.organisations() if o.id in scope])


AUDIT_FILTERS = ("user", "case_id", "action", "from", "to")


@bp.get("/audit")
def audit_log() -> Any:
    """Who viewed or exported personal data (services.directory.audit): committee organisers and
    auditors see their subtree's accounts, the admin everything; branch accounts get 403."""
    args = {k: (request.args.get(k) or "").strip() for k in AUDIT_FILTERS}
    page = request.args.get("page", "1")
    try:
        log = audit.entries(current_user, user=args["user"] or None, case_id=args["case_id"],
                            action=args["action"] or None, since=args["from"], until=args["to"],
                            page=int(page) if page.isascii() and page.isdigit() and len(page) < 8
                           else 1)
    except Forbidden:
        abort(403)
    except ServiceError as exc:
        _flash_error(exc)
        log = audit.entries(current_user)
        args = dict.fromkeys(AUDIT_FILTERS, "")
    pages = max(1, -(-log["total"] // log["per_page"]))
    return render_template("admin/audit.html", log=log, args=args, pages=pages,
                           query={k: v for k, v in args.items() if v},
                           actions=audit.ACTION_LABELS, channels=audit.CHANNEL_LABELS)


# ---------------------------------------------------------------- group robots (webhooks)

def _hook_form() -> dict[str, str]:
    f = request.form
    return {k: f.get(k, "") for k in ("org", "kind", "name", "url", "secret", "clear_secret")}


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks() -> Any:
    """The WeCom / DingTalk group robots per organisation, and the deliveries that keep
    failing; POST adds a robot."""
    _guard()
    if request.method == "POST":
        try:
            hook = robots.create(current_user, _hook_form())
        except ServiceError as exc:
            return _refused(exc, _webhooks_page)
        flash(_("已添加群机器人 #%(id)d；可点击“发送测试消息”检查", id=hook.id), "info")
        return redirect(url_for("admin.webhooks"))
    return _webhooks_page()


def _webhooks_page(typed: Any = None) -> str:
    hooks = robots.list_hooks(current_user)
    for hook in hooks:
        hook["kind_label"] = tr(hook["kind_label"])
    return render_template("admin/webhooks.html", hooks=hooks,
                           failed=robots.failed_deliveries(current_user),
                           orgs=admin.organisations(), kinds=_kinds(), typed=typed or {})


# the robot's number is `<int:id>`, the URL parameter every route matrix already knows
@bp.route("/webhooks/<int:id>", methods=["GET", "POST"])
def webhook_edit(id: int) -> Any:
    _guard()
    try:
        if request.method == "POST":
            try:
                robots.update(current_user, id, _hook_form())
            except (Invalid, Conflict) as exc:
                return _refused(exc, _webhook_page, id)
            flash(_("已保存群机器人设置"), "info")
            return redirect(url_for("admin.webhooks"))
        return _webhook_page(id)
    except NotFound:
        abort(404)


def _webhook_page(id: int, typed: Any = None) -> str:
    return render_template("admin/webhook_edit.html", hook=robots.get_hook(current_user, id),
                           orgs=admin.organisations(), kinds=_kinds(), typed=typed or {})


def _kinds() -> dict[str, str]:
    return {k: tr(v) for k, v in robots.KINDS.items()}


@bp.post("/webhooks/<int:id>/enabled")
def webhook_enabled(id: int) -> Any:
    """Enable (enabled=y) or disable a robot: a disabled one receives nothing."""
    _guard()
    try:
        hook = robots.set_enabled(current_user, id, request.form.get("enabled") == "y")
    except NotFound:
        abort(404)
    flash(_("群机器人 #%(id)d 已启用", id=hook.id) if hook.enabled
          else _("群机器人 #%(id)d 已停用", id=hook.id), "info")
    return redirect(url_for("admin.webhooks"))


@bp.post("/webhooks/<int:id>/delete")
def webhook_delete(id: int) -> Any:
    _guard()
    try:
        robots.delete(current_user, id)
    except NotFound:
        abort(404)
    flash(_("已删除群机器人 #%(id)d", id=id), "info")
    return redirect(url_for("admin.webhooks"))


@bp.post("/webhooks/<int:id>/test")
def webhook_test(id: int) -> Any:
    """Send a test message now and show the robot's answer."""
    _guard()
    try:
        ok, answer = robots.send_test(current_user, id)
    except NotFound:
        abort(404)
    flash(_("群机器人 #%(id)d 测试消息", id=id) + answer, "info" if ok else "error")
    return redirect(url_for("admin.webhooks"))
