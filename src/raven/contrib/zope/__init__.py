"""Zope integration: publication-failure subscribers, and 6.10's ``ZopeSentryHandler``.

Zope 4+ serves through WSGI: its zope.conf has no ``<eventlog>`` any more, so the 6.10 way
(a ``<sentry>`` handler inside zope.conf's event log) no longer plugs in. Two ways remain:

* **the subscriber** (recommended): ``<include package="raven.contrib.zope" />`` in
  ``etc/site.zcml`` reports each failed publication (``IPubFailure``) with the request and
  the Zope user, through a client configured from the environment (``SENTRY_DSN``, which
  zope.conf's ``<environment>`` section can set); or, in Python, :func:`register`.
* **the logging handler**: a ``[handler_sentry]`` section in ``etc/zope.ini`` with
  ``class = raven.contrib.zope.ZopeSentryHandler`` and ``args = ('https://…',)``, listed in
  ``[handlers]`` and on the root logger. It reports logged errors (the WSGI server's
  "Exception while serving" record, ``Products.SiteErrorLog``'s), adding the Zope request
  it finds. ZConfig configurations (``%import raven.contrib.zope`` and a ``<sentry>``
  section in a ``<logger>``) keep working through :class:`ZopeSentryHandlerFactory`.

Use one of the two: each reports the same failure.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from inspect import currentframe

import raven.contrib.zconfig
from raven.base import Client
from raven.handlers.logging import SentryHandler
from raven.utils.stacks import iter_stack_frames
from raven.utils.wsgi import get_environ, get_headers

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from types import FrameType
    from typing import Any, Dict, Iterator, Optional, Tuple

try:  # imported by name: Zope ships no type information, and type checkers need none here
    _zexceptions: Any = importlib.import_module("zExceptions")
    _component: Any = importlib.import_module("zope.component")
    _interfaces: Any = importlib.import_module("ZPublisher.interfaces")
except ImportError as exc:  # pragma: no cover - exercised only without Zope installed
    raise ImportError(
        "raven.contrib.zope needs Zope (4 or later): pip install 'raven[zope]' (%s)" % (exc,)
    ) from exc


HTTPException: Any = _zexceptions.HTTPException
IPubStart: Any = _interfaces.IPubStart
IPubSuccess: Any = _interfaces.IPubSuccess
IPubFailure: Any = _interfaces.IPubFailure

__all__ = [
    "PubFailureReporter",
    "SentryHandler",
    "ZopeSentryHandler",
    "ZopeSentryHandlerFactory",
    "get_http_info",
    "get_user_info",
    "handle_pub_failure",
    "handle_pub_start",
    "handle_pub_success",
    "iter_stack_frames",
    "logger",
    "register",
    "unregister",
]

logger = logging.getLogger(__name__)
_error_logger = logging.getLogger("sentry.errors")

#: request bodies up to this many bytes are reported, when they are a form or JSON
MAX_BODY_SIZE = 10 * 1024
_FORM_TYPE = "application/x-www-form-urlencoded"
#: Zope's cookie authentication (``__ac``, ``__ac_name``…) carries credentials: always masked
_AUTH_COOKIE = "__ac"
_MASK = "*" * 8


# -- what is reported ------------------------------------------------------------------------------


def get_http_info(request: Any, max_body_size: int = MAX_BODY_SIZE) -> Dict[str, Any]:
    """The request interface for a Zope ``HTTPRequest``.

    The URL is the one the client asked for (``ACTUAL_URL``, no query). The body is
    included only when it is a form (the fields Zope parsed) or JSON (``BODY``) no larger
    than ``max_body_size``. The values of Zope's login cookies (``__ac…``), which carry
    credentials, are masked. 6.10 read the raw body whatever its size, and sent the whole
    environ as headers (the process environment under CGI, ``wsgi.*`` objects).
    """
    environ = request.environ
    info: Dict[str, Any] = {
        "url": str(request.get("ACTUAL_URL") or request.getURL()),
        "query_string": str(environ.get("QUERY_STRING") or ""),
        "method": str(environ.get("REQUEST_METHOD") or request.method),
        "headers": {name: str(value) for name, value in get_headers(environ)},
        "env": dict(get_environ(environ)),
    }
    cookies = getattr(request, "cookies", None)
    if cookies:
        info["cookies"] = {
            str(name): _MASK if str(name).startswith(_AUTH_COOKIE) else str(value)
            for name, value in cookies.items()
        }
    data = _body(request, max_body_size)
    if data is not None:
        info["data"] = data
    return info


def _body(request: Any, max_body_size: int) -> Optional[Any]:
    environ = request.environ
    length = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not (length.isdigit() and 0 < int(length) <= max_body_size):
        return None
    media_type = str(environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
    if media_type == _FORM_TYPE:
        # Zope has parsed it already (with the query string's fields, as it merges them)
        return {
            str(name): value
            for name, value in request.form.items()
            if isinstance(value, (str, int, float, bool, list, tuple))
        }
    if media_type == "application/json" or media_type.endswith("+json"):
        body = request.get("BODY")  # kept by Zope (and read once) for non-form bodies
        if not isinstance(body, bytes):
            return None
        try:
            return json.loads(body)
        except Exception:
            return body.decode("utf-8", "replace")
    return None


def get_user_info(request: Any) -> Dict[str, Any]:
    """The client address and the authenticated Zope user (id, login name, email property).

    The user is the one traversal authenticated (``AUTHENTICATED_USER``); Anonymous is left
    out.
    """
    user_info: Dict[str, Any] = {}
    address = request.getClientAddr() if hasattr(request, "getClientAddr") else None
    if address:
        user_info["ip_address"] = address
    user = request.get("AUTHENTICATED_USER")
    if user is None or user.getUserName() == "Anonymous User":
        return user_info
    user_id = user.getId()
    if user_id is not None:
        user_info["id"] = str(user_id)
    user_info["username"] = str(user.getUserName())
    get_property = getattr(user, "getProperty", None)
    if get_property is not None:
        try:
            email = get_property("email", None)
        except Exception:
            email = None
        if email:
            user_info["email"] = str(email)
    return user_info


def _is_failure(exc: Optional[BaseException]) -> bool:
    """``NotFound``, ``Unauthorized``, ``Redirect``… are Zope's answers, not failures."""
    if exc is None:
        return False
    if isinstance(exc, HTTPException):
        try:
            return int(exc.getStatus()) >= 500
        except Exception:
            return True
    return isinstance(exc, Exception)


# -- publication events --------------------------------------------------------------------------


class PubFailureReporter:
    """Reports failed Zope publications through ``client``; one request, one fresh context.

    It handles three publication events: ``IPubStart`` (the context starts empty),
    ``IPubFailure`` (the exception is reported with the request and user, unless it is an
    HTTP answer below 500, or a conflict Zope is about to retry) and ``IPubSuccess``/after
    the failure (the context is cleared).

    Args:
        client: the client that reports; a ``Client()`` configured from the environment
            (``SENTRY_DSN``) when omitted.
    """

    #: request bodies up to this many bytes are reported (see :func:`get_http_info`)
    max_body_size = MAX_BODY_SIZE

    def __init__(self, client: Optional[Client] = None) -> None:
        self.client = client if client is not None else Client()

    def on_start(self, event: Any) -> None:
        try:
            context = self.client.context
            context.clear(deactivate=False)
            context.activate()
            self.client.transaction.clear()
        except Exception:
            self._internal_error("Failed to reset the context for a Zope request")

    def on_success(self, event: Any) -> None:
        self._end()

    def on_failure(self, event: Any) -> Optional[str]:
        """Report ``event.exc_info``; returns the event id (also ``request['SENTRY_ID']``)."""
        try:
            exc_info = event.exc_info
            if getattr(event, "retry", False) or not _is_failure(exc_info[1]):
                return None
            return self.capture(event.request, exc_info)
        finally:
            self._end()

    __call__ = on_failure

    def capture(self, request: Any, exc_info: Any) -> Optional[str]:
        client = self.client
        try:
            client.http_context(get_http_info(request, self.max_body_size))
        except Exception:
            self._internal_error("Failed to record the Zope request for error reports")
        try:
            user = get_user_info(request)
            if user:
                client.user_context(user)
        except Exception:
            self._internal_error("Failed to record the Zope user for error reports")
        try:
            event_id = client.captureException(exc_info=exc_info)
        except Exception:
            self._internal_error("Failed to report a Zope publication failure")
            return None
        if event_id:
            try:
                request.response.setHeader("X-Sentry-ID", event_id)
                request.other["SENTRY_ID"] = event_id
            except Exception:
                pass
        return event_id

    def _end(self) -> None:
        try:
            self.client.context.clear()
            self.client.transaction.clear()
        except Exception:
            self._internal_error("Failed to clear the Zope request's context")

    def _internal_error(self, message: str) -> None:
        if getattr(self.client, "raise_send_errors", False):
            raise
        _error_logger.error(message, exc_info=True)


def register(client: Optional[Client] = None) -> PubFailureReporter:
    """Subscribe a :class:`PubFailureReporter` to Zope's publication events; returns it."""
    reporter = PubFailureReporter(client)
    _component.provideHandler(reporter.on_start, (IPubStart,))
    _component.provideHandler(reporter.on_success, (IPubSuccess,))
    _component.provideHandler(reporter.on_failure, (IPubFailure,))
    return reporter


def unregister(reporter: PubFailureReporter) -> None:
    """Undo :func:`register`."""
    registry = _component.getGlobalSiteManager()
    registry.unregisterHandler(reporter.on_start, (IPubStart,))
    registry.unregisterHandler(reporter.on_success, (IPubSuccess,))
    registry.unregisterHandler(reporter.on_failure, (IPubFailure,))


_default: Optional[PubFailureReporter] = None
_default_lock = threading.Lock()


def _default_reporter() -> PubFailureReporter:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = PubFailureReporter()
    return _default


def handle_pub_start(event: Any) -> None:
    """The ZCML subscriber for ``IPubStart`` (``configure.zcml``)."""
    _default_reporter().on_start(event)


def handle_pub_success(event: Any) -> None:
    """The ZCML subscriber for ``IPubSuccess`` (``configure.zcml``)."""
    _default_reporter().on_success(event)


def handle_pub_failure(event: Any) -> None:
    """The ZCML subscriber for ``IPubFailure``: reports through a client built from the
    environment (``SENTRY_DSN``) on first use (``configure.zcml``)."""
    _default_reporter().on_failure(event)


# -- the logging handler (6.10) --------------------------------------------------------------------


def _looks_like_zope_request(value: Any) -> bool:
    return hasattr(value, "environ") and hasattr(value, "getClientAddr") and hasattr(value, "get")


def _frames(start: Optional[FrameType], exc_tb: Any) -> Iterator[FrameType]:
    """The logging call's stack (innermost first), then the traceback's frames."""
    frame = start
    while frame is not None:
        yield frame
        frame = frame.f_back
    frames = []
    while exc_tb is not None:
        frames.append(exc_tb.tb_frame)
        exc_tb = exc_tb.tb_next
    yield from reversed(frames)


def _find_request_and_exc_info(record: logging.LogRecord) -> Tuple[Any, Any]:
    """Find the Zope request and an ``exc_info`` for a record, as 6.10 did, but safer.

    The request is zope.globalrequest's current one if set, else a ``request`` local (or
    ``self.request``) that really is a Zope request, in the logging call's frames or in the
    frames of the record's traceback (by the time a WSGI server logs an error, the Zope
    frames are gone from the stack but live on in the traceback). A record without
    ``exc_info`` takes an ``exc_info`` tuple found in the calling frames.
    """
    exc_info = record.exc_info if record.exc_info and record.exc_info[0] else None
    request = None
    try:
        candidate = importlib.import_module("zope.globalrequest").getRequest()
        if _looks_like_zope_request(candidate):
            request = candidate
    except ImportError:
        pass
    exc_tb = exc_info[2] if exc_info else None
    for frame in _frames(currentframe(), exc_tb):
        f_locals = frame.f_locals
        if request is None:
            candidate = f_locals.get("request")
            if not _looks_like_zope_request(candidate):
                candidate = getattr(f_locals.get("self"), "request", None)
            if _looks_like_zope_request(candidate):
                request = candidate
        if exc_info is None:
            candidate = f_locals.get("exc_info")
            if isinstance(candidate, tuple) and len(candidate) == 3 and candidate[0]:
                exc_info = candidate
        if request is not None and exc_info is not None:
            break
    return request, exc_info


class ZopeSentryHandler(SentryHandler):
    """raven 6.10's logging handler for Zope: a ``SentryHandler`` that adds the Zope request.

    Configure it like :class:`~raven.handlers.logging.SentryHandler` (``'DSN'``, a client,
    or client options); its level defaults to ERROR. Each record it sends carries the
    request and user of the Zope request it was logged for (see
    :func:`_find_request_and_exc_info`), when one can be found.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setLevel(kwargs.get("level", logging.ERROR))

    def emit(self, record: logging.LogRecord) -> Any:
        request = None
        try:
            request, exc_info = _find_request_and_exc_info(record)
            if exc_info is not None and not (record.exc_info and record.exc_info[0]):
                record.exc_info = exc_info
        except Exception:
            logger.warning("Could not find the Zope request of a log record", exc_info=True)
        if request is None:
            return super().emit(record)
        # the request and user go into the context for this one event (6.10 set record
        # attributes named after the legacy interfaces, which current servers refuse)
        context = self.client.context
        saved = {key: context.get(key, _MISSING) for key in ("request", "user")}
        try:
            try:
                context.merge({"request": get_http_info(request)}, activate=False)
                user = get_user_info(request)
                if user:
                    context.merge({"user": user}, activate=False)
            except Exception:
                logger.warning("Could not describe the Zope request of a log record", exc_info=True)
            return super().emit(record)
        finally:
            data = context.data
            for key, value in saved.items():
                if value is _MISSING:
                    data.pop(key, None)
                else:
                    data[key] = value


_MISSING = object()


class ZopeSentryHandlerFactory(raven.contrib.zconfig.Factory):
    """The ZConfig factory of this package's ``<sentry>`` section (``component.xml``)."""

    #: the section keys passed on to the handler (and through it to the client)
    keys = (
        "dsn",
        "site",
        "name",
        "release",
        "environment",
        "project",
        "timeout",
        "exclude_paths",
        "include_paths",
        "list_max_length",
        "string_max_length",
        "auto_log_stacks",
        "processors",
    )

    def create(self) -> ZopeSentryHandler:
        options = {key: getattr(self.section, key, None) for key in self.keys}
        options = {key: value for key, value in options.items() if value is not None}
        return ZopeSentryHandler(level=self.section.level, **options)
