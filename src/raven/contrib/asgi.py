"""ASGI middleware: reports what an ASGI application (Starlette, FastAPI, …) raises, per request.

.. versionadded:: 7.0
"""

from __future__ import annotations

import io
import sys
from collections import deque

from raven.contrib._webrequest import RequestReporter
from raven.middleware import _is_failure

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from collections.abc import Awaitable, MutableMapping
    from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

    from raven.base import Client

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["SentryAsgiMiddleware"]

_EVENT_ID_HEADER = b"x-sentry-id"


class SentryAsgiMiddleware:
    """ASGI middleware: reports exceptions the application raises, with the request attached.

    Each HTTP request starts with an empty context (nothing left by another request or by
    start-up code) holding the request: method, URL without the query, query string,
    headers, cookies, the client address and server (``env``: ``REMOTE_ADDR``,
    ``SERVER_NAME``, ``SERVER_PORT``), and the body when it is a small form or JSON body
    (see ``max_body_size``). Such a body is read before the application runs and replayed
    to it, so the application receives the same messages. The context lives in the task
    serving the request, so concurrent requests never see each other's tags, user or
    breadcrumbs; it is cleared when the request ends. Frameworks run sync (``def``) views
    and dependencies in a thread pool with a *copy* of the request's context: what they set
    there (a user, tags) goes with the events captured in that code, but not with the
    middleware's report of an exception; set it from async code to have it there too.

    What the application raises is captured and raised again, named after the matched route
    when the framework records one (Starlette and FastAPI put it in ``scope["route"]``;
    else the endpoint's name). The event id is sent back in an ``X-Sentry-ID`` header when
    the response starts after an event was captured: an error response sent while the
    exception is being handled (Starlette's and FastAPI's 500, when this middleware wraps
    the whole application), or any response after the application captured an event itself.
    A 500 that the server writes after the exception left the application cannot carry it.

    Lifespan and websocket connections pass through untouched.

    >>> app = SentryAsgiMiddleware(app, client=Client(dsn))

    or ``app.add_middleware(SentryAsgiMiddleware, client=client)`` in Starlette and FastAPI
    (the framework's error middleware then sits outside this one, so its 500 carries no
    ``X-Sentry-ID``).

    Args:
        app: the ASGI application to wrap.
        client: the client that reports; a ``Client()`` configured from the environment
            (``SENTRY_DSN``) when omitted.
        max_body_size: the largest request body, in bytes, that is read for reports
            (default 10 KiB); 0 never reads the body.
    """

    def __init__(
        self, app: ASGIApp, client: Optional[Client] = None, max_body_size: Optional[int] = None
    ) -> None:
        self.app = app
        self._reporter = RequestReporter(client, max_body_size)
        self.client = self._reporter.client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        reporter = self._reporter
        receive, body = await self._read_body(scope, receive)
        try:
            environ = _environ(scope, body)
        except Exception:
            reporter.internal_error("Failed to read the ASGI request for error reports")
            environ = {}
        reporter.start(environ)
        request = _Request(scope)

        async def send_with_event_id(message: Message) -> None:
            if not request.started and message.get("type") == "http.response.start":
                request.started = True
                message = self._add_event_id(request, message)
            await send(message)

        try:
            await self.app(scope, receive, send_with_event_id)
        except BaseException as exc:
            if exc is not request.captured and _is_failure(exc):
                request.captured = exc
                reporter.capture(request.transaction())
            raise
        finally:
            reporter.end()

    def _add_event_id(self, request: _Request, message: Message) -> Message:
        """The response start, with ``X-Sentry-ID`` when an event was captured in the request.

        An error response started while an exception is being handled (a framework's error
        middleware answering 500) is the moment to capture that exception: its id can still
        go out with the response. The same exception is not captured again when it leaves
        the application afterwards.
        """
        reporter = self._reporter
        try:
            status = message.get("status")
            if isinstance(status, int) and status >= 500:
                exc = sys.exc_info()[1]
                if exc is not None and exc is not request.captured and _is_failure(exc):
                    request.captured = exc
                    reporter.capture(request.transaction())
            event_id = reporter.client.last_event_id
            if not event_id:
                return message
            headers = list(message.get("headers") or ())
            if any(bytes(name).lower() == _EVENT_ID_HEADER for name, _ in headers):
                return message
            headers.append((_EVENT_ID_HEADER, event_id.encode("ascii")))
            return {**message, "headers": headers}
        except Exception:
            reporter.internal_error("Failed to add the X-Sentry-ID header")
            return message

    async def _read_body(self, scope: Scope, receive: Receive) -> Tuple[Receive, Optional[bytes]]:
        """Read a small form or JSON body for reports; the app gets a receive that replays it."""
        try:
            wanted = _body_headers(scope)
            if not self._reporter.wants_body(*wanted):
                return receive, None
        except Exception:
            self._reporter.internal_error("Failed to read the ASGI request headers")
            return receive, None
        messages: List[Message] = []
        chunks: List[bytes] = []
        complete = False
        error: Optional[Exception] = None
        try:
            while True:
                message = await receive()
                messages.append(message)
                if message.get("type") != "http.request":
                    break  # the client went away
                chunks.append(bytes(message.get("body") or b""))
                if not message.get("more_body", False):
                    complete = True
                    break
                if sum(map(len, chunks)) > self._reporter.max_body_size:
                    break  # longer than declared: leave the rest to the application
        except Exception as exc:  # the server's receive failed: the app will see it fail too
            error = exc
        return _Replay(messages, receive, error), (b"".join(chunks) if complete else None)


class _Request:
    """What the middleware knows about the request being served."""

    __slots__ = ("app_root", "captured", "scope", "started")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.app_root = str(scope.get("root_path") or "")
        self.captured: Optional[BaseException] = None
        self.started = False

    def transaction(self) -> Optional[str]:
        """The matched route's path template (``/items/{item_id}``), else the endpoint's name.

        Routers record the match in the scope the middleware passed on; a mounted
        application's prefix is part of the template, the server's ``root_path`` is not.
        """
        scope = self.scope
        route = scope.get("route")
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        if route is None:
            path = _route_path_of(scope)
            if path:
                return path
        if isinstance(path, str) and path:
            root = str(scope.get("root_path") or "")
            mount = root[len(self.app_root) :] if root.startswith(self.app_root) else ""
            return mount.rstrip("/") + path
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return None
        name = getattr(endpoint, "__qualname__", None) or type(endpoint).__qualname__
        module = getattr(endpoint, "__module__", None)
        return "%s.%s" % (module, name) if module else str(name)


def _route_path_of(scope: Scope) -> Optional[str]:
    """The template of the route whose endpoint served the request, mounts included.

    For Starlette releases (before 0.4x) that record only ``scope["endpoint"]``; looked up
    in the outermost router, which such releases leave in ``scope["router"]``.
    """
    endpoint = scope.get("endpoint")
    router = scope.get("router")
    if endpoint is None or router is None:
        return None
    try:
        return _find_route(getattr(router, "routes", ()), endpoint, "", 0)
    except Exception:  # a router of another shape: fall back to the endpoint's name
        return None


def _find_route(routes: Any, endpoint: Any, prefix: str, depth: int) -> Optional[str]:
    if depth > 8:  # mounts nest a few levels at most; never walk a cycle
        return None
    for route in routes:
        if getattr(route, "endpoint", None) is endpoint:
            path = getattr(route, "path_format", None) or getattr(route, "path", None)
            return prefix + path if isinstance(path, str) else None
        inner = getattr(route, "routes", None)
        if inner:
            found = _find_route(
                inner, endpoint, prefix + str(getattr(route, "path", "")), depth + 1
            )
            if found:
                return found
    return None


class _Replay:
    """The application's ``receive``: the messages read for the report, then the server's.

    If the server's ``receive`` failed while the body was read, the application gets that
    failure once it has taken the messages that did arrive.
    """

    __slots__ = ("_error", "_messages", "_receive")

    def __init__(
        self, messages: List[Message], receive: Receive, error: Optional[Exception]
    ) -> None:
        self._messages: Deque[Message] = deque(messages)
        self._receive = receive
        self._error = error

    async def __call__(self) -> Message:
        if self._messages:
            return self._messages.popleft()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return await self._receive()


def _body_headers(scope: Scope) -> Tuple[Optional[str], ...]:
    """Content-Type, Content-Length, Transfer-Encoding and Expect, as the client sent them."""
    wanted: Dict[bytes, Optional[str]] = dict.fromkeys(
        (b"content-type", b"content-length", b"transfer-encoding", b"expect")
    )
    for name, value in scope.get("headers") or ():
        name = bytes(name).lower()
        if name in wanted:
            wanted[name] = bytes(value).decode("latin-1")
    return tuple(wanted.values())


def _native(text: str) -> str:
    """A PEP 3333 native string: the UTF-8 bytes of ``text``, one character per byte."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _environ(scope: Scope, body: Optional[bytes] = None) -> Dict[str, Any]:
    """A WSGI-style environ describing an ASGI HTTP request, for error reports.

    Header values are kept as the client sent them (latin-1, as WSGI servers do); a header
    sent more than once is joined with commas (cookies with ``"; "``). ``body``, when given,
    becomes ``wsgi.input``.
    """
    root_path = str(scope.get("root_path") or "")
    path = str(scope.get("path") or "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]  # ASGI servers may include root_path in path
    environ: Dict[str, Any] = {
        "REQUEST_METHOD": str(scope.get("method") or "GET"),
        "SCRIPT_NAME": _native(root_path),
        "PATH_INFO": _native(path),
        "QUERY_STRING": bytes(scope.get("query_string") or b"").decode("latin-1"),
        "wsgi.url_scheme": str(scope.get("scheme") or "http"),
    }
    server = scope.get("server")
    if server:
        environ["SERVER_NAME"] = str(server[0])
        if len(server) > 1 and server[1] is not None:
            environ["SERVER_PORT"] = str(server[1])
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
    for raw_name, raw_value in scope.get("headers") or ():
        key = bytes(raw_name).decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = bytes(raw_value).decode("latin-1")
        if key in environ:
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
        environ[key] = value
    if body is not None:
        environ["wsgi.input"] = io.BytesIO(body)
    return environ
