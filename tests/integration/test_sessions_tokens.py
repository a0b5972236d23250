"""Login sessions and API tokens that can be ended, and the password policy.

A page login is a server-side session: logout, a password change and an admin's "log out
everywhere" end it, and a copy of the cookie taken before stops working. API tokens expire,
can be revoked (CLI and admin page) and note their last use at most once a minute.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from flask import g
from flask.testing import FlaskClient

from tests.integration.conftest import PASSWORD
from tests.web.test_pages import _csrf, login
from workflow.persistence.db import db
from workflow.persistence.models import ApiToken, LoginSession, utcnow
from workflow.services import directory
from workflow.services.errors import Invalid, NotFound

pytestmark = pytest.mark.db

NEW_PASSWORD = "Willow2027meadow"


class Browser(FlaskClient):
    """A test client whose every request starts with an empty `g`, as on a server. The test's
    app context (fixture `ctx`) is otherwise shared by all requests, and Flask-Login would keep
    the user it loaded for the previous request (and Flask-WTF its CSRF token) in it."""

    def open(self, *args, **kwargs):
        for name in list(vars(g)):
            delattr(g, name)
        return super().open(*args, **kwargs)


@pytest.fixture
def new_browser(ctx):
    """Make a new browser (its own cookies, a fresh `g` per request)."""
    return lambda: Browser(ctx, ctx.response_class, use_cookies=True)


@pytest.fixture
def world(world, ctx):
    """The usual world, its client a `Browser`."""
    world.client = Browser(ctx, ctx.response_class, use_cookies=True)
    return world


@pytest.fixture(autouse=True)
def _no_login_limit(monkeypatch):
    """test_security turns the shared login limiter on for its own app, and the limiter is one
    object for every app: these tests log in many times."""
    from workflow.web.security import limiter
    monkeypatch.setattr(limiter, "enabled", False)


@pytest.fixture
def runner(ctx):
    return ctx.test_cli_runner()


def _copy(client, app):
    """A second browser holding a copy of `client`'s session cookie."""
    other = Browser(app, app.response_class, use_cookies=True)
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def _logged_in(client) -> bool:
    return client.get("/cases/").status_code == 200


def _api(world, token: str) -> int:
    return world.client.get("/api/v1/cases",
                            headers={"Authorization": f"Bearer {token}"}).status_code


def _token_row(token_id: int) -> ApiToken:
    db.session.expire_all()  # "last used" is written by a connection of its own
    return db.session.get(ApiToken, token_id)


# -- sessions ---------------------------------------------------------------------------------

def test_a_cookie_copied_before_logout_is_refused_after_it(world, ctx):
    login(world.client, "sec1")
    stolen = _copy(world.client, ctx)
    assert _logged_in(stolen)  # the copy works while the session lasts
    world.client.post("/logout", data={"csrf_token": _csrf(world.client.get("/cases/").text)})
    r = stolen.get("/cases/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert not _logged_in(world.client)


def test_the_cookie_carries_a_session_key_not_the_user_id(world, ctx):
    """A cookie naming the user id (as before login sessions existed) is nobody."""
    login(world.client, "sec1")
    with world.client.session_transaction() as session:
        key = session["_user_id"]
        assert key.startswith("s_")
        session["_user_id"] = str(directory.user_by_name("sec1").id)
    assert not _logged_in(world.client)
    stored = db.session.execute(sa.select(LoginSession.key_hash)).scalars().all()
    assert key not in stored and len(stored) == 1  # only its hash is kept


def test_a_session_idle_longer_than_the_lifetime_is_over_on_the_server(world, ctx):
    login(world.client, "sec1")
    stolen = _copy(world.client, ctx)
    db.session.execute(sa.update(LoginSession).values(
        last_seen_at=utcnow() - ctx.config["PERMANENT_SESSION_LIFETIME"] - timedelta(minutes=2)))
    db.session.commit()
    assert not _logged_in(stolen)


def test_last_seen_is_written_at_most_once_a_minute(world, ctx):
    login(world.client, "sec1")
    long_ago = utcnow() - timedelta(minutes=30)
    db.session.execute(sa.update(LoginSession).values(last_seen_at=long_ago))
    db.session.commit()
    assert _logged_in(world.client)
    db.session.expire_all()
    seen = db.session.execute(sa.select(LoginSession.last_seen_at)).scalar_one()
    assert seen > long_ago + timedelta(minutes=29)
    assert _logged_in(world.client)
    db.session.expire_all()
    assert db.session.execute(sa.select(LoginSession.last_seen_at)).scalar_one() == seen


def test_a_password_change_ends_other_sessions_and_revokes_tokens(world, new_browser):
    login(world.client, "sec1")
    laptop = new_browser()
    login(laptop, "sec1")
    other_user = new_browser()
    login(other_user, "sec2")
    assert _api(world, world.tokens["sec1"]) == 200
    token = _csrf(world.client.get("/password").text)
    r = world.client.post("/password", data={"csrf_token": token, "old_password": PASSWORD,
                                             "new_password": NEW_PASSWORD})
    assert r.status_code == 302, r.text
    assert _logged_in(world.client)  # the session that changed it stays
    assert not _logged_in(laptop)
    assert _api(world, world.tokens["sec1"]) == 401
    assert _api(world, world.tokens["sec2"]) == 200 and _logged_in(other_user)
    assert directory.authenticate("sec1", PASSWORD) is None
    assert directory.authenticate("sec1", NEW_PASSWORD) is not None


def test_admin_logs_a_user_out_everywhere(world, new_browser):
    victim = new_browser()
    login(victim, "sec1")
    second = directory.create_token("sec1")
    login(world.client, "admin")
    page = world.client.get("/admin/users").text
    assert "全部退出登录并吊销令牌" in page
    r = world.client.post("/admin/users/logout-everywhere",
                          data={"csrf_token": _csrf(page), "username": "sec1"})
    assert r.status_code == 302
    assert "已退出 1 个登录会话，吊销 2 个 API 令牌" in world.client.get("/admin/users").text
    assert not _logged_in(victim)
    assert _api(world, world.tokens["sec1"]) == 401 and _api(world, second) == 401
    assert _api(world, world.tokens["sec2"]) == 200
    assert world.client.get("/admin/users").status_code == 200  # the admin is still in


def test_only_the_admin_logs_others_out(world, ctx):
    login(world.client, "org")
    token = _csrf(world.client.get("/cases/").text)
    r = world.client.post("/admin/users/logout-everywhere",
                          data={"csrf_token": token, "username": "sec1"})
    assert r.status_code == 403
    assert _api(world, world.tokens["sec1"]) == 200


def test_admin_page_lists_and_revokes_tokens(world):
    second = directory.create_token("sec1")
    second_id = directory.list_tokens("sec1")[-1].id
    login(world.client, "admin")
    page = world.client.get("/admin/users").text
    assert f"令牌 {second_id}" in page and "有效" in page
    world.client.post("/admin/users/tokens/revoke",
                      data={"csrf_token": _csrf(page), "username": "sec1",
                            "token_id": str(second_id)})
    assert _api(world, second) == 401
    assert _api(world, world.tokens["sec1"]) == 200  # the user's other token still works
    assert "已吊销" in world.client.get("/admin/users").text
    # a token id of another user is not revoked through this user's name
    sec2_id = directory.list_tokens("sec2")[0].id
    world.client.post("/admin/users/tokens/revoke",
                      data={"csrf_token": _csrf(page), "username": "sec1",
                            "token_id": str(sec2_id)})
    assert _api(world, world.tokens["sec2"]) == 200


# -- API tokens -------------------------------------------------------------------------------

def test_tokens_list_and_revoke_through_the_cli(world, runner):
    second = directory.create_token("sec1")
    r = runner.invoke(args=["tokens", "list", "--username", "sec1"])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 2 and all("revoked=-" in line and "valid" in line for line in lines)
    first_id, second_id = (int(line.split()[0].removeprefix("id=")) for line in lines)
    assert "last_used=-" not in lines[0]  # the world fixture used it

    r = runner.invoke(args=["tokens", "revoke", "--username", "sec1", "--id", str(second_id)])
    assert r.exit_code == 0 and "已吊销 1 个令牌" in r.output
    assert _api(world, second) == 401 and _api(world, world.tokens["sec1"]) == 200
    listed = runner.invoke(args=["tokens", "list", "--username", "sec1"]).output.splitlines()
    assert "revoked=-" in listed[0] and "revoked=-" not in listed[1]
    assert listed[1].endswith("revoked")

    r = runner.invoke(args=["tokens", "revoke", "--username", "sec2", "--id", str(first_id)])
    assert r.exit_code != 0 and "没有编号" in r.output and "Traceback" not in r.output
    assert _api(world, world.tokens["sec1"]) == 200

    r = runner.invoke(args=["tokens", "revoke", "--username", "sec1"])
    assert r.exit_code == 0 and "已吊销 1 个令牌" in r.output
    assert _api(world, world.tokens["sec1"]) == 401
    r = world.client.get("/api/v1/cases", headers=world.headers("sec1"))
    assert r.json["error"]["code"] == "unauthenticated"
    assert _api(world, world.tokens["sec2"]) == 200


def test_a_token_expires_after_api_token_days(world, ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "API_TOKEN_DAYS", 30)
    short = directory.create_token("sec1")
    row = directory.list_tokens("sec1")[-1]
    assert row.expires_at - row.created_at == timedelta(days=30)
    assert _api(world, short) == 200
    with time_machine.travel(datetime.now() + timedelta(days=31), tick=False):
        assert _api(world, short) == 401
        assert _api(world, world.tokens["sec1"]) == 200  # the default: 180 days
    with time_machine.travel(datetime.now() + timedelta(days=181), tick=False):
        assert _api(world, world.tokens["sec1"]) == 401
        r = world.client.get("/api/v1/cases", headers=world.headers("sec1"))
        assert r.json["error"]["code"] == "unauthenticated"


def test_last_use_is_written_at_most_once_a_minute(world):
    fresh = directory.create_token("sec1")
    row_id = directory.list_tokens("sec1")[-1].id
    assert _token_row(row_id).last_used_at is None
    assert _api(world, fresh) == 200
    first = _token_row(row_id).last_used_at
    assert first is not None
    assert _api(world, fresh) == 200
    assert _token_row(row_id).last_used_at == first  # not a write per request
    with time_machine.travel(datetime.now() + timedelta(minutes=2), tick=False):
        assert _api(world, fresh) == 200
    assert _token_row(row_id).last_used_at > first


# -- passwords --------------------------------------------------------------------------------

@pytest.mark.parametrize("password,reason", [
    ("password1", "至少 10 位"),
    ("aaaaaaa1", "至少 10 位"),
    ("aaaaaaaaa1", "太容易被猜到"),
    ("password123", "太容易被猜到"),
    ("1234567890", "太容易被猜到"),
    ("qwertyuiop", "太容易被猜到"),
    ("Alice2026Lantern", "不能包含用户名"),
    ("x" * 129, "不能超过 128 位"),
])
def test_weak_passwords_are_refused_with_the_reason(ctx, password, reason):
    with pytest.raises(Invalid) as refused:
        directory.check_password_policy(password, "alice")
    assert refused.value.message == "密码不符合要求"
    assert reason in refused.value.extra["fields"]["password"]


@pytest.mark.parametrize("password,username", [
    ("Demo2026pass", "b01"), ("Demo2026pass", "organizer"), ("Demo2026pass", "admin"),
    (PASSWORD, "sec1"), ("correct horse battery staple", "alice"),
])
def test_good_passwords_pass(ctx, password, username):
    directory.check_password_policy(password, username)


def test_the_password_page_says_why_in_chinese(world):
    login(world.client, "sec1")
    for new, reason in (("password1", "至少 10 位"), (PASSWORD, "不能与当前密码相同"),
                        ("aaaaaaaaa1", "“aaa”这样的重复很容易被猜到"),
                        ("password123", "这是非常常见的密码"),
                        ("Sec1" + PASSWORD, "不能包含用户名")):
        token = _csrf(world.client.get("/password").text)
        r = world.client.post("/password", data={"csrf_token": token, "old_password": PASSWORD,
                                                 "new_password": new})
        assert r.status_code == 200 and reason in r.text, (new, r.text)
    assert directory.authenticate("sec1", PASSWORD) is not None  # unchanged


def test_user_creation_applies_the_policy(world, runner):
    r = runner.invoke(args=["users", "create", "--username", "weak", "--password", "password123",
                            "--role", "branch_secretary", "--org", "B1"])
    assert r.exit_code != 0 and "太容易被猜到" in r.output
    login(world.client, "admin")
    page = world.client.get("/admin/users").text
    r = world.client.post("/admin/users", data={"csrf_token": _csrf(page), "username": "weak2",
                                                "password": "aaaaaaa1", "role": "branch_secretary",
                                                "org": "B1"})
    assert r.status_code == 422 and "至少 10 位" in r.text
    with pytest.raises(NotFound):
        directory.user_by_name("weak2")


def test_zxcvbn_feedback_is_all_translated():
    """Every message zxcvbn can give has a Chinese translation (read from its source)."""
    import ast
    import inspect

    from zxcvbn import feedback

    from workflow.services.directory.users import FEEDBACK_ZH
    tree = ast.parse(inspect.getsource(feedback))
    messages = {node.args[0].value for node in ast.walk(tree)
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_"}
    assert messages and messages <= set(FEEDBACK_ZH)


# -- login timing -----------------------------------------------------------------------------

def test_an_unknown_user_costs_the_same_hash_check(world, monkeypatch):
    """No wall clock: both paths call werkzeug's check_password_hash once, on hashes of the same
    method (so of the same cost); an inactive user too."""
    from werkzeug import security

    from workflow.services.directory import users
    calls: list[str] = []

    def counting(pwhash: str, password: str) -> bool:
        calls.append(pwhash.split("$", 1)[0])
        return security.check_password_hash(pwhash, password)
    monkeypatch.setattr(users, "check_password_hash", counting)
    known_method = directory.user_by_name("sec1").password_hash.split("$", 1)[0]

    assert directory.authenticate("nobody", "whatever-pass1") is None
    assert directory.authenticate("sec1", "wrong-pass-123") is None
    assert directory.authenticate("sec1", PASSWORD) is not None
    directory.user_by_name("sec2").active = False
    db.session.commit()
    assert directory.authenticate("sec2", PASSWORD) is None
    assert calls == [known_method] * 4
