"""Sanic integration: ``Sentry(app)`` reports a Sanic application's errors with the request."""

from __future__ import annotations

import inspect
import json
import logging
from contextvars import ContextVar
from urllib.parse import urlsplit

try:
    import blinker
    from sanic import Sanic
    from sanic.exceptions import SanicException
except ImportError as exc:  # pragma: no cover - exercised only without Sanic installed
    raise ImportError(
        "raven.contrib.sanic needs Sanic (20.12 or later) and blinker: "
        "pip install 'raven[sanic]' (%s)" % (exc,)
    ) from exc

from raven.base import Client
from raven.conf import EXCLUDE_LOGGER_DEFAULTS, setup_logging
from raven.contrib._extension import ClientForwarding
from raven.handlers.logging import SentryHandler
from raven.utils.conf import convert_options
from raven.utils.encoding import to_unicode

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

__all__ = [
    "Client",
    "Sentry",
    "SentryHandler",
    "convert_options",
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

#: Sanic's own loggers, kept out of the logging handler by default: ``sanic.error`` logs every
#: unhandled exception the error handler already reports, ``sanic.access`` every request.
#: (6.10 listed ``'root'``, which Python 3.9+ resolves to the root logger itself.)
SANIC_LOGGERS = ("sanic.root", "sanic.error", "sanic.access", "sanic.server", "sanic.websockets")
DEFAULT_LOGGING_EXCLUSIONS = (*EXCLUDE_LOGGER_DEFAULTS, *SANIC_LOGGERS)

#: request bodies of these media types are reported (parsed); others are left out
_FORM_TYPES = frozenset(["application/x-www-form-urlencoded", "multipart/form-data"])

#: the request being handled in this task, so ``last_event_id`` can be kept per request
_current_request: ContextVar[Any] = ContextVar("raven_sanic_request", default=None)


def make_client(client_cls: Callable[..., Any], app: Sanic, dsn: Optional[str] = None) -> Any:
    """Build the client from ``app.config`` (``SENTRY_CONFIG``, ``RAVEN_CONFIG``, ``SENTRY_*``).

    The application's name is always an in-app path, added to ``SENTRY_INCLUDE_PATHS``.
    """
    options = convert_options(app.config, defaults={"dsn": dsn})
    paths = options.get("include_paths") or ()
    if isinstance(paths, str):
        paths = [paths]
    options["include_paths"] = sorted(set(paths) | {app.name})
    return client_cls(**options)


def _is_failure(exception: BaseException) -> bool:
    """Sanic's HTTP errors below 500 (``NotFound``, ``BadRequest``…) are answers, not failures;
    a ``SanicException`` without a status is a 500."""
    if isinstance(exception, SanicException):
        status = getattr(exception, "status_code", None)
        return not (isinstance(status, int) and status < 500)
    return True


class Sentry(ClientForwarding):
    """Reports what a Sanic application's handlers raise, with the request they were handling.

    Each request starts with an empty context holding the request (URL without the query,
    query string, method, headers, cookies, the client address, and the form or JSON body
    when it is small enough, see :meth:`get_http_info`); it is cleared when the response is
    sent. Sanic serves many requests on one thread, so the context lives in the request's
    asyncio task: concurrent requests never see each other's tags, user or breadcrumbs.

    Unhandled exceptions reach :meth:`handle_exception` through Sanic's error handler (a
    catch-all ``Exception`` handler), which reports them and lets Sanic render its usual
    error response. Sanic's HTTP errors below 500 (``NotFound``, ``BadRequest``…) are
    responses, not failures, and are not reported; exceptions a more specific handler of
    the application takes care of are not reported either. The id of an event captured
    during a request is :attr:`last_event_id` (also ``request.ctx.sentry_event_id``) and is
    sent back in the ``X-Sentry-ID`` response header.

    >>> sentry = Sentry(app, dsn="https://public@sentry.example.com/1")

    The instance is ``app.ctx.sentry`` (Sanic 21.12+ refuses new attributes on the app, so
    6.10's ``app.extensions['sentry']`` is set only where the app still allows it).

    Args:
        app: the application.
        client: the client to report through; built by :func:`make_client` from
            ``app.config`` with ``client_cls`` when omitted.
        client_cls: the client class to build.
        dsn: the DSN when the client is built (else ``SENTRY_DSN`` config or environment).
        logging: also report log records at ``level`` or above (a
            :class:`~raven.handlers.logging.SentryHandler` on the root logger).
        logging_exclusions: loggers kept out of that handler (default
            :data:`DEFAULT_LOGGING_EXCLUSIONS`: raven's defaults and Sanic's own loggers).
        level: the lowest level the logging handler reports.
        add_error_handler: register the catch-all error handler (6.10's switch).
    """

    #: request bodies up to this many bytes are reported (see ``get_http_info``)
    max_body_size = 10 * 1024

    def __init__(
        self,
        app: Sanic,
        client: Optional[Client] = None,
        client_cls: Callable[..., Any] = Client,
        dsn: Optional[str] = None,
        logging: bool = False,
        logging_exclusions: Optional[Iterable[str]] = None,
        level: int = logging.NOTSET,
        add_error_handler: bool = True,
    ) -> None:
        if client is not None and not isinstance(client, Client):
            raise TypeError("client should be an instance of Client, got %r" % (client,))
        self.client = client
        self.client_cls = client_cls
        self.dsn = dsn
        self.logging = logging
        self.logging_exclusions = logging_exclusions
        self.level = level
        self._add_error_handler = add_error_handler
        self._last_event_id: Optional[str] = None
        #: the application's own catch-all handler, called after reporting (see init_app)
        self._chained_handler: Optional[Callable[..., Any]] = None
        #: Sanic < 21.12's handler list (first match wins), when that is what the app has
        self._legacy_handlers: Optional[List[Any]] = None
        self.init_app(app)

    # -- set-up ------------------------------------------------------------------------------

    def init_app(
        self,
        app: Sanic,
        dsn: Optional[str] = None,
        logging: Optional[bool] = None,
        level: Optional[int] = None,
        logging_exclusions: Optional[Iterable[str]] = None,
    ) -> None:
        """Hook into ``app``; arguments that are not None override the constructor's."""
        if dsn is not None:
            self.dsn = dsn
        if level is not None:
            self.level = level
        if logging is not None:
            self.logging = logging
        if logging_exclusions is not None:
            self.logging_exclusions = logging_exclusions
        elif self.logging_exclusions is None:
            self.logging_exclusions = DEFAULT_LOGGING_EXCLUSIONS

        if self.client is None:
            self.client = make_client(self.client_cls, app, self.dsn)

        if self.logging:
            self._setup_logging()

        ctx = getattr(app, "ctx", None)
        extensions = getattr(app, "extensions", None)
        if isinstance(extensions, dict):
            extensions["sentry"] = self
        if ctx is not None:  # Sanic 21.3+ (which deprecates, then refuses, new app attributes)
            ctx.sentry = self
        elif extensions is None:  # older Sanic: 6.10's spelling
            app.extensions = {"sentry": self}

        if self._add_error_handler:
            self._register_error_handler(app)
        app.register_middleware(self.before_request, attach_to="request")
        app.register_middleware(self.after_request, attach_to="response")

    def _register_error_handler(self, app: Sanic) -> None:
        """Install :meth:`handle_exception` as the catch-all handler.

        Sanic 21.12+ picks the handler of the closest class in the exception's MRO and
        refuses (22+) a second handler for ``Exception``: an application's own catch-all is
        kept and called after reporting, so its response is still sent. (Register your own
        catch-all *before* ``Sentry(app)``.) Older Sanic takes the first matching handler
        in registration order: this one goes first, and hands over to the application's.
        """
        error_handler = app.error_handler
        try:
            by_route = "route_name" in inspect.signature(error_handler.lookup).parameters
        except (TypeError, ValueError):
            by_route = True
        legacy = getattr(error_handler, "handlers", None)
        if not by_route and isinstance(legacy, list):
            legacy.insert(0, (Exception, self.handle_exception))
            error_handler.cached_handlers.clear()  # lookups cached before this one came
            self._legacy_handlers = legacy
            return
        handlers = getattr(error_handler, "cached_handlers", None)
        key = (Exception, None)
        if isinstance(handlers, dict) and handlers.get(key) is not None:
            self._chained_handler = handlers[key]
            handlers[key] = self.handle_exception
            return
        error_handler.add(Exception, self.handle_exception)

    def _setup_logging(self) -> None:
        exclude = tuple(self.logging_exclusions or ())
        handler = SentryHandler(self.client, level=self.level)
        if setup_logging(handler, exclude=()):
            for name in exclude:
                logger = logging.getLogger(name)
                if logger is logging.getLogger():
                    continue  # "root" names the root logger on Python 3.9+: never cut it off
                logger.propagate = False
                if not logger.handlers:  # Sanic's loggers print already: no second line
                    logger.addHandler(logging.StreamHandler())
        logging_configured.send(self, sentry_handler=SentryHandler, exclude=exclude)

    # -- per request -------------------------------------------------------------------------

    @property
    def last_event_id(self) -> Optional[str]:
        """The id of the last event captured through this object, in this request if any."""
        request = _current_request.get()
        if request is not None:
            event_id: Any = getattr(request.ctx, "sentry_event_id", _MISSING)
            if event_id is not _MISSING:
                return event_id
        return self._last_event_id

    @last_event_id.setter
    def last_event_id(self, value: Optional[str]) -> None:
        self._last_event_id = value
        request = _current_request.get()
        if request is not None:
            try:
                request.ctx.sentry_event_id = value
            except AttributeError:
                pass

    def before_request(self, request: Any) -> None:
        """Start the request with an empty context holding the request and the client address."""
        client = self.client
        if client is None:
            return
        _current_request.set(request)
        try:
            request.ctx.sentry_event_id = None
            context = client.context
            context.clear(deactivate=False)
            context.activate()
            client.transaction.clear()
        except Exception:
            self._internal_error("Failed to reset the context for a Sanic request")
        self._name_transaction(request)
        self._record_request(request)

    def _name_transaction(self, request: Any) -> None:
        """Name the transaction after the route, once Sanic has matched it.

        Sanic 21+ routes before the request middleware; older Sanic after it, so the name
        is also looked for when an exception is reported.
        """
        client = self.client
        if client is None or client.transaction.peek() is not None:
            return
        try:
            route = getattr(request, "uri_template", None)
            if route:
                client.transaction.push(route)
        except Exception:
            self._internal_error("Failed to name the transaction")

    def _record_request(self, request: Any) -> None:
        client = self.client
        if client is None:
            return
        try:
            client.http_context(self.get_http_info(request))
        except Exception:
            self._internal_error("Failed to record the Sanic request for error reports")
        try:
            user = self.get_user_info(request)
            if user:
                client.user_context(user)
        except Exception:
            self._internal_error("Failed to record the Sanic user for error reports")

    def after_request(self, request: Any, response: Any) -> None:
        """Send the event id back as ``X-Sentry-ID``, then clear the context."""
        try:
            event_id = getattr(request.ctx, "sentry_event_id", None)
            if event_id and response is not None:
                response.headers["X-Sentry-ID"] = event_id
        except Exception:
            self._internal_error("Failed to add the X-Sentry-ID header")
        client = self.client
        if client is None:
            return
        try:
            client.context.clear()
            client.transaction.clear()
        except Exception:
            self._internal_error("Failed to clear the Sanic request's context")
        if _current_request.get() is request:
            _current_request.set(None)

    def handle_exception(self, request: Any, exception: BaseException) -> Any:
        """Report ``exception`` (unless it is an HTTP error below 500), then let Sanic answer.

        Returns what the application's own catch-all handler returns, else None, so Sanic
        renders its default error response.
        """
        handler = self._chained_handler
        if self._legacy_handlers is not None:
            exc_class, handler = self._app_handler_for(exception)
            if handler is not None and exc_class not in (Exception, BaseException):
                return handler(request, exception)  # the application handles this one
        if self.client is not None and _is_failure(exception):
            self._report(request, exception)
        if handler is not None:
            return handler(request, exception)
        return None

    def _app_handler_for(self, exception: BaseException) -> Tuple[Any, Any]:
        """The handler old Sanic would have chosen without this one: the first that matches."""
        for exc_class, handler in self._legacy_handlers or ():
            if handler != self.handle_exception and isinstance(exception, exc_class):
                return exc_class, handler
        return None, None

    def _report(self, request: Any, exception: BaseException) -> None:
        if request is not None:
            if _current_request.get() is not request:
                # the request middleware never ran (Sanic failed before it): start here
                _current_request.set(request)
                try:
                    request.ctx.sentry_event_id = None
                except AttributeError:
                    pass
            self._record_request(request)
            self._name_transaction(request)
        try:
            self.captureException(exc_info=(type(exception), exception, exception.__traceback__))
        except Exception:
            self._internal_error("Failed to report a Sanic handler's exception")

    # -- what is reported --------------------------------------------------------------------

    def get_user_info(self, request: Any) -> Dict[str, Any]:
        """The user interface: the client address (forwarded address when Sanic trusts it)."""
        address = getattr(request, "remote_addr", None) or getattr(request, "ip", None)
        return {"ip_address": address} if address else {}

    def get_form_data(self, request: Any) -> Any:
        """The form fields (not uploaded files); a field sent twice maps to its list of values."""
        form = request.form
        return {
            key: (values[0] if len(values) == 1 else list(values)) for key, values in form.items()
        }

    def get_json_data(self, request: Any) -> Any:
        """The parsed JSON body (so processors can scrub its keys), or its text if malformed."""
        body = request.body
        try:
            return json.loads(body)
        except Exception:
            return body.decode("utf-8", "replace")

    def is_json_type(self, request: Any) -> bool:
        content_type = (request.headers.get("content-type") or "").split(";", 1)[0]
        content_type = content_type.strip().lower()
        return content_type == "application/json" or content_type.endswith("+json")

    def get_http_info(self, request: Any) -> Dict[str, Any]:
        """The request interface; the body is read with :meth:`get_json_data` or form data."""
        json_body = self.is_json_type(request)
        retriever = self.get_json_data if json_body else self.get_form_data
        return self.get_http_info_with_retriever(request, retriever)

    def get_http_info_with_retriever(
        self, request: Any, retriever: Optional[Callable[[Any], Any]] = None
    ) -> Dict[str, Any]:
        """The request interface, with the body read by ``retriever`` when it is safe to read.

        Sanic has read the body before the handler runs (except on streaming routes, whose
        body is never touched here); it is reported when it is JSON or a form no larger
        than :attr:`max_body_size`.
        """
        if retriever is None:
            retriever = self.get_form_data
        parts = urlsplit(request.url)
        headers: Dict[str, str] = {}
        raw_headers = request.headers
        for name in raw_headers:  # a multidict: a repeated header's name comes again
            title = name.title()
            if title not in headers:
                headers[title] = ", ".join(raw_headers.getall(name))
        env: Dict[str, Any] = {"REMOTE_ADDR": getattr(request, "ip", None) or ""}
        for key, attr in (("SERVER_NAME", "server_name"), ("SERVER_PORT", "server_port")):
            try:
                value = getattr(request, attr)
            except Exception:
                continue
            if value not in (None, ""):
                env[key] = str(value)
        info: Dict[str, Any] = {
            "url": "%s://%s%s" % (parts.scheme, parts.netloc, parts.path),
            "query_string": to_unicode(request.query_string or ""),
            "method": request.method,
            "headers": headers,
            "env": env,
        }
        cookies = self._cookies(request)
        if cookies:
            info["cookies"] = cookies
        if self._body_is_safe(request):
            try:
                info["data"] = retriever(request)
            except Exception:
                info["data"] = {}
        return info

    def _cookies(self, request: Any) -> Dict[str, str]:
        # Sanic 23+ maps each name to a list of values (its first is what ``.get`` returns)
        cookies: Dict[str, str] = {}
        for name, value in request.cookies.items():
            if isinstance(value, list):
                value = value[0] if value else ""
            cookies[name] = value
        return cookies

    def _body_is_safe(self, request: Any) -> bool:
        body = request.body  # empty on streaming routes: their body is the handler's to read
        if not body or len(body) > self.max_body_size:
            return False
        if self.is_json_type(request):
            return True
        content_type = (request.headers.get("content-type") or "").split(";", 1)[0]
        return content_type.strip().lower() in _FORM_TYPES

    # -- helpers -----------------------------------------------------------------------------

    def captureException(self, *args: Any, **kwargs: Any) -> Optional[str]:
        """``client.captureException``; the event id becomes :attr:`last_event_id`."""
        if self.client is None:
            self._unconfigured("captureException")
            return None
        result = self.client.captureException(*args, **kwargs)
        self.set_last_event_id_from_result(result)
        return result

    def captureMessage(self, *args: Any, **kwargs: Any) -> Optional[str]:
        """``client.captureMessage``; the event id becomes :attr:`last_event_id`."""
        if self.client is None:
            self._unconfigured("captureMessage")
            return None
        result = self.client.captureMessage(*args, **kwargs)
        self.set_last_event_id_from_result(result)
        return result

    def set_last_event_id_from_result(self, result: Optional[str]) -> None:
        self.last_event_id = result or None

    def _unconfigured(self, name: str) -> None:
        _error_logger.error("Sentry.%s called without a client; nothing was recorded", name)


_MISSING = object()
