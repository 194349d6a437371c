"""Transport base classes: how encoded events leave the process.

A transport implements ``send(url, data, headers)`` (blocking) or, for event-loop libraries,
``async_send(url, data, headers, success_cb, error_cb)``. When and on which thread a send
happens is the business of the client and its worker, not of the transport.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, List


__all__ = ["AsyncTransport", "Transport", "has_newstyle_transports"]

#: marks the 6.x transport API (no ``parsed_url`` needed), for code that checks it
has_newstyle_transports = True


class Transport:
    """Synchronous transport. Subclasses override :meth:`send`.

    The constructor accepts (and ignores) a leading ``parsed_url`` argument, the pre-6.x form
    some custom transports and documents still use.
    """

    is_async = False
    scheme: List[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            self.parsed_url = args[0]

    def send(self, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        """Deliver one encoded event; raise on failure (see :mod:`raven.exceptions`)."""
        raise NotImplementedError("%s does not implement send()" % type(self).__name__)


class AsyncTransport(Transport):
    """Transport that reports the outcome through callbacks instead of returning."""

    is_async = True

    def async_send(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[[], Any],
        error_cb: Callable[[BaseException], Any],
    ) -> None:
        raise NotImplementedError("%s does not implement async_send()" % type(self).__name__)
