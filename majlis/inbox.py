"""Local stand-ins for managers' inboxes: an SMTP server and a webhook endpoint on 127.0.0.1.

The demo delivers real e-mail and real webhook calls to these, so what a manager would
receive can be seen without any account anywhere; tests assert on what arrives.
"""
from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    # aiosmtpd cannot bind port 0, so ask the kernel for a free one first.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SmtpInbox:
    """An aiosmtpd server keeping every message it receives."""

    messages: list[EmailMessage] = field(default_factory=list)
    port: int = 0

    def start(self) -> "SmtpInbox":
        from aiosmtpd.controller import Controller

        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                inbox.messages.append(message_from_bytes(envelope.original_content or envelope.content,
                                                         policy=policy.default))
                return "250 OK"

        self.port = self.port or free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def apprise_url(self, to: str, sender: str = "majlis@localhost") -> str:
        return f"mailto://127.0.0.1:{self.port}?from={sender}&to={to}&mode=insecure"

    def __enter__(self) -> "SmtpInbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class WebhookInbox:
    """An HTTP endpoint keeping every JSON body posted to it; `fail_with` makes it answer an error."""

    received: list[dict] = field(default_factory=list)
    fail_with: int | None = None

    def start(self) -> "WebhookInbox":
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if inbox.fail_with:
                    self.send_response(inbox.fail_with)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    inbox.received.append({"path": self.path, "json": json.loads(body)})
                except ValueError:
                    inbox.received.append({"path": self.path, "raw": body})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def apprise_url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "WebhookInbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
