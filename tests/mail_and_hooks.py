"""Real receivers on 127.0.0.1 for dispatch tests: an SMTP server and a webhook recorder.

`MailServer` is aiosmtpd (it cannot bind port 0, so a free port is picked first) and keeps
every message it accepts, parsed. `HookServer` records the JSON body of every POST; it can
be told to answer with an error status, or to run a callback as a request arrives (the
crash test kills a process from there).
"""
from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    body: str
    raw: bytes


class _Collector:
    def __init__(self) -> None:
        self.mails: list[Mail] = []

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain", "html"))
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), str(parsed["subject"]),
                               body.get_content() if body else "", raw))
        return "250 OK"


class MailServer:
    def __init__(self) -> None:
        self.port = free_port()
        self._collector = _Collector()
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=self.port)

    @property
    def mails(self) -> list[Mail]:
        return self._collector.mails

    def url(self, to: str = "mgr@example.org") -> str:
        return (f"mailto://127.0.0.1:{self.port}?from=majlis@example.org&to={to}&mode=insecure")

    def __enter__(self) -> "MailServer":
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


class HookServer:
    """POSTs to any path are recorded as (path, headers, parsed JSON)."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[dict] = []
        self.status = 200
        self.on_request: Callable[[], None] | None = None
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if hook.on_request:
                    hook.on_request()
                if hook.status < 400:
                    hook.received.append({"path": self.path, "headers": dict(self.headers),
                                          "json": json.loads(body)})
                self.send_response(hook.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def url(self, path: str = "hook", scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def __enter__(self) -> "HookServer":
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
