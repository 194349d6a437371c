"""HTTP sends in gevent greenlets (DSN scheme ``gevent+https``; needs ``raven[gevent]``).

gevent is imported when the transport is built, not with this module: ``import raven`` and
the scheme registry must not pull gevent into a process that never monkey-patched.
"""

from __future__ import annotations

import importlib
import importlib.util

from raven.transport._green import GreenHTTPTransport, positive_int, report, report_success
from raven.transport.base import AsyncTransport
from raven.transport.http import HTTPTransport

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict

__all__ = ["AsyncTransport", "GeventedHTTPTransport", "HTTPTransport", "has_gevent"]

#: whether gevent is installed (looked up, not imported)
has_gevent = importlib.util.find_spec("gevent") is not None


class GeventedHTTPTransport(GreenHTTPTransport):
    """Each event is POSTed by a greenlet of its own; capturing returns at once.

    Call ``gevent.monkey.patch_all()`` first, as a gevent application should: the sends then
    use gevent's sockets. In a process that did not patch sockets and threads, the sends run
    on up to 10 real threads instead, so a slow or unreachable server never freezes the
    event loop and ``client.flush()`` still sees them finish.

    At most ``maximum_outstanding_requests`` sends are in flight. The client's delivery
    queues the others (bounded by its ``queue_size``), so capturing never waits; 6.10 blocked
    the capturing greenlet on a semaphore until a send ended. Code calling ``async_send``
    directly gets up to ten times as many sends queued here, then an :class:`OverflowError`
    in the failure callback.

    Args:
        maximum_outstanding_requests: sends in flight at once (DSN
            ``?maximum_outstanding_requests=``), default 100; also the size of the
            keep-alive connection pool.
        shutdown_timeout: seconds to keep sending pending events at exit (DSN
            ``?shutdown_timeout=``), default 10.
        (and the :class:`HTTPTransport` options: ``timeout``, ``verify_ssl``, ``ca_certs``,
        ``proxy``)

    Raises:
        ImportError: gevent is not installed (``pip install raven[gevent]``).
    """

    scheme = ["gevent+http", "gevent+https"]

    def __init__(
        self,
        *args: Any,
        maximum_outstanding_requests: Any = 100,
        shutdown_timeout: Any = 10,
        **kwargs: Any,
    ) -> None:
        if args and isinstance(args[0], int) and not isinstance(args[0], bool):
            # 6.10's signature took the bound as its first positional argument
            maximum_outstanding_requests, args = args[0], args[1:]
        try:
            # by name: type checkers need no gevent stubs, and gevent stays optional
            self._gevent: Any = importlib.import_module("gevent")
            self._monkey: Any = importlib.import_module("gevent.monkey")  # reads, never patches
        except ImportError as e:
            raise ImportError(
                "%s needs gevent: pip install raven[gevent] (%s)" % (type(self).__name__, e)
            ) from e
        super().__init__(*args, **kwargs)
        self.maximum_outstanding_requests = positive_int(
            "maximum_outstanding_requests", maximum_outstanding_requests
        )
        self._init_slots(self.maximum_outstanding_requests, shutdown_timeout)
        self._resolver_ready = False

    def _patched(self) -> bool:
        monkey = self._monkey
        return bool(monkey.is_module_patched("socket") and monkey.is_module_patched("threading"))

    def _spawn_send(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[..., Any],
        failure_cb: Callable[[BaseException], Any],
    ) -> None:
        if not getattr(self, "_resolver_ready", False):
            self._ready_resolver()
        greenlet = self._gevent.spawn(self._send_quietly, url, data, headers)
        # link: the callback runs in a greenlet of its own, not in the hub
        greenlet.link(lambda done: self._done(done, success_cb, failure_cb))

    def _ready_resolver(self) -> None:
        """Start gevent's thread pool now, while the program runs.

        gevent resolves host names on that pool, which it creates on the first lookup. A
        program that captures an error and ends gets its first send from raven's exit hook,
        when Python no longer starts threads ("can't create new thread at interpreter
        shutdown", 3.12+) or imports ``concurrent.futures.thread`` ("can't register atexit
        after shutdown"): the event would be lost.
        """
        self._resolver_ready = True
        try:
            self._gevent.get_hub().threadpool.spawn(int)
        except Exception:  # the pool is the hub's business; sending still works without
            pass

    def _send_quietly(self, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        """``send``, its exception returned rather than raised: gevent prints the traceback of
        every greenlet that dies of one to stderr, once per failed event during an outage."""
        try:
            return self.send(url, data, headers)
        except Exception as e:
            return _Failed(e)

    def _done(
        self,
        greenlet: Any,
        success_cb: Callable[..., Any],
        failure_cb: Callable[[BaseException], Any],
        *args: Any,
    ) -> None:
        """Report how a send greenlet ended, and hand its slot on (6.10's name and role)."""
        self._slots.finished()
        value = greenlet.value
        if not greenlet.successful():
            report(failure_cb, greenlet.exception)
        elif isinstance(value, _Failed):
            report(failure_cb, value.error)
        elif isinstance(value, self._gevent.GreenletExit):
            # killed (gevent counts that as success): the event was not sent
            report(failure_cb, ConnectionAbortedError("raven: the send greenlet was killed"))
        else:
            report_success(success_cb, value)

    def _spawn_later(self, delay: float, callback: Callable[[], None]) -> None:
        self._gevent.spawn_later(delay, callback)


class _Failed:
    """The result of a send greenlet whose send raised."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error
