"""A local group robot for the tests: a real HTTP server on 127.0.0.1 (port 0) in a thread that
records every POST and answers as WeCom and DingTalk do, or as told (an errcode, an HTTP
status). For DingTalk robots given a secret it recomputes the 加签 signature from the query
string, independently of the code under test, and records whether it matched."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    body: Any
    signature_ok: bool | None  # None: no secret known for this path


class Robot:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.secrets: dict[str, str] = {}  # path -> DingTalk secret to verify against
        self.status = 200
        self.answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        self._lock = threading.Lock()
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parts.query)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                secret = robot.secrets.get(parts.path)
                ok = None
                if secret is not None:
                    stamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
                    mac = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(),
                                   hashlib.sha256).digest()
                    ok = bool(stamp) and hmac.compare_digest(base64.b64encode(mac).decode(), sign)
                with robot._lock:
                    robot.received.append(Received(parts.path, query,
                                                   json.loads(raw.decode("utf-8")), ok))
                    status, answer = robot.status, robot.answer
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Robot:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]


_shared: Robot | None = None


def shared() -> Robot:
    """One robot for the whole test process (the access matrix's test-message scenario), always
    answering errcode 0; stopped with the process."""
    global _shared
    if _shared is None:
        _shared = Robot().start()
    return _shared
