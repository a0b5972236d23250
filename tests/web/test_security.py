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
