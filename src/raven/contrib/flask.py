"""Flask integration: ``Sentry(app)`` reports a Flask application's errors with request and user."""

from __future__ import annotations

import importlib
import logging
import sys
from urllib.parse import urlsplit

try:
    import blinker
    from flask import current_app, g, has_app_context, request
    from flask.signals import got_request_exception, request_finished, request_started
    from werkzeug.exceptions import ClientDisconnected
except ImportError as exc:  # pragma: no cover - exercised only without Flask installed
    raise ImportError(
        "raven.contrib.flask needs Flask (1.0 or later) and blinker: "
        "pip install 'raven[flask]' (%s)" % (exc,)
    ) from exc

from raven.base import Client
from raven.conf import setup_logging
from raven.contrib._extension import ClientForwarding
from raven.handlers.logging import SentryHandler
from raven.middleware import Sentry as SentryMiddleware
from raven.utils.conf import convert_options
from raven.utils.encoding import to_unicode
from raven.utils.wsgi import get_environ, get_headers

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Optional

    from flask import Flask

try:  # optional; imported by name so type checkers need no stubs for it
    _flask_login: Any = importlib.import_module("flask_login")
except ImportError:
    _flask_login = None
    has_flask_login = False
else:
    has_flask_login = True

__all__ = [
    "Client",
    "Sentry",
    "SentryHandler",
    "SentryMiddleware",
    "convert_options",
    "get_environ",
    "get_headers",
    "has_flask_login",
    "logging_configured",
    "make_client",
    "raven_signals",
    "setup_logging",
    "to_unicode",
]

_error_logger = logging.getLogger("sentry.errors")

raven_signals = blinker.Namespace()
#: sent by ``init_app`` once logging is set up (``sentry_handler=SentryHandler``, ``exclude=…``)
logging_configured = raven_signals.signal("logging_configured")

#: request bodies of these media types are reported; others (uploads, binary) are left out
_FORM_TYPES = frozenset(["application/x-www-form-urlencoded", "multipart/form-data"])


def make_client(client_cls: Callable[..., Any], app: Flask, dsn: Optional[str] = None) -> Any:
    """Build the client from ``app.config`` (``SENTRY_CONFIG``, ``RAVEN_CONFIG``, ``SENTRY_*``).

    The application's package is always an in-app path (added to ``SENTRY_INCLUDE_PATHS``
    rather than replaced by it, as 6.10 did), and the legacy
    ``RAVEN_IGNORE_EXCEPTIONS`` setting is the default for ``ignore_exceptions``.
    """
    options = convert_options(
        app.config,
        defaults={
            "dsn": dsn,
            "ignore_exceptions": app.config.get("RAVEN_IGNORE_EXCEPTIONS", []),
        },
    )
    paths = options.get("include_paths") or ()
    if isinstance(paths, str):
        paths = [paths]
    options["include_paths"] = sorted(set(paths) | {app.import_name})
    return client_cls(**options)


#: environ key naming the exception the signal handler already captured in this request
_CAPTURED_KEY = "raven.flask.captured_exception"
#: environ key holding that exception's event id, for the response header
_EVENT_ID_KEY = "raven.flask.event_id"


class _Middleware(SentryMiddleware):
    """The WSGI middleware, minus what ``got_request_exception`` already reported.

    When Flask propagates errors (testing or debug mode, ``PROPAGATE_EXCEPTIONS``) a view's
    exception is signalled and then re-raised through the middleware; its traceback has grown
    by then, so the client's "already captured" check no longer recognises it.
    """

    def handle_exception(self, environ: Optional[Dict[str, Any]] = None) -> Optional[str]:
        if environ is not None and environ.get(_CAPTURED_KEY) is sys.exc_info()[1]:
            return None
        return super().handle_exception(environ)

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Add ``X-Sentry-ID`` to error responses Flask finalised without signalling.

        Before Flask 1.1 an unhandled exception's 500 response skipped ``request_finished``,
        so :meth:`Sentry.after_request` never saw it; the id is still in the environ here.
        """

        def start(status: str, headers: Any, *exc_info: Any) -> Any:
            event_id = environ.get(_EVENT_ID_KEY)
            if event_id and not any(k.lower() == "x-sentry-id" for k, _ in headers):
                headers = [*headers, ("X-Sentry-ID", event_id)]
            return start_response(status, headers, *exc_info)

        return super().__call__(environ, start)


class Sentry(ClientForwarding):
    """Reports what a Flask application's views raise, with the request and logged-in user.

    Each request starts with an empty context holding the request (URL without the query,
    query string, method, headers, cookies, server variables, and the form or JSON body when
    it is small enough to read safely, see :meth:`get_http_info`) and the user (client
    address, and with Flask-Login the authenticated user's id plus the attributes named in
    the ``SENTRY_USER_ATTRS`` setting). The context is cleared when the request ends.

    Unhandled view exceptions are captured through Flask's ``got_request_exception`` signal;
    ``abort()``/HTTP exceptions are responses, not errors, and are never reported. The id of
    an event captured during a request is :attr:`last_event_id` (also ``g.sentry_event_id``)
    and is sent back in the ``X-Sentry-ID`` response header.

    >>> sentry = Sentry(app, dsn="https://public@sentry.example.com/1")

    or, with an application factory, ``sentry = Sentry()`` then ``sentry.init_app(app)``.

    Args:
        app: the application; ``init_app(app)`` is called when given.
        client: the client to report through; built by :func:`make_client` from
            ``app.config`` with ``client_cls`` when omitted.
        client_cls: the client class to build.
        dsn: the DSN when the client is built (else ``SENTRY_DSN`` config or environment).
        logging: also report log records at ``level`` or above (a
            :class:`~raven.handlers.logging.SentryHandler` on the root logger).
        logging_exclusions: loggers kept out of that handler (default
            :data:`raven.conf.EXCLUDE_LOGGER_DEFAULTS`).
        level: the lowest level the logging handler reports.
        wrap_wsgi: wrap ``app.wsgi_app`` in the WSGI middleware too, which reports what
            escapes Flask itself; default True, or False when ``app.debug`` (the debugger
            re-raises errors, which would report them twice).
        register_signal: capture unhandled view exceptions (``got_request_exception``).
    """

    #: request bodies up to this many bytes are read and reported (see ``get_http_info``)
    max_body_size = SentryMiddleware.max_body_size

    def __init__(
        self,
        app: Optional[Flask] = None,
        client: Optional[Client] = None,
        client_cls: Callable[..., Any] = Client,
        dsn: Optional[str] = None,
        logging: bool = False,
        logging_exclusions: Optional[Any] = None,
        level: int = logging.NOTSET,
        wrap_wsgi: Optional[bool] = None,
        register_signal: bool = True,
    ) -> None:
        if client is not None and not isinstance(client, Client):
            raise TypeError("client should be an instance of Client, got %r" % (client,))
        self.dsn = dsn
        self.logging = logging
        self.logging_exclusions = logging_exclusions
        self.client_cls = client_cls
        self.client = client
        self.level = level
        self.wrap_wsgi = wrap_wsgi
        self.register_signal = register_signal
        self._last_event_id: Optional[str] = None
        if app is not None:
            self.init_app(app)

    # -- set-up ------------------------------------------------------------------------------

    def init_app(
        self,
        app: Flask,
        dsn: Optional[str] = None,
        logging: Optional[bool] = None,
        level: Optional[int] = None,
        logging_exclusions: Optional[Any] = None,
        wrap_wsgi: Optional[bool] = None,
        register_signal: Optional[bool] = None,
    ) -> None:
        """Hook into ``app``; arguments that are not None override the constructor's."""
        if dsn is not None:
            self.dsn = dsn
        if level is not None:
            self.level = level
        if wrap_wsgi is not None:
            self.wrap_wsgi = wrap_wsgi
        elif self.wrap_wsgi is None:
            self.wrap_wsgi = not app.debug
        if register_signal is not None:
            self.register_signal = register_signal
        if logging is not None:
            self.logging = logging
        if logging_exclusions is not None:
            self.logging_exclusions = logging_exclusions

        if self.client is None:
            self.client = make_client(self.client_cls, app, self.dsn)

        if self.logging:
            self._setup_logging(app)

        wrapped = bool(self.wrap_wsgi)
        if wrapped:
            app.wsgi_app = _Middleware(app.wsgi_app, self.client)  # type: ignore[method-assign]

        request_started.connect(self._start_request, sender=app)
        app.before_request(self.before_request)
        request_finished.connect(self.after_request, sender=app)

        def end_request(exc: Optional[BaseException]) -> None:
            # With the middleware, it clears the context once it has reported what escapes;
            # clearing here would make it report again an error already captured.
            self._end_request(clear=not (wrapped and exc is not None))

        app.teardown_request(end_request)
        if self.register_signal:
            got_request_exception.connect(self.handle_exception, sender=app)

        if not hasattr(app, "extensions"):
            app.extensions = {}
        app.extensions["sentry"] = self

    def _setup_logging(self, app: Flask) -> None:
        kwargs: Dict[str, Any] = {}
        if self.logging_exclusions is not None:
            kwargs["exclude"] = self.logging_exclusions
        handler = SentryHandler(self.client, level=self.level)
        setup_logging(handler, **kwargs)
        if app.logger.propagate is False:
            app.logger.addHandler(handler)
        logging_configured.send(self, sentry_handler=SentryHandler, **kwargs)

    # -- per request -------------------------------------------------------------------------

    @property
    def last_event_id(self) -> Optional[str]:
        """The id of the last event captured through this object, in this request if any."""
        if has_app_context():
            event_id = g.get("sentry_event_id", _MISSING)
            if event_id is not _MISSING:
                return event_id
        return self._last_event_id

    @last_event_id.setter
    def last_event_id(self, value: Optional[str]) -> None:
        self._last_event_id = value
        if has_app_context():
            g.sentry_event_id = value

    def _start_request(self, sender: Any, **kwargs: Any) -> None:
        """Start every request with an empty context, whatever earlier code left in it."""
        try:
            context = self.client.context
            context.clear(deactivate=False)
            context.activate()
        except Exception:
            self._internal_error("Failed to reset the context for a Flask request")

    def before_request(self, *args: Any, **kwargs: Any) -> None:
        """Record the request and the user in the context; name the transaction after the rule."""
        self.last_event_id = None
        client = self.client
        if client is None:
            return
        try:
            rule = request.url_rule.rule if request.url_rule is not None else None
            if rule is not None:
                client.transaction.push(rule)
                g._raven_transaction = rule
        except Exception:
            self._internal_error("Failed to name the transaction")
        try:
            client.http_context(self.get_http_info(request))
        except Exception:
            self._internal_error("Failed to record the Flask request for error reports")
        try:
            client.user_context(self.get_user_info(request))
        except Exception:
            self._internal_error("Failed to record the Flask user for error reports")

    def after_request(self, sender: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        """Send the event id back as ``X-Sentry-ID``, then clear the context."""
        try:
            event_id = self.last_event_id
            if event_id:
                response.headers["X-Sentry-ID"] = event_id
        except Exception:
            self._internal_error("Failed to add the X-Sentry-ID header")
        self._end_request(clear=True)
        return response

    def _end_request(self, clear: bool) -> None:
        client = self.client
        if client is None:
            return
        try:
            rule = g.pop("_raven_transaction", None) if has_app_context() else None
            if rule is not None:
                client.transaction.pop(rule)
            if clear:
                client.context.clear()
        except Exception:
            self._internal_error("Failed to clear the Flask request's context")

    def handle_exception(self, *args: Any, **kwargs: Any) -> None:
        """Capture the exception a ``got_request_exception`` signal carries (or ``exc_info=``)."""
        if self.client is None:
            return
        exception = kwargs.get("exception")
        if isinstance(exception, BaseException):
            exc_info: Any = (type(exception), exception, exception.__traceback__)
        else:
            exc_info = kwargs.get("exc_info")
        event_id = self.captureException(exc_info=exc_info)
        try:
            if exc_info and exc_info is not True:
                request.environ[_CAPTURED_KEY] = exc_info[1]
                request.environ[_EVENT_ID_KEY] = event_id
        except Exception:  # called by hand outside a request
            pass

    # -- what is reported --------------------------------------------------------------------

    def get_user_info(self, request: Any) -> Dict[str, Any]:
        """The user interface: client address; Flask-Login's authenticated user when set up."""
        user_info: Dict[str, Any] = {}
        route = request.access_route
        ip_address = route[0] if route else request.remote_addr
        if ip_address:
            user_info["ip_address"] = ip_address
        if _flask_login is None or not hasattr(current_app, "login_manager"):
            return user_info
        current_user = _flask_login.current_user
        try:
            is_authenticated = current_user.is_authenticated
        except AttributeError:  # a login manager that never loaded a user in this request
            return user_info
        if callable(is_authenticated):  # Flask-Login < 0.3
            is_authenticated = is_authenticated()
        if not is_authenticated:
            return user_info
        user_info["id"] = current_user.get_id()
        for attr in current_app.config.get("SENTRY_USER_ATTRS", ()):
            if hasattr(current_user, attr):
                user_info[attr] = getattr(current_user, attr)
        return user_info

    def get_http_info(self, request: Any) -> Dict[str, Any]:
        """The request interface; the body is read with :meth:`get_json_data` or form data."""
        if self.is_json_type(request.mimetype):
            retriever = self.get_json_data
        else:
            retriever = self.get_form_data
        return self.get_http_info_with_retriever(request, retriever)

    def is_json_type(self, content_type: Optional[str]) -> bool:
        content_type = (content_type or "").lower()
        return content_type == "application/json" or content_type.endswith("+json")

    def get_form_data(self, request: Any) -> Any:
        """The form fields (not uploaded files); a field sent twice maps to its list of values."""
        form = request.form
        return {key: (values[0] if len(values) == 1 else values) for key, values in form.lists()}

    def get_json_data(self, request: Any) -> Any:
        """The parsed JSON body (so processors can scrub its keys), or its text if malformed."""
        data = request.get_json(silent=True, cache=True)
        if data is None:
            return request.get_data(cache=True, as_text=True)
        return data

    def get_http_info_with_retriever(
        self, request: Any, retriever: Optional[Callable[[Any], Any]] = None
    ) -> Dict[str, Any]:
        """The request interface, with the body read by ``retriever`` when it is safe to read.

        The body is read only when it is JSON or a form, sent with a ``Content-Length`` no
        larger than :attr:`max_body_size`, and without ``Expect: 100-continue``. It is read
        into Flask's cache (``request.get_data(cache=True)``) first, so the view still
        gets the same ``request.form``, ``request.files``, ``request.json`` and raw data.
        """
        if retriever is None:
            retriever = self.get_form_data
        parts = urlsplit(request.url)
        info: Dict[str, Any] = {
            "url": "%s://%s%s" % (parts.scheme, parts.netloc, parts.path),
            "query_string": to_unicode(request.environ.get("QUERY_STRING", "")),
            "method": request.method,
            "headers": dict(get_headers(request.environ)),
            "env": dict(get_environ(request.environ)),
        }
        if request.cookies:
            info["cookies"] = dict(request.cookies)
        if self._body_is_safe(request):
            try:
                request.get_data(cache=True)
                info["data"] = retriever(request)
            except ClientDisconnected:
                info["data"] = {}
        return info

    def _body_is_safe(self, request: Any) -> bool:
        mimetype = (request.mimetype or "").lower()
        if mimetype not in _FORM_TYPES and not self.is_json_type(mimetype):
            return False
        length = request.content_length
        if length is None or length > self.max_body_size:
            return False
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            return False
        return "100-continue" not in request.headers.get("Expect", "").lower()

    # -- helpers -----------------------------------------------------------------------------

    def captureException(self, *args: Any, **kwargs: Any) -> Optional[str]:
        """``client.captureException``; the event id becomes :attr:`last_event_id`."""
        if self.client is None:
            self._unconfigured("captureException")
            return None
        result = self.client.captureException(*args, **kwargs)
        self.last_event_id = result or None
        return result

    def captureMessage(self, *args: Any, **kwargs: Any) -> Optional[str]:
        """``client.captureMessage``; the event id becomes :attr:`last_event_id`."""
        if self.client is None:
            self._unconfigured("captureMessage")
            return None
        result = self.client.captureMessage(*args, **kwargs)
        self.last_event_id = result or None
        return result

    def _unconfigured(self, name: str) -> None:
        _error_logger.error("Sentry.%s called before init_app(app); nothing was recorded", name)


_MISSING = object()
