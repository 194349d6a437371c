"""Pyramid integration: a tween that reports view errors with the request and the user.

Add it with ``config.include('raven.contrib.pyramid')`` (or in the ini file,
``pyramid.includes = raven.contrib.pyramid``), which places
:func:`sentry_tween_factory` just above Pyramid's exception-view tween. The client is read
from the application settings, ``sentry.<option>`` for every :class:`~raven.base.Client`
option::

    [app:main]
    pyramid.includes = raven.contrib.pyramid
    sentry.dsn = https://public@sentry.example.com/1
    sentry.release = 1.4.2
    sentry.include_paths = myshop

or set one up yourself with ``config.registry.sentry_client = Client(...)`` before the app
is made.

.. versionadded:: 7.0
"""

from __future__ import annotations

import importlib
import json
import logging
import sys

from raven.base import Client
from raven.contrib.paste import _from_ini
from raven.middleware import _charset, _parse_form
from raven.utils.imports import import_string
from raven.utils.wsgi import get_cookies, get_environ, get_headers

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Mapping, Optional

try:  # imported by name: Pyramid ships no type information, and type checkers need none here
    _httpexceptions: Any = importlib.import_module("pyramid.httpexceptions")
except ImportError as exc:  # pragma: no cover - exercised only without Pyramid installed
    raise ImportError(
        "raven.contrib.pyramid needs Pyramid (1.10 or later): pip install 'raven[pyramid]' (%s)"
        % (exc,)
    ) from exc


HTTPException: Any = _httpexceptions.HTTPException
HTTPNotFound: Any = _httpexceptions.HTTPNotFound

__all__ = [
    "EXCVIEW",
    "SentryTween",
    "client_from_settings",
    "get_client",
    "includeme",
    "sentry_tween_factory",
]

_error_logger = logging.getLogger("sentry.errors")

#: Pyramid's exception-view tween (``pyramid.tweens.EXCVIEW``), spelled out so that
#: importing this module does not import Pyramid's tween machinery
EXCVIEW = "pyramid.tweens.excview_tween_factory"
#: prefix of the client options in the application settings
SETTINGS_PREFIX = "sentry."
#: the registry attribute holding the client the tween reports through
REGISTRY_ATTR = "sentry_client"

_FORM_TYPE = "application/x-www-form-urlencoded"


def includeme(config: Any) -> None:
    """``config.include('raven.contrib.pyramid')``: add the tween above the exception views."""
    config.add_tween("raven.contrib.pyramid.sentry_tween_factory", over=EXCVIEW)


def client_from_settings(settings: Mapping[str, Any]) -> Client:
    """A client built from the ``sentry.*`` application settings.

    Ini values are strings: list options (``include_paths``, ``exclude_paths``,
    ``ignore_exceptions``, ``processors``, ``sanitize_keys``) are split on spaces and commas,
    boolean ones read as true/false, as the Paste filter does. ``sentry.transport`` and
    ``sentry.client_class`` (another client class) are dotted paths; a bad option raises at
    start-up.
    """
    options = {
        key[len(SETTINGS_PREFIX) :]: value
        for key, value in settings.items()
        if key.startswith(SETTINGS_PREFIX)
    }
    client_cls: Any = options.pop("client_class", None) or Client
    if isinstance(client_cls, str):
        client_cls = import_string(client_cls)
    if isinstance(options.get("transport"), str):
        options["transport"] = import_string(options["transport"])
    client: Client = client_cls(**_from_ini(options))
    return client


def get_client(registry: Any) -> Client:
    """The registry's client (``registry.sentry_client``), built from its settings if unset."""
    client = getattr(registry, REGISTRY_ATTR, None)
    if client is None:
        client = client_from_settings(getattr(registry, "settings", None) or {})
        setattr(registry, REGISTRY_ATTR, client)
    return client


def _is_failure(exc: BaseException) -> bool:
    """HTTP exceptions below 500 (``HTTPNotFound``, ``HTTPFound``, ``HTTPForbidden``…) are
    how views answer, not failures."""
    if isinstance(exc, HTTPException):
        return int(getattr(exc, "code", 500) or 500) >= 500
    return isinstance(exc, Exception)


def _is_excview_rethrow(exc: BaseException) -> bool:
    """Whether ``exc`` was raised again by the exception-view tween after it found no view.

    The tween looks for an exception view while handling ``exc``; finding none,
    ``request.invoke_exception_view`` raises ``HTTPNotFound``, in whose handler ``exc`` is
    raised again. So ``exc.__context__`` is that ``HTTPNotFound`` (Python cuts the cycle
    back to ``exc``): Pyramid's plumbing, not part of what went wrong, and left out of the
    report.
    """
    context = exc.__context__
    if exc.__cause__ is not None or exc.__suppress_context__:
        return False
    if not isinstance(context, HTTPNotFound) or context.__context__ not in (None, exc):
        return False
    tb = context.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == "invoke_exception_view"


class SentryTween:
    """Reports exceptions raised by the views below it, with the request and the user.

    Each request starts with an empty context holding the request (URL without the query,
    query string, method, headers, cookies, server variables, and the form or JSON body when
    small enough, see :meth:`get_http_info`); it is cleared when the request leaves the tween.

    An exception is reported when it escapes the views, or when an exception view turned it
    into a response with a 5xx status (an exception view rendering a 4xx page handled it).
    HTTP exceptions below 500 are never reported. The user is the client address and
    ``request.authenticated_userid``, read only when something is reported (it may query a
    database). The event id is sent back as ``X-Sentry-ID`` on a 5xx response and kept as
    ``request.environ['sentry.event_id']``.

    Args:
        handler: the next tween (or the router).
        registry: the application registry; see :func:`get_client`.
    """

    #: request bodies up to this many bytes are reported (see ``get_http_info``)
    max_body_size = 10 * 1024

    def __init__(self, handler: Callable[[Any], Any], registry: Any) -> None:
        self.handler = handler
        self.registry = registry
        self.client = get_client(registry)

    def __call__(self, request: Any) -> Any:
        self._start(request)
        try:
            response = self.handler(request)
        except Exception as exc:
            if _is_failure(exc):
                self._report(request, sys.exc_info())
            raise
        else:
            exc_info = getattr(request, "exc_info", None)  # set when an exception view ran
            if (
                exc_info
                and exc_info[1] is not None
                and _is_failure(exc_info[1])
                and getattr(response, "status_int", 500) >= 500
            ):
                event_id = self._report(request, exc_info)
                if event_id:
                    try:
                        response.headers["X-Sentry-ID"] = event_id
                    except Exception:
                        self._internal_error("Failed to add the X-Sentry-ID header")
            return response
        finally:
            self._end()

    def _start(self, request: Any) -> None:
        try:
            client = self.client
            context = client.context
            context.clear(deactivate=False)
            context.activate()
            client.transaction.clear()
            client.http_context(self.get_http_info(request))
        except Exception:
            self._internal_error("Failed to record the Pyramid request for error reports")

    def _end(self) -> None:
        try:
            self.client.context.clear()
            self.client.transaction.clear()
        except Exception:
            self._internal_error("Failed to clear the Pyramid request's context")

    def _report(self, request: Any, exc_info: Any) -> Optional[str]:
        client = self.client
        try:
            client.user_context(self.get_user_info(request))
        except Exception:
            self._internal_error("Failed to record the Pyramid user for error reports")
        name = self._transaction_name(request)
        exc = exc_info[1]
        hide = _is_excview_rethrow(exc)
        try:
            if name:
                client.transaction.push(name)
            if hide:
                exc.__suppress_context__ = True
            event_id = client.captureException(exc_info=exc_info)
        except Exception:
            self._internal_error("Failed to report a Pyramid view's exception")
            return None
        finally:
            if hide:
                exc.__suppress_context__ = False
            if name:
                client.transaction.pop(name)
        if event_id:
            request.environ["sentry.event_id"] = event_id
        return event_id

    # -- what is reported --------------------------------------------------------------------

    def _transaction_name(self, request: Any) -> Optional[str]:
        route = getattr(request, "matched_route", None)
        if route is not None:
            pattern: Optional[str] = getattr(route, "pattern", None) or getattr(route, "name", None)
            return pattern
        view_name = getattr(request, "view_name", None)
        return view_name or None

    def get_user_info(self, request: Any) -> Dict[str, Any]:
        """Client address (first ``X-Forwarded-For`` entry) and the authenticated user id."""
        user: Dict[str, Any] = {}
        address = request.client_addr
        if address:
            user["ip_address"] = address
        userid = request.authenticated_userid
        if userid is not None:
            user["id"] = str(userid)
        return user

    def get_http_info(self, request: Any) -> Dict[str, Any]:
        """The request interface; the body only when it is safe to read (see below).

        The body is read when it is a form or JSON no larger than :attr:`max_body_size`, sent
        with a ``Content-Length`` and without ``Expect: 100-continue``; WebOb keeps it, so
        the view reads the same body.
        """
        environ = request.environ
        info: Dict[str, Any] = {
            "url": request.path_url,
            "query_string": request.query_string,
            "method": request.method,
            "headers": dict(get_headers(environ)),
            "env": dict(get_environ(environ)),
        }
        if environ.get("HTTP_COOKIE"):
            info["cookies"] = get_cookies(environ)
        data = self._body(request)
        if data is not None:
            info["data"] = data
        return info

    def _body(self, request: Any) -> Optional[Any]:
        environ = request.environ
        length = request.content_length
        if length is None or not 0 < length <= self.max_body_size:
            return None
        if environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        if "100-continue" in str(environ.get("HTTP_EXPECT", "")).lower():
            return None
        media_type, _, params = str(environ.get("CONTENT_TYPE") or "").partition(";")
        media_type = media_type.strip().lower()
        is_json = media_type == "application/json" or media_type.endswith("+json")
        if not is_json and media_type != _FORM_TYPE:
            return None
        body = request.body  # WebOb makes the body re-readable for the view
        if is_json:
            try:
                return json.loads(body)
            except Exception:
                return body.decode("utf-8", "replace")
        return _parse_form(body, _charset(params))

    def _internal_error(self, message: str) -> None:
        if getattr(self.client, "raise_send_errors", False):
            raise
        _error_logger.error(message, exc_info=True)


def sentry_tween_factory(handler: Callable[[Any], Any], registry: Any) -> SentryTween:
    """The tween factory for ``config.add_tween('raven.contrib.pyramid.sentry_tween_factory',
    over=EXCVIEW)``; :func:`includeme` adds it so."""
    return SentryTween(handler, registry)
