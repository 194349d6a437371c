"""web.py integration: ``SentryApplication`` is a ``web.application`` that reports its errors."""

from __future__ import annotations

import logging
import sys

from raven.conf import setup_logging
from raven.contrib.webpy.utils import get_data_from_request, web
from raven.handlers.logging import SentryHandler
from raven.middleware import Sentry as SentryMiddleware

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Optional

    from raven.base import Client

__all__ = ["SentryApplication", "SentryHandler", "get_data_from_request", "setup_logging"]

_error_logger = logging.getLogger("sentry.errors")

#: web.ctx key holding the exception already reported for this request
_REPORTED_KEY = "_raven_reported_exception"


def _is_failure(exc: BaseException) -> bool:
    """Whether an exception leaving a handler is worth a report.

    web.py's ``HTTPError`` is how handlers answer ``notfound()``, ``seeother()``,
    ``badrequest()``…: a response, not a failure, unless its status is 500 or more.
    """
    if isinstance(exc, web.HTTPError):
        status = str(exc.args[0] if exc.args else "")[:3]  # the status line, "303 See Other"
        return status.isdigit() and int(status) >= 500
    return isinstance(exc, Exception)


class SentryApplication(web.application):
    """A ``web.application`` that reports what its handlers raise, with the request.

    Exceptions escaping a handler are reported (with ``extra['app']``) before web.py turns
    them into its 500 response; so are failures in processors (load hooks), which web.py
    answers through :meth:`internalerror`. ``web.notfound()``, redirects and other HTTP
    errors below 500 are responses and are not reported (6.10 reported them all).

    The WSGI function (:meth:`wsgifunc`, used by ``run()`` and ``request()``) is wrapped in
    :class:`raven.middleware.Sentry`, so each request starts with a fresh context holding
    the request, and failures while streaming the response are reported too.

    >>> app = SentryApplication(client, mapping=urls, fvars=globals())

    Args:
        client: the client that reports.
        logging: also send log records (a :class:`~raven.handlers.logging.SentryHandler`
            on the root logger).
        **kwargs: ``web.application``'s arguments (``mapping``, ``fvars``, ``autoreload``).
    """

    def __init__(self, client: Client, logging: bool = False, **kwargs: Any) -> None:
        self.client = client
        self.logging = logging
        if logging:
            setup_logging(SentryHandler(client))
        web.application.__init__(self, **kwargs)

    def handle_exception(self, *args: Any, **kwargs: Any) -> Optional[str]:
        """Report the exception (``exc_info=`` or the one being handled) with the request."""
        exc_info = kwargs.get("exc_info") or sys.exc_info()
        return self.client.captureException(
            exc_info=exc_info, data=self._request_data(), extra={"app": self}
        )

    def handle(self) -> Any:
        try:
            return web.application.handle(self)
        except Exception as exc:
            if _is_failure(exc):
                self._report(sys.exc_info())
            raise

    def internalerror(self) -> Any:
        """web.py's 500 response; the exception being handled (from a processor) is reported.

        An exception :meth:`handle` reported already is not sent twice.
        """
        exc_info = sys.exc_info()
        if exc_info[1] is not None and _is_failure(exc_info[1]):
            self._report(exc_info)
        return web.application.internalerror(self)

    def wsgifunc(self, *middleware: Callable[..., Any]) -> Callable[..., Any]:
        """web.py's WSGI function, inside :class:`raven.middleware.Sentry`."""
        return SentryMiddleware(web.application.wsgifunc(self, *middleware), self.client)

    def _report(self, exc_info: Any) -> None:
        # by the time web.py calls internalerror() the traceback has grown, so the client
        # would not recognise an exception handle() reported already: remember it here
        try:
            if web.ctx.get(_REPORTED_KEY) is exc_info[1]:
                return
            web.ctx[_REPORTED_KEY] = exc_info[1]
        except Exception:
            pass
        try:
            self.handle_exception(exc_info=exc_info)
        except Exception:
            if getattr(self.client, "raise_send_errors", False):
                raise
            _error_logger.error("Failed to report a web.py handler's exception", exc_info=True)

    def _request_data(self) -> Optional[Dict[str, Any]]:
        try:
            if not web.ctx.get("environ"):
                return None  # outside a request
            return get_data_from_request()
        except Exception:
            if getattr(self.client, "raise_send_errors", False):
                raise
            _error_logger.error("Failed to describe the web.py request", exc_info=True)
            return None

    def captureException(self, *args: Any, **kwargs: Any) -> Optional[str]:
        """``client.captureException`` with the request in ``web.ctx``."""
        if kwargs.get("data") is None:
            kwargs["data"] = self._request_data()
        return self.client.captureException(*args, **kwargs)

    def captureMessage(self, *args: Any, **kwargs: Any) -> Optional[str]:
        """``client.captureMessage`` with the request in ``web.ctx``."""
        if kwargs.get("data") is None:
            kwargs["data"] = self._request_data()
        return self.client.captureMessage(*args, **kwargs)
