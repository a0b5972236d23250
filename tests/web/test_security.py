"""Headers, content-security policy, rate-limited login, upload checks."""
from __future__ import annotations

import pytest

from tests.integration.conftest import PASSWORD, world  # noqa: F401  (fixture)
from tests.web.test_pages import _csrf

pytestmark = pytest.mark.db


def test_security_headers_on_pages_and_api(world):
    for url in ("/login", "/api/v1/health"):
        r = world.client.get(url)
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_templates_have_no_inline_scripts():
    from pathlib import Path
    for path in (Path(__file__).resolve().parents[2] / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "<script>" not in text and "onclick=" not in text and "style=" not in text, path


def test_login_is_rate_limited(ctx, world):
    from workflow.app import create_app
    limited = create_app({"TESTING": True, "RATELIMIT_ENABLED": True})
    client = limited.test_client()
    codes = []
    for _ in range(12):
        token = _csrf(client.get("/login").text)
        codes.append(client.post("/login", data={"username": "sec1", "password": "wrong-pass1",
                                                  "csrf_token": token}).status_code)
    with limited.app_context():
        from workflow.persistence.db import db
        db.engine.dispose()  # its own engine: close its pooled connections now, not at exit
    assert codes[:10] == [200] * 10 and codes[10:] == [429, 429]


def test_only_failed_logins_count_and_the_limit_answers_in_the_sites_page(ctx, world):
    """Colleagues behind one office address log in every morning: a login that succeeds does
    not count. Once over the limit, the answer is the site's page in its language, not a bare
    one; the API answers in its error shape."""
    from workflow.app import create_app
    limited = create_app({"TESTING": True, "RATELIMIT_ENABLED": True})
    client = limited.test_client()
    for _ in range(12):
        token = _csrf(client.get("/login").text)
        r = client.post("/login", data={"username": "sec1", "password": PASSWORD,
                                        "csrf_token": token})
        assert r.status_code == 302
        client.post("/logout", data={"csrf_token": _csrf(client.get("/cases/").text)})
    client.get("/lang/en")
    for _ in range(10):
        token = _csrf(client.get("/login").text)
        client.post("/login", data={"username": "sec1", "password": "wrong-pass1",
                                    "csrf_token": token})
    token = _csrf(client.get("/login").text)
    r = client.post("/login", data={"username": "sec1", "password": "wrong-pass1",
                                    "csrf_token": token})
    page = r.get_data(as_text=True)
    assert r.status_code == 429 and '<html lang="en"' in page and "Too many login attempts" in page
    assert 'class="flash error"' in page and "登录" not in page.split("<main")[1]
    with limited.app_context():
        from workflow.persistence.db import db
        db.engine.dispose()


def test_a_method_a_route_does_not_take_is_405_in_the_apis_shape_or_the_sites_page(world):
    r = world.client.delete("/api/v1/cases/1", headers={"Authorization": "Bearer x"})
    assert r.status_code == 405 and r.is_json
    assert r.json["error"]["code"] == "method_not_allowed" and "GET" in r.headers["Allow"]
    assert world.client.put("/api/v1/health").json["error"]["code"] == "method_not_allowed"
    page = world.client.delete("/login")
    assert page.status_code == 405 and "POST" in page.headers["Allow"]
    assert "该页面不支持此操作" in page.text


@pytest.mark.parametrize("proxies", [0, 1])
def test_forwarded_client_address_counts_only_behind_a_trusted_proxy(ctx, world, proxies):
    """Behind nginx (TRUSTED_PROXIES=1) each client has its own login budget; without a
    trusted proxy a forged X-Forwarded-For changes nothing."""
    from workflow.app import create_app
    limited = create_app({"TESTING": True, "RATELIMIT_ENABLED": True,
                          "TRUSTED_PROXIES": proxies})
    client = limited.test_client()

    def attempt(address: str) -> int:
        token = _csrf(client.get("/login", headers={"X-Forwarded-For": address}).text)
        return client.post("/login", headers={"X-Forwarded-For": address},
                           data={"username": "sec1", "password": "wrong-pass1",
                                 "csrf_token": token}).status_code
    first = [attempt("203.0.113.7") for _ in range(11)]
    other = attempt("198.51.100.9")
    with limited.app_context():
        from workflow.persistence.db import db
        db.engine.dispose()
    assert first[:10] == [200] * 10 and first[10] == 429
    assert other == (200 if proxies else 429)


def test_session_cookie_is_http_only(world):
    page = world.client.get("/login")
    token = _csrf(page.text)
    r = world.client.post("/login", data={"username": "sec1", "password": PASSWORD, "csrf_token": token})
    cookies = page.headers.getlist("Set-Cookie") + r.headers.getlist("Set-Cookie")
    session = [c for c in cookies if c.startswith("session=")]
    assert session and all("HttpOnly" in c and "SameSite=Lax" in c for c in session)


# -- where the login goes next ---------------------------------------------------------------

@pytest.fixture
def web(world, ctx, monkeypatch):
    """A browser (tests.integration.test_sessions_tokens.Browser: a fresh `g` per request), with
    the login limiter off (the tests above turn the shared limiter on)."""
    from tests.integration.test_sessions_tokens import Browser
    from workflow.web.security import limiter
    monkeypatch.setattr(limiter, "enabled", False)
    return Browser(ctx, ctx.response_class, use_cookies=True)


def _login_to(client, url: str) -> str:
    """Log in as sec1 by posting the form at `url` (a /login URL); the redirect's target."""
    token = _csrf(client.get(url).text)
    r = client.post(url, data={"username": "sec1", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.text
    return r.headers["Location"]


@pytest.mark.parametrize("raw", [
    "//x", "/\\x", "/%09/x", "https:x", "\\\\x", "http://evil", "/%2F%2Fx",
    "javascript:alert(1)", "/%09/evil.example/phish", "/%0A/x", "%2F%2Fx", "/\\/x",
    "///x", "https://evil.example/", " //x", "/x\\y",
])
def test_login_never_redirects_off_site(web, raw):
    assert _login_to(web, f"/login?next={raw}") == "/"


def test_login_keeps_a_same_site_next(web):
    assert _login_to(web, "/login?next=/cases/3%3Fx%3D1") == "/cases/3?x=1"
    web.post("/logout", data={"csrf_token": _csrf(web.get("/cases/").text)})
    assert _login_to(web, "/login?next=/cases/3?x=1") == "/cases/3?x=1"


@pytest.mark.parametrize("referrer, back", [
    ("https://evil.example/phish", "/"), ("//evil.example/x", "/"), ("javascript:alert(1)", "/"),
    ("http://localhost/cases/3?x=1", "/cases/3?x=1"), ("/reports/", "/reports/"), (None, "/"),
])
def test_switching_the_language_goes_back_only_to_a_page_of_this_site(web, referrer, back):
    headers = {"Referer": referrer} if referrer else {}
    r = web.get("/lang/en", headers=headers)
    assert r.status_code == 302 and r.headers["Location"] == back


def _next_of(location: str) -> str | None:
    from urllib.parse import parse_qs, urlsplit
    parts = urlsplit(location)
    assert parts.path == "/login", location
    return parse_qs(parts.query).get("next", [None])[0]


def test_after_the_session_ended_login_returns_to_the_page(web):
    """The session ends on the server (as after logout elsewhere or an admin's "log out
    everywhere"): the page sends to the login form, which sends back to the page."""
    from tests.web.test_pages import login
    from workflow.services import directory
    login(web, "sec1")
    assert web.get("/cases/new?branch=B1").status_code == 200
    directory.log_out_everywhere(directory.user_by_name("admin"), "sec1")
    r = web.get("/cases/new?branch=B1")
    assert r.status_code == 302 and _next_of(r.headers["Location"]) == "/cases/new?branch=B1"
    assert _login_to(web, r.headers["Location"]) == "/cases/new?branch=B1"


def test_a_form_sent_after_the_session_expired_returns_to_the_form(web):
    """The cookie is gone (expired in the browser): sending the form fails its CSRF check; the
    answer is the login form, and after it the page the form was on, not the POST target."""
    r = web.post("/cases/new", data={"name": "x"},
                 headers={"Referer": "http://localhost/cases/new?branch=B1"})
    assert r.status_code == 302 and _next_of(r.headers["Location"]) == "/cases/new?branch=B1"
    assert _login_to(web, r.headers["Location"]) == "/cases/new?branch=B1"
    # a referrer on another site is not followed
    web.post("/logout", data={"csrf_token": _csrf(web.get("/cases/").text)})
    web.delete_cookie("session")
    r = web.post("/cases/new", data={"name": "x"},
                 headers={"Referer": "https://evil.example/cases/new"})
    assert r.status_code == 302 and _next_of(r.headers["Location"]) is None


def test_a_form_sent_to_a_post_only_page_after_logout_elsewhere_returns_to_the_form(web):
    """The CSRF token is still in the cookie but the login session was ended: the way back is
    the referring page (/admin/users), not the POST-only URL."""
    from tests.web.test_pages import login
    from workflow.services import directory
    login(web, "admin")
    token = _csrf(web.get("/admin/users").text)
    directory.log_out_everywhere(directory.user_by_name("admin"), "admin")
    r = web.post("/admin/users/shared",
                 data={"csrf_token": token, "username": "sec1", "shared": "y"},
                 headers={"Referer": "http://localhost/admin/users"})
    assert r.status_code == 302 and _next_of(r.headers["Location"]) == "/admin/users"
    assert directory.user_by_name("sec1").shared is False
