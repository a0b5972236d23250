"""A live server on loopback and Playwright driving Debian's Chromium against it."""
from __future__ import annotations

import shutil
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 768},
            "locale": "zh-CN"}


def _buffered(app):
    """The app's responses whole, their iterables closed before werkzeug writes a byte.

    werkzeug's development server does not close a response (a static file) when the browser
    drops the connection while it is sent, say a favicon the next page no longer waits for:
    the open file then reached the garbage collector as a `ResourceWarning`, which this suite
    treats as an error, in whatever test was running (a rare, timing-dependent failure)."""
    def serve(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()
    return serve


@pytest.fixture
def live_server(ctx):
    server = make_server("127.0.0.1", 0, _buffered(ctx), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
