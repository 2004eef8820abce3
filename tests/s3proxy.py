"""A fault-injecting HTTP reverse proxy in front of an S3 endpoint (the moto server).

Every request is read whole and forwarded (method, path and query, headers, body) to the
upstream endpoint, and its response relayed, unless the fault schedule says otherwise:

    proxy.fail_next(3, "503")                       # the next 3 requests answer 503
    proxy.fail_next(1, "lose-response", method="PUT")  # it lands; its answer is lost
    proxy.fail_every(5, ("503", "reset"))           # sporadic faults, in turn
    proxy.go_down_at(1, method="PUT", path_contains="/data/")  # it lands, then outage
    proxy.go_down(); proxy.come_back()

Fault kinds: "500" (InternalError), "503" (ServiceUnavailable), "slowdown" (503 SlowDown),
"throttle" (400 Throttling: botocore treats the code as throttling, whatever the status),
"reset" (the connection is reset before the request reaches upstream) and "lose-response"
(the request reaches upstream, then the connection is reset instead of the answer).
While down, new connections are refused ("refuse") or reset ("reset"), and requests on
connections already open are reset.
"""

from __future__ import annotations

import http.client
import itertools
import os
import socket
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

ERROR_KINDS: dict[str, tuple[int, str, str]] = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service is unable to handle request."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "throttle": (400, "Throttling", "Rate exceeded."),
}
FAULT_KINDS = (*ERROR_KINDS, "reset", "lose-response")
DownMode = Literal["refuse", "reset"]
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # path and query, as sent
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class _Rule:
    """Do `kind` to the next `remaining` requests that match (None: go down at the last)."""

    kind: str | None
    remaining: int
    method: str | None = None
    path_contains: str | None = None
    down_mode: DownMode = "refuse"
    lands: bool = True  # for an outage: whether the request that begins it reaches upstream

    def matches(self, request: Request) -> bool:
        if self.method is not None and request.method != self.method:
            return False
        return self.path_contains is None or self.path_contains in request.path


class S3Proxy:
    """The proxy; a context manager that serves on 127.0.0.1 (a free port) until closed."""

    def __init__(self, upstream: str, timeout: float = 60.0) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.timeout = timeout
        self.port = 0
        self.requests = 0  # requests seen (including faulted ones and those seen while down)
        self.faults = 0  # requests answered with a fault (or reset while down)
        self.seen: list[tuple[str, str, int]] = []  # (method, path, body size), in order
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._every: tuple[int, itertools.cycle[str]] | None = None
        self._down = False
        self._outage: DownMode | None = None  # begun by `go_down_at`, listener still up
        self._switch = threading.Lock()  # serialises turning the listener off and on
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the schedule --------------------------------------------------------------------

    def fail_next(
        self, n: int, kind: str, *, method: str | None = None, path_contains: str | None = None
    ) -> None:
        """Answer the next `n` matching requests with fault `kind` (see FAULT_KINDS)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._rules.append(_Rule(kind, n, method, path_contains))

    def fail_every(self, n: int, kinds: Sequence[str]) -> None:
        """Fault every `n`-th request not otherwise scheduled, cycling through `kinds`."""
        with self._lock:
            self._every = (n, itertools.cycle(kinds))

    def go_down_at(
        self,
        n: int,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        mode: DownMode = "refuse",
        lands: bool = True,
    ) -> None:
        """Go down at the `n`-th matching request: it is reset, after reaching upstream when
        `lands` (the write happens, its response is lost); every later request fails."""
        with self._lock:
            self._rules.append(_Rule(None, n, method, path_contains, mode, lands))

    def go_down(self, mode: DownMode = "refuse") -> None:
        """Stop answering: refuse (or reset) new connections, reset requests on open ones."""
        with self._switch:
            with self._lock:
                self._down = True
                self._outage = None
                self._rules = [r for r in self._rules if r.kind is not None]
            if mode == "refuse":
                self._stop_listening()

    def come_back(self) -> None:
        """Answer again, on the same port."""
        with self._switch:
            with self._lock:
                self._down = False
                self._outage = None
            if self._server is None:
                self._listen(self.port)

    def finish_outage(self) -> None:
        """Stop listening if a scheduled outage has just begun (see `go_down_at`)."""
        with self._switch:
            with self._lock:
                mode, self._outage = self._outage, None
            if mode == "refuse":
                self._stop_listening()

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many requests seen match."""
        rule = _Rule(None, 0, method, path_contains)
        with self._lock:
            return sum(rule.matches(Request(m, p, {}, b"")) for m, p, _ in self.seen)

    # -- serving -------------------------------------------------------------------------

    def __enter__(self) -> S3Proxy:
        self._listen(0)
        return self

    def __exit__(self, *_: object) -> None:
        with self._switch:
            self._stop_listening()

    def _listen(self, port: int) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever, args=(0.02,), name="s3proxy", daemon=True
        ).start()

    def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def decide(self, request: Request) -> str | None:
        """The fault for this request ("reset" while down), or None to forward it."""
        with self._lock:
            self.requests += 1
            self.seen.append((request.method, request.path, len(request.body)))
            fault = "reset" if self._down else self._scheduled(request)
            if fault is not None:
                self.faults += 1
        return fault

    def _scheduled(self, request: Request) -> str | None:
        for rule in self._rules:
            if rule.remaining > 0 and rule.matches(request):
                rule.remaining -= 1
                if rule.kind is not None:
                    return rule.kind
                if rule.remaining == 0:  # the outage begins with this request
                    self._down, self._outage = True, rule.down_mode
                    return "lose-response" if rule.lands else "reset"
        if self._every is not None and self.requests % self._every[0] == 0:
            return next(self._every[1])
        return None

    def forward(self, request: Request) -> Response:
        conn = http.client.HTTPConnection(*self.upstream, timeout=self.timeout)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Content-Length"] = str(len(request.body))
            conn.request(request.method, request.path, body=request.body, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            return Response(resp.status, resp.getheaders(), body)
        finally:
            conn.close()


def error_response(kind: str, request: Request) -> Response:
    """An S3-style XML error, as the real service sends it."""
    status, code, message = ERROR_KINDS[kind]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{escape(request.path)}</Resource><RequestId>s3proxy</RequestId></Error>"
    ).encode()
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    return Response(status, headers, body)


def _handler_for(proxy: S3Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        pass

    Handler.proxy = proxy
    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and `Expect: 100-continue` as S3 does it
    proxy: S3Proxy

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        request = Request(self.command, self.path, dict(self.headers.items()), self._body())
        fault = self.proxy.decide(request)
        if fault in ERROR_KINDS:
            return self._send(error_response(fault, request))
        response = None if fault == "reset" else self._forward(request)
        if response is None or fault == "lose-response":
            self._reset()
            return self.proxy.finish_outage()  # if this request began one
        self._send(response)

    def _forward(self, request: Request) -> Response | None:
        try:
            return self.proxy.forward(request)
        except (OSError, http.client.HTTPException):
            return None  # upstream gone: so are we

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked_body()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _chunked_body(self) -> bytes:
        parts = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in _HOP_BY_HOP or (
                name.lower() == "content-length" and self.command == "HEAD"
            ):
                self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        else:
            self.end_headers()

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send RST, with no response."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        os.close(self.connection.detach())
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request on stderr would drown the test output
