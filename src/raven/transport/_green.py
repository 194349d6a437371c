"""What the green-thread transports (gevent, eventlet) share: a bound on sends in flight that
never makes the capturing code wait, a connection pool sized to match it, and real threads
for a process that did not monkey-patch."""

from __future__ import annotations

import logging
import threading
from collections import deque

from raven.transport.base import AsyncTransport
from raven.transport.http import HTTPTransport

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Deque, Dict, Optional

__all__ = [
    "BACKLOG_FACTOR",
    "GreenHTTPTransport",
    "SendSlots",
    "guarded",
    "positive_int",
    "report",
    "report_success",
]

logger = logging.getLogger("sentry.errors")

#: sends beyond the in-flight bound wait in order, up to this many times the bound
BACKLOG_FACTOR = 10
#: threads sending for a process that did not monkey-patch (gevent's own pool has 10)
MAX_THREADS = 10


def positive_int(name: str, value: Any) -> int:
    """``value`` (an int, or a string from a DSN query) as a positive int, or ValueError."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a whole number, got %r" % (name, value))
    if isinstance(value, bool) or number < 1 or (isinstance(value, float) and value != number):
        raise ValueError("%s must be a whole number of at least 1, got %r" % (name, value))
    return number


class SendSlots:
    """At most ``limit`` sends run at once; up to ``backlog`` more wait their turn, in order.

    Nothing here waits: a send either starts, joins the backlog, or is refused (the caller
    reports the refusal). raven 6.10 blocked the capturing greenlet on a semaphore instead,
    for as long as the server took to answer the sends ahead of it; a greenlet reporting an
    error would stall behind a slow server, and code running in the hub (a callback) cannot
    block at all.
    """

    def __init__(self, limit: int, backlog: int) -> None:
        self.limit = limit
        self.backlog = backlog
        self._running = 0
        self._waiting: Deque[Callable[[], None]] = deque()
        # a real lock or a green one: either way it is never held across a switch
        self._lock = threading.Lock()

    @property
    def outstanding(self) -> int:
        """Sends started and not finished, plus those waiting for a slot."""
        with self._lock:
            return self._running + len(self._waiting)

    def submit(self, start: Callable[[], None]) -> bool:
        """Call ``start`` now if a slot is free, later if the backlog has room; else False.

        ``start`` must begin the send without waiting for it, and the send must call
        :meth:`finished` once, whatever its outcome.
        """
        with self._lock:
            if self._running < self.limit:
                self._running += 1
            elif len(self._waiting) < self.backlog:
                self._waiting.append(start)
                return True
            else:
                return False
        start()
        return True

    def finished(self) -> None:
        """A send ended: its slot goes to the oldest waiting send, or becomes free."""
        with self._lock:
            if not self._waiting:
                self._running -= 1
                return
            start = self._waiting.popleft()
        start()


class GreenHTTPTransport(AsyncTransport, HTTPTransport):
    """:class:`HTTPTransport` sends, each in a green thread, at most ``limit`` at once.

    In a process that monkey-patched sockets and threads, a send runs in a green thread of
    the library (:meth:`_spawn_send`, :meth:`_spawn_later`). Otherwise the blocking send
    would freeze every green thread for up to ``timeout``, and the client's ``flush()``,
    waiting on a real lock, would stop the very hub that runs the sends: so the sends (and
    the retry timers) use real threads instead.
    """

    def _init_slots(self, limit: int, shutdown_timeout: Any) -> None:
        try:
            #: seconds the client keeps sending at interpreter exit
            self.shutdown_timeout = float(shutdown_timeout)
        except (TypeError, ValueError):
            raise ValueError(
                "shutdown_timeout must be a number of seconds, got %r" % (shutdown_timeout,)
            )
        self._slots = SendSlots(limit, limit * BACKLOG_FACTOR)
        self._executor: Any = None
        self._executor_lock = threading.Lock()
        #: the client's delivery keeps no more sends than this in flight (more wait in its
        #: queue), so the backlog here only serves code calling ``async_send`` itself
        self.max_in_flight = limit

    # -- what each library provides ------------------------------------------------------------

    def _patched(self) -> bool:
        """Whether sockets and threads are the library's green ones."""
        raise NotImplementedError

    def _spawn_send(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[..., Any],
        failure_cb: Callable[[BaseException], Any],
    ) -> None:
        """Start a green thread that sends, calls :meth:`SendSlots.finished` and reports."""
        raise NotImplementedError

    def _spawn_later(self, delay: float, callback: Callable[[], None]) -> None:
        raise NotImplementedError

    # -- the shared part -----------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Sends in flight or waiting for a slot (not yet reported to the callbacks)."""
        return self._slots.outstanding

    def async_send(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[..., Any],
        failure_cb: Callable[[BaseException], Any],
    ) -> None:
        """Start sending ``data`` (or queue it for a free slot); never waits."""
        green = self._patched()

        def start() -> None:
            try:
                if green:
                    self._spawn_send(url, data, headers, success_cb, failure_cb)
                    return
                try:
                    self._threads().submit(self._run, url, data, headers, success_cb, failure_cb)
                except RuntimeError:
                    # the interpreter is exiting and starts no more threads (raven's exit
                    # hook flushing): send from here, as the exit hook waits anyway
                    self._run(url, data, headers, success_cb, failure_cb)
            except Exception as e:  # no hub left (the interpreter is exiting)
                self._slots.finished()
                report(failure_cb, e)

        if not self._slots.submit(start):
            report(failure_cb, self._overflow())

    def _run(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[..., Any],
        failure_cb: Callable[[BaseException], Any],
    ) -> None:
        """One send, then its slot is freed and its outcome reported, from the thread (green
        or real) that sent it, never from the hub."""
        try:
            response = self.send(url, data, headers)
        except Exception as e:
            self._slots.finished()
            report(failure_cb, e)
        except BaseException:  # GreenletExit: killed; the event was not sent
            self._slots.finished()
            report(failure_cb, ConnectionAbortedError("raven: the sending thread was killed"))
            raise
        else:
            self._slots.finished()
            report_success(success_cb, response)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> None:
        """Run ``callback`` after ``delay`` seconds in a green thread (a timer thread if the
        process did not monkey-patch)."""
        delay = max(float(delay), 0.0)
        if self._patched():
            self._spawn_later(delay, guarded(callback))
        else:
            timer = threading.Timer(delay, guarded(callback))
            timer.daemon = True
            timer.start()

    def _threads(self) -> Any:
        if self._executor is None:
            with self._executor_lock:
                if self._executor is None:
                    from concurrent.futures import ThreadPoolExecutor

                    self._executor = ThreadPoolExecutor(
                        max_workers=min(self._slots.limit, MAX_THREADS),
                        thread_name_prefix="raven.%s" % type(self).__name__,
                    )
        return self._executor

    def close(self) -> None:
        """Let the sending threads go once their sends end (the client's ``close`` calls it)."""
        executor: Optional[Any] = getattr(self, "_executor", None)
        if executor is not None:
            self._executor = None
            executor.shutdown(wait=False)
        parent_close = getattr(super(), "close", None)
        if parent_close is not None:
            parent_close()

    def _pool_options(self) -> Dict[str, Any]:
        # one keep-alive connection per concurrent send: urllib3's default pool keeps one and
        # logs a warning for every extra connection it has to throw away
        options = super()._pool_options()
        options["maxsize"] = self._slots.limit
        return options

    def _overflow(self) -> OverflowError:
        return OverflowError(
            "raven: %d sends in flight and %d waiting; event dropped (%s)"
            % (self._slots.limit, self._slots.backlog, type(self).__name__)
        )


def report(callback: Callable[..., Any], *args: Any) -> None:
    """Call a success or failure callback; its own failure is logged, never raised into the
    event loop (which would print it, or stop the green thread that frees the next slot)."""
    try:
        callback(*args)
    except Exception:
        logger.error("raven: a send callback failed", exc_info=True)


def report_success(callback: Callable[..., Any], response: Any) -> None:
    """Call a success callback with the response (``status``, ``headers``: rate limits a 2xx
    announces are honoured), or without it if it takes no argument, as 6.10's callbacks."""
    import inspect

    try:
        inspect.signature(callback).bind(response)
    except TypeError:
        report(callback)
    except ValueError:  # no signature to inspect (a builtin): 6.10's form
        report(callback)
    else:
        report(callback, response)


def guarded(callback: Callable[[], Any]) -> Callable[[], None]:
    """``callback`` for a timer: its failure is logged on ``sentry.errors``."""

    def run() -> None:
        try:
            callback()
        except Exception:
            logger.error("raven: a scheduled retry failed", exc_info=True)

    return run
