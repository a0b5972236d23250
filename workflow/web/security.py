"""Security headers, a content-security policy without inline scripts, and login rate limits."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[])
LOGIN_LIMIT = "10 per minute; 50 per hour"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def init(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)

    @app.before_request
    def no_nul_in_pages() -> Any:
        """A NUL in a query parameter or form field is refused before any page sees it: the
        database cannot store it (PostgreSQL text). The API refuses it in its own shape."""
        if request.path.startswith("/api/"):
            return None
        for values in (request.args, request.form):
            if any("\x00" in (k or "") or "\x00" in (v or "")
                   for k, v in values.items(multi=True)):
                return render_template("error.html", code=400,
                                       message="提交的内容不能包含 NUL 字符。"), 400
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
