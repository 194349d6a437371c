"""A fault-injecting, Sentry-compatible HTTP server on 127.0.0.1, in a thread of the test process.

    with Sink() as sink:
        client = raven.Client(sink.dsn())
        client.captureMessage("hi")
        [event] = sink.wait_for_events(1)

It accepts the two ingestion endpoints, ``/api/<project>/store/`` (one JSON event) and
``/api/<project>/envelope/`` (an envelope: header line, then items, each a header line with
``type`` and optional ``length`` followed by its payload), in plain, gzip or deflate bodies, and
records every request as a :class:`Received`. By default it answers 200 with ``{"id": ...}``
over keep-alive HTTP/1.1. Behaviour rules (:meth:`Sink.respond`, :meth:`Sink.rate_limit`,
:meth:`Sink.slow`, :meth:`Sink.too_large_over`, :meth:`Sink.reset_connections`,
:meth:`Sink.limit_header_on_success`) change the answers of requests arriving afterwards.

A request whose target is absolute (``POST http://host/api/1/store/``) is what a client sends to
an HTTP proxy: the sink answers it itself and marks it ``proxied``. With ``tls`` (a
``trustme.LeafCert``) it speaks HTTPS only. :meth:`Sink.stop` closes the listening socket and
every open connection, so a client sees exactly what a crashed or restarted server looks like.

For each request the rules are checked in this order: :meth:`~Sink.reset_connections` (drop the
connection unanswered), :meth:`~Sink.slow` (delay, then go on), 404 for anything but an enabled
endpoint, 413 from :meth:`~Sink.too_large_over`, 400 for a body that cannot be decoded, the rule
of the latest :meth:`~Sink.respond`/:meth:`~Sink.rate_limit` call, and finally the default 200.

Standard library only. Every piece of recorded state and every rule sits behind one lock.
"""

from __future__ import annotations

import dataclasses
import email.utils
import gzip
import http.server
import json
import math
import re
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import zlib
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

__all__ = ["Received", "Sink", "decode_body", "parse_envelope"]

_ENDPOINT = re.compile(r"^/api/(?P<project>[^/]+)/(?P<kind>store|envelope)/?$")
_REASONS = {s.value: s.phrase for s in http.HTTPStatus}


def decode_body(raw: bytes, encoding: str) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate as zlib or raw, identity); raise on bad data."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding in ("gzip", "x-gzip"):
        return gzip.decompress(raw)
    if encoding == "deflate":
        try:
            return zlib.decompress(raw)
        except zlib.error:
            return zlib.decompress(raw, -zlib.MAX_WBITS)
    raise ValueError("unsupported Content-Encoding %r" % encoding)


def parse_envelope(body: bytes) -> Tuple[Dict[str, Any], List[Tuple[Dict[str, Any], bytes]]]:
    """Split an envelope into its header and ``(item header, payload)`` pairs (raise if bad)."""

    def line(pos: int) -> Tuple[bytes, int]:
        end = body.find(b"\n", pos)
        return (body[pos:], len(body)) if end < 0 else (body[pos:end], end + 1)

    first, pos = line(0)
    header = json.loads(first) if first.strip() else {}
    items = []
    while pos < len(body):
        item_line, pos = line(pos)
        if not item_line.strip():
            continue  # blank lines between items / trailing newlines
        item_header = json.loads(item_line)
        if not isinstance(item_header, dict) or "type" not in item_header:
            raise ValueError("envelope item header without a type: %r" % item_line[:200])
        length = item_header.get("length")
        if length is None:
            payload, pos = line(pos)
        else:
            payload = body[pos : pos + int(length)]
            if len(payload) != int(length):
                raise ValueError("envelope item shorter than its length %d" % length)
            pos += int(length)
            if body[pos : pos + 1] == b"\n":
                pos += 1
        items.append((item_header, payload))
    return header, items


class Received:
    """One HTTP request as the sink saw it, and what it answered (``status`` 0: dropped)."""

    __slots__ = ("body", "client_reports", "envelope_header", "error", "events", "headers")
    __slots__ += ("items", "kind", "method", "path", "project", "proxied", "query", "raw")
    __slots__ += ("peer", "status", "target", "time")

    def __init__(
        self, method: str, target: str, headers: Dict[str, str], raw: bytes, peer: Any = None
    ) -> None:
        self.time = time.time()
        self.peer = peer  # the client's (address, port): one per connection
        self.method, self.target, self.headers, self.raw = method, target, headers, raw
        self.proxied = target.lower().startswith(("http://", "https://"))  # absolute-form
        parts = urlsplit(target)
        self.path, self.query = parts.path, parts.query
        match = _ENDPOINT.match(self.path) if method == "POST" else None
        self.kind = match.group("kind") if match else "other"
        self.project = match.group("project") if match else None
        self.body = raw
        self.events: List[Dict[str, Any]] = []
        self.client_reports: List[Dict[str, Any]] = []
        self.envelope_header: Dict[str, Any] = {}
        self.items: List[Tuple[Dict[str, Any], bytes]] = []
        self.error: Optional[str] = None  # why the body could not be decoded
        self.status = 0
        if self.kind == "other":
            return
        try:
            self.body = decode_body(raw, self.header("Content-Encoding") or "")
            if self.kind == "store":
                self.events.append(json.loads(self.body))
            else:
                self.envelope_header, self.items = parse_envelope(self.body)
                for item_header, payload in self.items:
                    if item_header["type"] == "event":
                        self.events.append(json.loads(payload))
                    elif item_header["type"] == "client_report":
                        self.client_reports.append(json.loads(payload))
        except (ValueError, OSError, EOFError, zlib.error) as exc:  # JSONDecodeError, BadGzipFile
            self.error = "%s: %s" % (type(exc).__name__, exc)

    def header(self, name: str) -> Optional[str]:
        """A request header, looked up case-insensitively (None when absent)."""
        name = name.lower()
        for key, value in self.headers.items():
            if key.lower() == name:
                return value
        return None

    @property
    def event_id(self) -> Optional[str]:
        for event in self.events:
            if isinstance(event, dict) and event.get("event_id"):
                return str(event["event_id"])
        return self.envelope_header.get("event_id")

    def __repr__(self) -> str:
        proxied = " (proxied)" if self.proxied else ""
        return "<Received %s %s%s -> %d>" % (self.method, self.target, proxied, self.status)


@dataclasses.dataclass
class _Rule:
    """An answer for the next ``times`` requests and/or until ``until`` (None: unbounded)."""

    status: int
    headers: Callable[[float], Dict[str, str]]  # time of the answer -> headers
    body: bytes
    times: Optional[int]
    until: Optional[float]

    def take(self, now: float) -> bool:
        """Whether the rule answers a request arriving at ``now`` (uses up one of ``times``)."""
        if (self.until is not None and now >= self.until) or self.times == 0:
            return False
        if self.times is not None:
            self.times -= 1
        return True


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, sink: Sink, sock: socket.socket) -> None:
        super().__init__(sock.getsockname(), _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.sink = sink
        self.server_activate()  # listen()

    def get_request(self) -> Tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        self.sink._track(sock, sock)
        return sock, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.sink._context is not None:
            tls = self.sink._context.wrap_socket(
                request, server_side=True, do_handshake_on_connect=False
            )
            self.sink._track(request, tls)  # stop() must shut the TLS socket down, not the raw one
            tls.do_handshake()
            request = tls
        self.RequestHandlerClass(request, client_address, self)

    def shutdown_request(self, request: Any) -> None:
        active = self.sink._untrack(request)
        if active is not None and active is not request:
            try:
                active.close()
            except OSError:
                pass
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        # a client going away mid-request, or stop() shutting connections down, is business as usual
        if not isinstance(exc, (ConnectionError, socket.timeout)) and not self.sink._stopped:
            with self.sink._lock:
                self.sink.errors.append("%s: %s" % (type(exc).__name__, exc))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "raven-test-sink"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        raw = self._read_body()
        headers = dict(self.headers.items())
        received = Received(self.command, self.path, headers, raw, self.client_address)
        sink = self.server.sink
        delay, drop = sink._arrived(received)
        if drop:
            # RST instead of an answer: the client sees a reset / remote-disconnected error
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if delay and sink._stopping.wait(delay):
            self.close_connection = True
            return  # stopped while sleeping: the connection goes away unanswered
        status, headers, body = sink._answer(received)
        sink._answered(received, status)
        if self.close_connection:
            headers["Connection"] = "close"
        lines = ["HTTP/1.1 %d %s" % (status, _REASONS.get(status, "Unknown"))]
        lines += ["%s: %s" % item for item in headers.items()]
        lines.append("Content-Length: %d\r\n\r\n" % len(body))
        self.wfile.write("\r\n".join(lines).encode("latin-1") + body)

    do_POST = do_GET = do_PUT = _serve


class Sink:
    """The loopback server; see the module docstring. Not started until :meth:`start`."""

    def __init__(
        self,
        port: int = 0,
        tls: Any = None,
        host: str = "127.0.0.1",
        envelope: bool = True,
        store: bool = True,
    ) -> None:
        self.port, self.host, self.tls = port, host, tls
        self.endpoints = {"envelope": envelope, "store": store}
        self._context: Optional[ssl.SSLContext] = None
        if tls is not None:
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.configure_cert(self._context)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # new events / closed connections
        self._conns: Dict[socket.socket, socket.socket] = {}  # accepted socket -> socket in use
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._pending: Optional[threading.Thread] = None  # start_later's timer
        self._stopping = threading.Event()
        self._stopped = True
        self.errors: List[str] = []  # unexpected server-side errors, to debug a test (reset())
        self.reset()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return "%s://%s:%d" % ("https" if self.tls else "http", self.host, self.port)

    def dsn(
        self,
        project: int = 1,
        key: str = "public",
        secret: Optional[str] = None,
        scheme: Optional[str] = None,
        query: str = "",
    ) -> str:
        """A DSN pointing at this sink (``scheme`` e.g. ``"threaded+http"``)."""
        scheme = scheme or ("https" if self.tls else "http")
        auth = key if secret is None else "%s:%s" % (key, secret)
        query = "?" + query if query else ""
        return "%s://%s@%s:%d/%s%s" % (scheme, auth, self.host, self.port, project, query)

    def _reserve(self) -> socket.socket:
        """Bind (not listen) the port: connections are refused but the port stays ours."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return sock

    def _launch(self, sock: socket.socket) -> None:
        self._server = _Server(self, sock)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,))
        self._thread.daemon = True
        self._thread.start()

    def _begin(self) -> socket.socket:
        if not self._stopped:
            raise RuntimeError("the sink is already started")
        sock = self._reserve()
        self._stopping.clear()
        self._stopped = False
        return sock

    def start(self) -> Sink:
        """Listen on ``port`` (0: a free one, then kept for restarts)."""
        self._launch(self._begin())
        return self

    def start_later(self, delay: float) -> None:
        """Reserve the port now (``port``/``dsn()`` usable, connections refused); listen after
        ``delay`` seconds, unless :meth:`stop` comes first."""
        sock = self._begin()

        def later() -> None:
            self._stopping.wait(delay)
            with self._lock:
                if self._stopping.is_set():
                    sock.close()
                else:
                    self._launch(sock)

        self._pending = threading.Thread(target=later, daemon=True)
        self._pending.start()

    def stop(self) -> None:
        """Stop listening and shut every open connection down; wait (≤ 5 s) until they are
        closed. Recorded requests and rules are kept."""
        with self._lock:
            self._stopped = True
            self._stopping.set()
        if self._pending is not None:
            self._pending.join()
            self._pending = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = self._thread = None
        with self._lock:
            for sock in self._conns.values():
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # the handler thread then closes it
                except OSError:
                    pass
            self._changed.wait_for(lambda: not self._conns, timeout=5)

    def restart(self, down_for: float = 0) -> None:
        """Stop, stay down (refusing connections) for ``down_for`` seconds, listen again on the
        same port."""
        self.stop()
        self.start_later(down_for)
        assert self._pending is not None
        self._pending.join()

    @property
    def running(self) -> bool:
        """Whether the sink is listening now."""
        return self._server is not None and not self._stopped

    def __enter__(self) -> Sink:
        return self.start() if self._stopped else self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _track(self, accepted: socket.socket, active: socket.socket) -> None:
        with self._lock:
            self._conns[accepted] = active
            stopping = self._stopped
        if stopping:  # accepted while stop() was closing the others
            try:
                active.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _untrack(self, accepted: socket.socket) -> Optional[socket.socket]:
        with self._lock:
            active = self._conns.pop(accepted, None)
            self._changed.notify_all()
        return active

    # -- what was received ----------------------------------------------------------------------

    @property
    def requests(self) -> List[Received]:
        """Every request so far, in arrival order (a snapshot); ``status`` is 0 until the
        answer is sent, and stays 0 for a request dropped unanswered."""
        with self._lock:
            return list(self._requests)

    @property
    def events(self) -> List[Dict[str, Any]]:
        """Events of the requests answered 2xx, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._events)

    def event_ids(self) -> List[str]:
        """``event_id`` of every accepted event, in arrival order (a resent one appears twice)."""
        return [
            str(e["event_id"]) for e in self.events if isinstance(e, dict) and e.get("event_id")
        ]

    def wait_for_events(self, count: int, timeout: float = 10) -> List[Dict[str, Any]]:
        """Wait until at least ``count`` events were accepted; return them all."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._events) >= count, timeout):
                raise AssertionError(
                    "expected %d event(s) within %ss, got %d (%d request(s): %r)"
                    % (count, timeout, len(self._events), len(self._requests), self._requests[-5:])
                )
            return list(self._events)

    def reset(self) -> None:
        """Forget what was received and go back to the default behaviour."""
        with self._lock:
            self._requests: List[Received] = []
            self._events: List[Dict[str, Any]] = []
            self._rule: Optional[_Rule] = None
            self._delay: Tuple[float, Optional[int]] = (0.0, None)
            self._max_bytes: Optional[int] = None
            self._drops = 0
            self._success_limits: Optional[str] = None
            self.errors = []

    def _answered(self, received: Received, status: int) -> None:
        with self._lock:
            received.status = status
            if 200 <= status < 300:
                self._events.extend(received.events)
            self._changed.notify_all()

    # -- behaviour ------------------------------------------------------------------------------

    def respond(
        self,
        status: int,
        headers: Optional[Dict[str, str]] = None,
        body: bytes = b"",
        times: Optional[int] = None,
        duration: Optional[float] = None,
    ) -> None:
        """Answer ``status`` to the next ``times`` requests and/or for ``duration`` seconds
        (both None: until changed). Replaces the rule of an earlier respond/rate_limit call."""
        fixed = dict(headers or {})
        with self._lock:
            until = None if duration is None else time.time() + duration
            self._rule = _Rule(status, lambda now: dict(fixed), body, times, until)

    def rate_limit(
        self, seconds: float, form: str = "retry-after", categories: str = "", status: int = 429
    ) -> None:
        """Answer ``status`` for ``seconds``, announcing the time left in the window as
        ``form``: "retry-after" (seconds), "http-date" (Retry-After as a date),
        "x-sentry-rate-limits" (``N:categories:key`` plus Retry-After) or "bare" (no header)."""
        if form not in ("retry-after", "http-date", "x-sentry-rate-limits", "bare"):
            raise ValueError("unknown rate-limit form %r" % form)
        end = time.time() + seconds

        def headers(now: float) -> Dict[str, str]:
            left = max(1, math.ceil(end - now))
            if form == "bare":
                return {}
            if form == "http-date":
                return {"Retry-After": email.utils.formatdate(math.ceil(end), usegmt=True)}
            if form == "retry-after":
                return {"Retry-After": str(left)}
            return {
                "X-Sentry-Rate-Limits": "%d:%s:key" % (left, categories),
                "Retry-After": str(left),
            }

        with self._lock:
            self._rule = _Rule(status, headers, b"", None, end)

    def limit_header_on_success(self, value: Optional[str]) -> None:
        """Send ``X-Sentry-Rate-Limits: value`` with every 2xx answer (None: stop)."""
        with self._lock:
            self._success_limits = value

    def slow(self, delay: float, times: Optional[int] = None) -> None:
        """Wait ``delay`` seconds before answering the next ``times`` requests (None: all)."""
        with self._lock:
            self._delay = (delay, times)

    def too_large_over(self, nbytes: Optional[int]) -> None:
        """Answer 413 to requests whose raw body is larger than ``nbytes`` (None: never)."""
        with self._lock:
            self._max_bytes = nbytes

    def reset_connections(self, times: int) -> None:
        """Read the next ``times`` requests, then reset their connection without answering."""
        with self._lock:
            self._drops = times

    def _arrived(self, received: Received) -> Tuple[float, bool]:
        """Record a request as it arrives; return (delay, drop the connection) for it."""
        with self._lock:
            self._requests.append(received)
            if self._drops > 0:
                self._drops -= 1
                return 0.0, True
            delay, times = self._delay
            if delay <= 0 or times == 0:
                return 0.0, False
            if times is not None:
                self._delay = (delay, times - 1)
            return delay, False

    def _answer(self, received: Received) -> Tuple[int, Dict[str, str], bytes]:
        now = time.time()
        headers = {"Content-Type": "application/json"}
        with self._lock:
            max_bytes = self._max_bytes
        if received.kind == "other" or not self.endpoints[received.kind]:
            return 404, headers, b'{"detail":"not found"}'
        if max_bytes is not None and len(received.raw) > max_bytes:
            size = len(received.raw)
            headers["X-Sentry-Error"] = "body of %d bytes over the limit of %d" % (size, max_bytes)
            return 413, headers, b'{"detail":"request too large"}'
        if received.error is not None:
            headers["X-Sentry-Error"] = "bad body: " + received.error
            return 400, headers, json.dumps({"detail": received.error}).encode()
        with self._lock:
            rule, limits = self._rule, self._success_limits
            if rule is not None and not rule.take(now):
                rule = self._rule = None  # used up or expired: back to the default answer
        status, body = 200, b""
        if rule is not None:
            status, body = rule.status, rule.body
            headers.update(rule.headers(now))
        if 200 <= status < 300:
            if limits is not None:
                headers["X-Sentry-Rate-Limits"] = limits
            if not body:
                body = json.dumps({"id": received.event_id} if received.event_id else {}).encode()
        return status, headers, body
