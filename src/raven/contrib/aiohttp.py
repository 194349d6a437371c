"""aiohttp server integration: a middleware that reports what request handlers raise.

.. versionadded:: 7.0
"""

from __future__ import annotations

import io

try:
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - exercised only without aiohttp installed
    raise ImportError(
        "raven.contrib.aiohttp needs aiohttp (3.7 or later): pip install 'raven[aiohttp]' (%s)"
        % (exc,)
    ) from exc

from raven.contrib._webrequest import RequestReporter
from raven.middleware import _is_failure

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Awaitable, Callable, Dict, Optional

    from aiohttp.typedefs import Middleware

    from raven.base import Client

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["EVENT_ID_KEY", "sentry_middleware", "setup"]

#: request key holding the id of the event captured for the request's unhandled exception
EVENT_ID_KEY: Any = (
    web.RequestKey("raven.event_id", str) if hasattr(web, "RequestKey") else "raven.event_id"
)


def sentry_middleware(
    client: Optional[Client] = None, max_body_size: Optional[int] = None
) -> Middleware:
    """An aiohttp middleware that reports what handlers raise, with the request attached.

    Each request starts with an empty context (its own task's: concurrent requests never see
    each other's tags, user or breadcrumbs) holding the request: method, URL without the
    query, query string, headers, cookies, client address and server (``env``), and the
    body when it is a small form or JSON body (read through aiohttp's cache, so the handler
    reads it again unchanged). The context is cleared when the request ends.

    Exceptions a handler raises are captured and raised again, named after the route's path
    template (``/items/{id}``). ``HTTPException`` responses below 500 (redirects, 404s, …)
    are not errors and are not reported. The event id goes back in an ``X-Sentry-ID``
    header on ``HTTPException`` responses from 500 up, on responses returned after the
    handler captured an event itself, and, with :func:`setup`, on the 500 aiohttp writes
    for an unhandled exception.

    >>> app = web.Application(middlewares=[sentry_middleware(Client(dsn))])

    Args:
        client: the client that reports; a ``Client()`` configured from the environment
            (``SENTRY_DSN``) when omitted.
        max_body_size: the largest request body, in bytes, that is read for reports
            (default 10 KiB); 0 never reads the body.

    Raises:
        ConfigurationError: ``max_body_size`` is not a number of bytes.
    """
    reporter = RequestReporter(client, max_body_size)

    @web.middleware
    async def raven_sentry(request: web.Request, handler: Handler) -> web.StreamResponse:
        reporter.start(await _environ(reporter, request))
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 500:
                event_id = reporter.capture(_transaction(request))
                _set_event_id(reporter, exc.headers, event_id, "X-Sentry-ID")
            raise
        except BaseException as exc:
            if _is_failure(exc):
                _set_event_id(reporter, request, reporter.capture(_transaction(request)))
            raise
        else:
            event_id = reporter.client.last_event_id  # captured by the handler itself
            if event_id and not response.prepared:
                _set_event_id(reporter, response.headers, event_id, "X-Sentry-ID")
            return response
        finally:
            reporter.end()

    return raven_sentry


def setup(
    app: web.Application, client: Optional[Client] = None, max_body_size: Optional[int] = None
) -> Middleware:
    """Add :func:`sentry_middleware` to ``app``, and send ``X-Sentry-ID`` with the 500 that
    aiohttp writes for an unhandled exception (an ``on_response_prepare`` signal).

    Call it while configuring the application, before it starts. Returns the middleware.
    """
    middleware = sentry_middleware(client, max_body_size)
    app.middlewares.append(middleware)

    async def add_event_id(request: web.Request, response: web.StreamResponse) -> None:
        event_id = request.get(EVENT_ID_KEY)
        if event_id and "X-Sentry-ID" not in response.headers:
            response.headers["X-Sentry-ID"] = event_id

    app.on_response_prepare.append(add_event_id)
    return middleware


def _set_event_id(
    reporter: RequestReporter, mapping: Any, event_id: Optional[str], key: Any = EVENT_ID_KEY
) -> None:
    """Store the event id in a response's headers, or (by default) in the request."""
    if not event_id:
        return
    try:
        mapping[key] = event_id
    except Exception:
        reporter.internal_error("Failed to record the event id for the response")


def _transaction(request: web.Request) -> Optional[str]:
    """The matched resource's path template, else the handler's name."""
    try:
        route = request.match_info.route
        resource = route.resource
        if resource is not None and resource.canonical:
            return resource.canonical
        handler = route.handler
        name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
        return "%s.%s" % (handler.__module__, name)
    except Exception:
        return None


async def _environ(reporter: RequestReporter, request: web.Request) -> Dict[str, Any]:
    """A WSGI-style environ describing the request (see :mod:`raven.contrib._webrequest`)."""
    try:
        headers = request.headers
        environ: Dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": request.path.encode("utf-8", "surrogateescape").decode("latin-1"),
            "QUERY_STRING": request.rel_url.raw_query_string,
            "wsgi.url_scheme": request.scheme,
        }
        if request.remote:
            environ["REMOTE_ADDR"] = request.remote
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            environ["SERVER_NAME"], environ["SERVER_PORT"] = str(sockname[0]), str(sockname[1])
        for name in headers:
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            if key not in environ:
                joiner = "; " if key == "HTTP_COOKIE" else ","
                environ[key] = joiner.join(headers.getall(name))
    except Exception:
        reporter.internal_error("Failed to read the aiohttp request for error reports")
        return {}
    wanted = reporter.wants_body(
        headers.get("Content-Type"),
        headers.get("Content-Length"),
        headers.get("Transfer-Encoding"),
        headers.get("Expect"),
    )
    if wanted and request.can_read_body:
        try:
            body = await request.read()  # cached: the handler reads the same bytes
        except Exception:  # the client went away; the handler will find out itself
            return environ
        environ["wsgi.input"] = io.BytesIO(body)
    return environ
