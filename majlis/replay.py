"""A local HTTP server on 127.0.0.1 that replays recorded API responses.

The demo serves its bundled sample data through it, and tests use it to put real sockets
between a connector and a recording: conditional GET, faults (429, 5xx, slow responses,
connections reset mid-body, truncated bodies) happen on the wire as they would in the field.
"""
from __future__ import annotations

import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before the status line: a slow server
    fault: str | None = None  # "reset": RST mid-body; "truncate": a well-framed half body


@dataclass
class Route:
    method: str
    path: str
    query: dict[str, str]  # these parameters must be present with these values
    replies: list[Reply]  # served in turn; the last one repeats
    etag: str | None = None  # answer If-None-Match with 304
    last_modified: str | None = None
    hits: int = 0

    def matches(self, method: str, path: str, query: dict[str, str]) -> bool:
        if method != self.method or path != self.path:
            return False
        return all(query.get(k) == v for k, v in self.query.items())

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.hits, len(self.replies) - 1)]
        self.hits += 1
        return reply


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (a timeout test, a reset) is expected here, not a failure.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class ReplayServer:
    """`with ReplayServer() as server: server.add("/feed.xml", body); server.url("/feed.xml")`."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- routes -----------------------------------------------------------------------------

    def add(
        self, path: str, body: bytes | str = b"", *, status: int = 200,
        headers: dict[str, str] | None = None, method: str = "GET",
        query: dict[str, str] | None = None, etag: str | None = None,
        last_modified: str | None = None, content_type: str | None = None,
    ) -> Route:
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = dict(headers or {})
        if content_type:
            headers["Content-Type"] = content_type
        route = Route(method, path, dict(query or {}), [Reply(status, body, headers)],
                      etag=etag, last_modified=last_modified)
        # Later routes take precedence, so a test can override one route of a fixture set.
        self.routes.insert(0, route)
        return route

    def add_sequence(self, path: str, replies: list[Reply], *, method: str = "GET",
                     query: dict[str, str] | None = None) -> Route:
        route = Route(method, path, dict(query or {}), list(replies))
        self.routes.insert(0, route)
        return route

    def url(self, path: str = "/") -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    @property
    def base_url(self) -> str:
        return self.url("").rstrip("/")

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "ReplayServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test and demo output clean
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                server._answer(self, self.command, parts.path, query)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        # A short poll interval: stopping the server would otherwise take half a second.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- answering ---------------------------------------------------------------------------

    def _answer(self, handler: BaseHTTPRequestHandler, method: str, path: str, query: dict) -> None:
        with self._lock:
            route = next((r for r in self.routes if r.matches(method, path, query)), None)
            reply = route.next_reply() if route else Reply(404, b"no recorded response")
            if route and route.etag and handler.headers.get("If-None-Match") == route.etag:
                reply = Reply(304)
            elif (route and route.last_modified
                  and handler.headers.get("If-Modified-Since") == route.last_modified):
                reply = Reply(304)
            self.seen.append(Seen(method, path, query, dict(handler.headers.items()), reply.status))
        if reply.delay_s:
            time.sleep(reply.delay_s)
        handler.send_response(reply.status)
        headers = dict(reply.headers)
        if route and route.etag:
            headers.setdefault("ETag", route.etag)
        if route and route.last_modified:
            headers.setdefault("Last-Modified", route.last_modified)
        if handler.headers.get("Connection", "").lower() == "close":
            # Say so, as a real server does, so the client never reuses a closing socket.
            headers.setdefault("Connection", "close")
            handler.close_connection = True
        body = b"" if reply.status == 304 or method == "HEAD" else reply.body
        if reply.fault == "truncate":  # a complete response whose payload is half-written
            body = body[: len(body) // 2]
        for name, value in headers.items():
            if name.lower() != "content-length":
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if reply.fault == "reset":
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            # An RST rather than a clean close, as a dropped connection looks in the field.
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            handler.connection.close()
            handler.close_connection = True
            return
        handler.wfile.write(body)
