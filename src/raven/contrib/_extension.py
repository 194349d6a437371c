"""What the framework extensions (Flask, Sanic) forward to their client, shared once."""

from __future__ import annotations

import logging

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any

_error_logger = logging.getLogger("sentry.errors")


class ClientForwarding:
    """``user_context``/``tags_context``/``extra_context`` of an extension that may not have
    its client yet: without one, the call is logged (``_unconfigured``), never raised."""

    client: Any

    def user_context(self, *args: Any, **kwargs: Any) -> None:
        if self.client is None:
            self._unconfigured("user_context")
            return None
        return self.client.user_context(*args, **kwargs)

    def tags_context(self, *args: Any, **kwargs: Any) -> None:
        if self.client is None:
            self._unconfigured("tags_context")
            return None
        return self.client.tags_context(*args, **kwargs)

    def extra_context(self, *args: Any, **kwargs: Any) -> None:
        if self.client is None:
            self._unconfigured("extra_context")
            return None
        return self.client.extra_context(*args, **kwargs)

    def _unconfigured(self, name: str) -> None:
        _error_logger.error("Sentry.%s called without a client; nothing was recorded", name)

    def _internal_error(self, message: str) -> None:
        """Log what failed inside the integration (re-raise it with ``raise_send_errors``)."""
        if getattr(self.client, "raise_send_errors", False):
            raise
        _error_logger.error(message, exc_info=True)
