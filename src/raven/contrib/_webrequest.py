"""The request lifecycle shared by the event-loop web integrations (ASGI, aiohttp).

Both describe a request by building a WSGI-style environ from their own request object and
letting :class:`raven.middleware.Sentry` turn it into the ``request`` interface, so an event
from an ASGI or aiohttp app reports its request exactly as one from a WSGI app does (same
header names, URL quoting, server variables, cookie and body rules).
"""

from __future__ import annotations

import logging

from raven.middleware import Sentry as WsgiSentry

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Optional

    from raven.base import Client

__all__ = ["RequestReporter"]

_error_logger = logging.getLogger("sentry.errors")

_FORM_TYPE = "application/x-www-form-urlencoded"
_JSON_TYPE = "application/json"


def _no_application(environ: Any, start_response: Any) -> Any:  # pragma: no cover - never run
    raise RuntimeError("only used to describe requests")


class RequestReporter:
    """Starts, reports and ends one request at a time in the current task.

    Args:
        client: the client that reports; a ``Client()`` configured from the environment
            (``SENTRY_DSN``) when omitted.
        max_body_size: the largest request body, in bytes, that is read for reports
            (default 10 KiB, as the WSGI middleware); 0 never reads the body.

    Raises:
        ConfigurationError: ``max_body_size`` is not a number of bytes.
    """

    __slots__ = ("_describer", "client", "max_body_size")

    def __init__(self, client: Optional[Client], max_body_size: Optional[int]) -> None:
        # the WSGI middleware builds the default client and checks max_body_size
        self._describer = WsgiSentry(_no_application, client, max_body_size)
        self.client: Client = self._describer.client
        self.max_body_size: int = self._describer.max_body_size

    def wants_body(
        self,
        content_type: Optional[str],
        content_length: Optional[str],
        transfer_encoding: Optional[str],
        expect: Optional[str],
    ) -> bool:
        """Whether the body may be read for a report before the application reads it.

        Only form and JSON bodies are reported, and only when reading them can neither
        block nor grow without bound nor change what the application sees: a declared
        length from 1 to :attr:`max_body_size`, no ``Transfer-Encoding``, and no
        ``Expect: 100-continue`` (reading would answer it on the application's behalf).
        """
        media_type = (content_type or "").partition(";")[0].strip().lower()
        if media_type not in (_FORM_TYPE, _JSON_TYPE) and not media_type.endswith("+json"):
            return False
        length = (content_length or "").strip()
        if not (length.isascii() and length.isdigit()):
            return False
        if not 0 < int(length) <= self.max_body_size:
            return False
        if transfer_encoding:
            return False
        return "100-continue" not in (expect or "").lower()

    def start(self, environ: Dict[str, Any]) -> None:
        """Start the request with an empty context that holds only the request."""
        try:
            client = self.client
            context = client.context
            context.clear(deactivate=False)
            context.activate()
            client.transaction.clear()
            client.last_event_id = None
            client.http_context(self._describer.get_http_context(environ))
        except Exception:
            self.internal_error("Failed to record the request for error reports")

    def capture(self, transaction: Optional[str]) -> Optional[str]:
        """Capture the exception being handled, named after ``transaction`` unless the
        application pushed a name of its own; returns the event id."""
        client = self.client
        try:
            if transaction and client.transaction.peek() is None:
                client.transaction.push(transaction)
        except Exception:
            self.internal_error("Failed to name the transaction")
        return client.captureException()

    def end(self) -> None:
        """Forget the request's context and transaction names in this task."""
        try:
            self.client.context.clear()
            self.client.transaction.clear()
        except Exception:
            self.internal_error("Failed to clear the request context")

    def internal_error(self, message: str) -> None:
        """Log what raven itself failed at (``raise_send_errors`` re-raises it instead)."""
        if getattr(self.client, "raise_send_errors", False):
            raise
        _error_logger.error(message, exc_info=True)
