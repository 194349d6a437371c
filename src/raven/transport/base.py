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
    """Transport that reports the outcome through callbacks instead of returning.

    ``async_send`` starts one send and returns at once; the send then calls exactly one of
    ``success_cb()`` (optionally ``success_cb(response)``, where ``response`` has ``status``
    and ``headers``, so rate limits announced on a 2xx are honoured) or ``error_cb(exc)``.
    Refusals are :class:`raven.exceptions.APIError` (see
    :func:`raven.transport.http.check_response`); a server that cannot be reached is an
    ``OSError`` (e.g. ``ConnectionError``). The client's delivery decides what happens next,
    retries included, and schedules those through :meth:`call_later`.
    """

    is_async = True
    #: sends the delivery keeps in flight at once; more events wait their turn in its queue
    max_in_flight = 100

    def async_send(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[..., Any],
        error_cb: Callable[[BaseException], Any],
    ) -> None:
        raise NotImplementedError("%s does not implement async_send()" % type(self).__name__)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` after ``delay`` seconds, where this transport may send from.

        The delivery uses it to retry after a back-off. Event-loop transports override it to
        schedule on their own loop (``loop.call_later``, ``gevent.spawn_later``,
        ``eventlet.spawn_after``, ``reactor.callLater`` through ``callFromThread``), so the
        retry's ``async_send`` runs there. This default needs no loop: a daemon timer thread,
        for transports whose ``async_send`` may be called from any thread.
        """
        import threading

        timer = threading.Timer(max(delay, 0.0), callback)
        timer.daemon = True
        timer.name = "raven.AsyncTransport.call_later"
        timer.start()
