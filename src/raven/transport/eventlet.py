"""HTTP sends in eventlet green threads (DSN scheme ``eventlet+https``; needs ``raven[eventlet]``).

eventlet is imported when the transport is built, not with this module: importing eventlet
changes a process (and warns that eventlet is deprecated upstream).
"""

from __future__ import annotations

import importlib
import importlib.util

from raven.transport._green import GreenHTTPTransport, positive_int
from raven.transport.http import HTTPTransport

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict

__all__ = ["EventletHTTPTransport", "HTTPTransport", "has_eventlet"]

#: whether eventlet is installed (looked up, not imported)
has_eventlet = importlib.util.find_spec("eventlet") is not None


class EventletHTTPTransport(GreenHTTPTransport):
    """Each event is POSTed by a green thread of its own; capturing returns at once.

    raven 6.10's version spawned a green thread from ``send`` and threw its outcome away, so
    a refused or lost event vanished without a trace and rate limits were never seen. Here
    the outcome reaches the client's delivery (through ``async_send``'s callbacks), which
    counts drops, honours ``429``/``Retry-After`` and retries while the server is down.
    ``send`` itself is the blocking :class:`HTTPTransport` send.

    Call ``eventlet.monkey_patch()`` first: the sends then use green sockets. In a process
    that did not patch sockets and threads, they run on up to 10 real threads instead.

    Args:
        pool_size: sends in flight at once (DSN ``?pool_size=``), default 100; 6.10 accepted
            it and ignored it. The client's delivery queues the others; code calling
            ``async_send`` directly gets up to ten times as many queued here, then an
            :class:`OverflowError` in the failure callback.
        shutdown_timeout: seconds to keep sending pending events at exit (DSN
            ``?shutdown_timeout=``), default 10.
        (and the :class:`HTTPTransport` options: ``timeout``, ``verify_ssl``, ``ca_certs``,
        ``proxy``)

    Raises:
        ImportError: eventlet is not installed (``pip install raven[eventlet]``).
    """

    scheme = ["eventlet+http", "eventlet+https"]

    def __init__(
        self, *args: Any, pool_size: Any = 100, shutdown_timeout: Any = 10, **kwargs: Any
    ) -> None:
        try:
            # by name: type checkers need no eventlet stubs, and eventlet stays optional
            self._eventlet: Any = importlib.import_module("eventlet")
        except ImportError as e:
            raise ImportError(
                "%s needs eventlet: pip install raven[eventlet] (%s)" % (type(self).__name__, e)
            ) from e
        super().__init__(*args, **kwargs)
        self.pool_size = positive_int("pool_size", pool_size)
        self._init_slots(self.pool_size, shutdown_timeout)

    def _patched(self) -> bool:
        patcher = self._eventlet.patcher
        return bool(patcher.is_monkey_patched("socket") and patcher.is_monkey_patched("thread"))

    def _spawn_send(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[..., Any],
        failure_cb: Callable[[BaseException], Any],
    ) -> None:
        self._eventlet.spawn(self._run, url, data, headers, success_cb, failure_cb)

    def _spawn_later(self, delay: float, callback: Callable[[], None]) -> None:
        self._eventlet.spawn_after(delay, callback)
