"""Bottle integration: ``Sentry(app, client)`` is the WSGI application that reports app errors."""

from __future__ import annotations

import functools
import importlib
import logging
import sys

from raven.conf import setup_logging
from raven.contrib.bottle.utils import get_data_from_request
from raven.handlers.logging import SentryHandler
from raven.middleware import Sentry as SentryMiddleware
from raven.utils.serializer import Serializer, register

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Optional

    from raven.base import Client

try:  # imported by name: Bottle ships no type information, and type checkers need none here
    _bottle: Any = importlib.import_module("bottle")
except ImportError as exc:  # pragma: no cover - exercised only without Bottle installed
    raise ImportError(
        "raven.contrib.bottle needs Bottle (0.12 or later): pip install 'raven[bottle]' (%s)"
        % (exc,)
    ) from exc


#: the request Bottle binds to the thread handling it
request: Any = _bottle.request

__all__ = [
    "RouteSerializer",
    "Sentry",
    "SentryHandler",
    "SentryPlugin",
    "get_data_from_request",
    "setup_logging",
]

_error_logger = logging.getLogger("sentry.errors")

#: environ key holding the exception already reported for this request
_CAPTURED_KEY = "raven.bottle.captured_exception"
#: environ key holding the id of the event reported for this request
_EVENT_ID_KEY = "raven.bottle.event_id"


class Sentry(SentryMiddleware):
    """The WSGI application to serve: runs a Bottle app and reports what it raises.

    It is :class:`raven.middleware.Sentry` (a fresh context per request holding the request,
    its safe-to-read body and cookies; failures while calling, iterating or closing the app
    reported and raised again), plus what Bottle needs:

    * Bottle catches handler exceptions itself unless ``app.catchall`` is False, and renders
      its 500 page. A :class:`SentryPlugin` installed on the app reports them as they leave
      the handler (Bottle 0.12 keeps them to itself); Bottle 0.13 also passes them to
      ``start_response``, where what happened outside a handler (hooks) is reported. The
      event id is added to the error response as ``X-Sentry-ID``.
    * The instance is ``app.sentry``. Wrapping the same app again replaces it; Bottle 0.13
      refuses to set an attribute twice, which made 6.10 fail there.

    >>> application = Sentry(bottle.default_app(), Client(dsn))

    Args:
        app: the Bottle application (any WSGI application works).
        client: the client that reports.
        logging: also send log records (a :class:`~raven.handlers.logging.SentryHandler`
            on the root logger, as :func:`raven.conf.setup_logging` sets it up).
    """

    def __init__(self, app: Callable[..., Any], client: Client, logging: bool = False) -> None:
        super().__init__(app, client)
        self.app = app
        self.logging = logging
        if logging:
            setup_logging(SentryHandler(client))
        _attach(app, self)
        if isinstance(app, _bottle.Bottle):
            app.uninstall(SentryPlugin.name)  # an earlier wrapper's
            app.install(SentryPlugin(self))

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, headers: Any, *exc_info: Any) -> Any:
            if exc_info and exc_info[0] is not None:
                self.handle_exception(environ, exc_info=exc_info[0])
            event_id = environ.get(_EVENT_ID_KEY)
            if event_id and status[:1] == "5":
                headers = [*headers, ("X-Sentry-ID", event_id)]
            return start_response(status, headers, *exc_info)

        return super().__call__(environ, start)

    def handle_exception(self, *args: Any, **kwargs: Any) -> Optional[str]:
        """Report the exception (``exc_info=`` or the one being handled) with ``extra['app']``.

        An exception already reported for this request (the environ is the first
        positional argument) is not reported again.
        """
        exc_info = kwargs.get("exc_info") or sys.exc_info()
        environ = args[0] if args and isinstance(args[0], dict) else None
        if environ is not None:
            if environ.get(_CAPTURED_KEY) is exc_info[1]:
                return None
            environ[_CAPTURED_KEY] = exc_info[1]
        kwargs = {"exc_info": exc_info, "extra": {"app": self.app}}
        self._add_request_data(kwargs)  # the app is served without this wrapper
        event_id = self.client.captureException(**kwargs)
        if event_id and environ is not None:
            environ[_EVENT_ID_KEY] = event_id
        return event_id

    def _report_from_plugin(self, exc_info: Any) -> None:
        try:
            environ = request.environ
        except RuntimeError:  # the route was called outside a request
            environ = None
        try:
            self.handle_exception(environ, exc_info=exc_info)
        except Exception:
            if getattr(self.client, "raise_send_errors", False):
                raise
            _error_logger.error("Failed to report a Bottle handler's exception", exc_info=True)

    def captureException(self, *args: Any, **kwargs: Any) -> Optional[str]:
        """``client.captureException`` with the current Bottle request, if any."""
        self._add_request_data(kwargs)
        return self.client.captureException(*args, **kwargs)

    def captureMessage(self, *args: Any, **kwargs: Any) -> Optional[str]:
        """``client.captureMessage`` with the current Bottle request, if any."""
        self._add_request_data(kwargs)
        return self.client.captureMessage(*args, **kwargs)

    def _add_request_data(self, kwargs: Dict[str, Any]) -> None:
        """Describe ``bottle.request`` unless the caller passed data or the context has it.

        Under this wrapper the context already holds the request (read from the environ
        when it arrived); called from elsewhere, Bottle's bound request is described.
        """
        if kwargs.get("data") is not None or "request" in self.client.context:
            return
        try:
            kwargs["data"] = get_data_from_request(request, self.max_body_size)
        except RuntimeError:  # no request bound in this thread
            pass
        except Exception:
            if getattr(self.client, "raise_send_errors", False):
                raise
            _error_logger.error("Failed to describe the Bottle request", exc_info=True)


class SentryPlugin:
    """A Bottle plugin that reports what a route's handler raises, before Bottle's catch-all.

    HTTP responses raised on purpose (``abort()``, ``redirect()``) are not reported. The
    handler keeps its signature (``__wrapped__``), which Bottle reads for its arguments.

    .. versionadded:: 7.0
    """

    name = "raven.contrib.bottle"
    api = 2

    def __init__(self, sentry: Sentry) -> None:
        self.sentry = sentry

    def apply(self, callback: Callable[..., Any], route: Any) -> Callable[..., Any]:
        sentry = self.sentry

        @functools.wraps(callback)
        def report_errors(*args: Any, **kwargs: Any) -> Any:
            try:
                return callback(*args, **kwargs)
            except _bottle.HTTPResponse:
                raise
            except Exception:
                sentry._report_from_plugin(sys.exc_info())
                raise

        return report_errors


class RouteSerializer(Serializer):
    """A Bottle route is reported by method and rule, without calling its ``repr``.

    Bottle 0.13's ``Route.__repr__`` looks for the undecorated callback through closures and
    never returns when a handler is a closure over values none of which is callable (a
    handler defined inside a function that reads a config dict, say): reporting a frame
    that holds such a route, as Bottle's own ``_handle`` does, would hang the request.

    .. versionadded:: 7.0
    """

    types = (_bottle.Route,)

    def serialize(self, value: Any, **kwargs: Any) -> str:
        return "<%s %s %r>" % (type(value).__name__, value.method, value.rule)


register(RouteSerializer)


def _attach(app: Any, sentry: Sentry) -> None:
    """``app.sentry = sentry``, replacing an earlier wrapper's (on Bottle 0.13 too), but not
    something else's."""
    existing = getattr(app, "sentry", None)
    if existing is not None and not isinstance(existing, Sentry):
        _error_logger.warning(
            "Could not set %r.sentry: the attribute belongs to something else", app
        )
        return
    try:
        app.sentry = sentry
        return
    except AttributeError:
        pass
    try:
        # Bottle 0.13's __setattr__ refuses any second assignment ("Plugin conflict?");
        # the attribute is ours, so the newer wrapper takes its place
        object.__setattr__(app, "sentry", sentry)
    except (AttributeError, TypeError):
        _error_logger.warning("Could not set %r.sentry", app)
