"""Retries for event-loop transports: the delivery rules of the worker, without its thread.

An :class:`~raven.transport.base.AsyncTransport` reports each send through callbacks, from
whatever thread or loop it runs on. :class:`AsyncSends` keeps the events such a transport
has not finished: those in flight, and those waiting for their turn or for a retry. The
rules are the worker's (see ``docs/delivery.md``): a network error keeps the event and waits
a jittered, doubling back-off (0.5 s to 10 s) before trying again; a 5xx is retried up to
``MAX_SERVER_ERROR_ATTEMPTS``; inside a rate-limit window nothing of that category is sent;
every event that is not delivered is counted with its reason.

While the server is failing only one send is in flight (a probe); the others wait in order,
so an outage costs one connection attempt per back-off step, not one per event. Waiting is
scheduled with the transport's :meth:`~raven.transport.base.AsyncTransport.call_later`, so
the retry runs where the transport sends from (its event loop, its hub, or a timer thread).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque

from raven.transport.worker import Pending, at_exit, backoff_delay

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

__all__ = ["AsyncSends"]

logger = logging.getLogger("sentry.errors")

#: a back-off timer that has not fired this long after it was due is taken as lost (its
#: loop stopped) and scheduled again
LOST_TIMER_GRACE = 1.0
#: how often one event may be re-sent at once in another form (smaller after a 413, to the
#: store endpoint after a 404/405 on the envelope one)
MAX_RESENDS = 2


def on_event_loop_thread() -> bool:
    """Whether an asyncio loop runs in this thread: blocking here would stop it."""
    aio = sys.modules.get("asyncio")
    return aio is not None and aio._get_running_loop() is not None


def _timer_call_later(delay: float, callback: Callable[[], Any]) -> None:
    timer = threading.Timer(max(delay, 0.0), callback)
    timer.daemon = True
    timer.start()


class _Attempt:
    """One send in flight; the first of its two callbacks wins, a second call is ignored."""

    __slots__ = ("done", "item", "resends", "round")

    def __init__(self, item: Pending, resends: int = 0) -> None:
        self.item = item
        self.resends = resends
        #: the back-off round the send started in (set when it starts)
        self.round = 0
        self.done = False


class AsyncSends:
    """The unfinished events of one delivery whose transport sends through callbacks.

    Args:
        delivery: the :class:`~raven.transport.delivery.Delivery` (its verdicts and counters).
        max_events, max_bytes: bounds on unfinished events; beyond them new events are
            dropped as ``queue_overflow``.
        shutdown_timeout: seconds to keep sending at interpreter exit.
        clock, rand: injectable for tests.
    """

    def __init__(
        self,
        delivery: Any,
        max_events: int = 10000,
        max_bytes: int = 32 * 1024 * 1024,
        shutdown_timeout: float = 10.0,
        clock: Optional[Callable[[], float]] = None,
        rand: Optional[Callable[[], float]] = None,
    ) -> None:
        self.delivery = delivery
        transport = delivery.transport
        self._async_send = transport.async_send
        self._call_later = getattr(transport, "call_later", None) or _timer_call_later
        self.max_in_flight = max(int(getattr(transport, "max_in_flight", 100) or 1), 1)
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.shutdown_timeout = shutdown_timeout
        self._clock = clock or time.monotonic
        if rand is None:
            import random

            rand = random.random
        self._rand = rand
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiting: Deque[_Attempt] = deque()
        self._in_flight = 0
        self._bytes = 0
        self._failures = 0  # consecutive failed rounds
        self._round = 0  # bumped whenever a failure opens (or a success ends) a back-off
        self._resume_at = 0.0
        self._timer_due: Optional[float] = None
        self._pumping = False
        self._closed = False
        self._idle_callbacks: List[Callable[[], Any]] = []
        #: event id -> [callback(delivered), whether the event reached submit()]
        self._watchers: Dict[str, List[Any]] = {}
        self._exit_hook = False

    # -- from the capturing code -------------------------------------------------------------

    def submit(self, item: Pending) -> None:
        """Take an event: start it now, or queue it behind the others (bounded)."""
        if self.delivery.limits.is_limited(item.category):
            self._drop(item, "ratelimit_backoff")
            return
        size = len(item.body)
        with self._lock:
            full = (
                len(self._waiting) + self._in_flight >= self.max_events
                or self._bytes + size > self.max_bytes
            )
            if not full:
                self._waiting.append(_Attempt(item))
                self._bytes += size
            if self._watchers and item.event_id in self._watchers:
                self._watchers[item.event_id][1] = True  # a dropped event is finished too
        if full:
            self._drop(item, "queue_overflow")
            self.delivery._log_once(
                "queue_overflow",
                "raven's send queue is full (%d events or %d bytes); events are being dropped",
                self.max_events,
                self.max_bytes,
            )
            return
        if not self._exit_hook:
            self._exit_hook = True
            at_exit(self._at_exit)
        self._pump()

    def pending(self) -> int:
        """Events not finished: in flight, waiting their turn, or waiting for a retry."""
        with self._lock:
            return len(self._waiting) + self._in_flight

    @property
    def failing(self) -> bool:
        return self._failures > 0

    def watch(self, event_id: str, callback: Callable[[bool], Any]) -> None:
        """Call ``callback(delivered)`` once when the event ``event_id`` is finished.

        Call :meth:`settle` once the event was handed over: an event the client dropped
        before it got here (rate limited before encoding, say) is finished then.
        """
        with self._lock:
            self._watchers[event_id] = [callback, False]

    def settle(self, event_id: str) -> None:
        """Finish the watch on ``event_id`` as not delivered if the event never arrived."""
        with self._lock:
            watcher = self._watchers.get(event_id)
            if watcher is None or watcher[1]:
                return
            del self._watchers[event_id]
        try:
            watcher[0](False)
        except Exception:
            logger.error("raven: an event's completion callback failed", exc_info=True)

    def when_idle(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` (from any thread) once nothing is pending; at once if so now."""
        with self._lock:
            idle = not self._waiting and not self._in_flight
            if not idle:
                self._idle_callbacks.append(callback)
        if idle:
            callback()

    def retry_now(self) -> None:
        """End a back-off early: the next waiting event is tried at once (flush does this)."""
        with self._lock:
            self._resume_at = min(self._resume_at, self._clock())
        self._pump()

    def flush(self, timeout: Optional[float]) -> bool:
        """Wait up to ``timeout`` seconds until nothing is pending; True if that happened.

        On the thread of a running asyncio loop, or the transport's own loop (a transport
        with ``on_loop_thread()``, e.g. Twisted's reactor), it cannot wait (the sends it waits
        for run on that loop): it starts what it can and answers at once.
        """
        if timeout is None:
            timeout = self.shutdown_timeout
        deadline = time.monotonic() + timeout
        self.retry_now()
        if on_event_loop_thread() or self._on_transport_loop():
            return self.pending() == 0
        with self._changed:
            while self._waiting or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.5))
        return True

    def _on_transport_loop(self) -> bool:
        check = getattr(self.delivery.transport, "on_loop_thread", None)
        try:
            return bool(check()) if check is not None else False
        except Exception:
            return False

    def close(self, timeout: Optional[float]) -> int:
        """Flush up to ``timeout``, then give up on what waits; returns the sends in flight.

        The events given up on are counted as ``shutdown_timeout``; a send still in flight
        is counted by its own answer when it comes.
        """
        self.flush(timeout)
        with self._changed:
            self._closed = True
            left = list(self._waiting)
            self._waiting.clear()
            self._bytes -= sum(len(a.item.body) for a in left)
            in_flight = self._in_flight
            self._changed.notify_all()
        for attempt in left:
            self._drop(attempt.item, "shutdown_timeout")
        self._after_change()
        return in_flight

    # -- starting sends ----------------------------------------------------------------------

    def _take(self, dropped: List[_Attempt]) -> Tuple[Optional[_Attempt], Optional[float]]:
        """Under the lock: the next attempt to start, and a delay to schedule a wake-up for."""
        now = self._clock()
        if self._resume_at > now:
            due = self._timer_due
            if due is None or now > due + LOST_TIMER_GRACE:
                self._timer_due = self._resume_at
                return None, self._resume_at - now
            return None, None
        cap = 1 if self._failures else self.max_in_flight
        limits = self.delivery.limits
        while self._waiting and self._in_flight < cap:
            attempt = self._waiting.popleft()
            self._bytes -= len(attempt.item.body)
            if limits.is_limited(attempt.item.category):
                dropped.append(attempt)  # nothing is sent inside a rate-limit window
                continue
            self._in_flight += 1
            attempt.round = self._round
            return attempt, None
        return None, None

    def _pump(self) -> None:
        """Start every send the rules allow now; one thread at a time, the others return.

        A send whose callback runs inside ``async_send`` (a blocking fallback, a refusal
        before any I/O) comes back here through :meth:`_pump` and returns at once, so a
        long queue is walked in this loop instead of in ever deeper recursion.
        """
        with self._lock:
            if self._pumping:
                return
            self._pumping = True
        try:
            while True:
                dropped: List[_Attempt] = []
                with self._lock:
                    attempt, wake_in = self._take(dropped)
                    if attempt is None:
                        self._pumping = False
                for gone in dropped:
                    self._drop(gone.item, "ratelimit_backoff")
                if wake_in is not None:
                    self._schedule(wake_in)
                if attempt is None:
                    if dropped:
                        self._after_change()
                    return
                self._start(attempt)
        except BaseException:
            with self._lock:
                self._pumping = False
            raise

    def _schedule(self, delay: float) -> None:
        try:
            self._call_later(delay, self._wake)
        except Exception:
            logger.error("raven: the transport could not schedule a retry", exc_info=True)
            _timer_call_later(delay, self._wake)

    def _wake(self) -> None:
        with self._lock:
            self._timer_due = None
        try:
            self._pump()
        except Exception:
            logger.error("raven: failed to retry an event", exc_info=True)

    def _start(self, attempt: _Attempt) -> None:
        from raven.transport import delivery as policy

        def success(*args: Any) -> None:
            self._succeeded(attempt, args[0] if args else None)

        def failure(exc: BaseException) -> None:
            self._failed(attempt, exc)

        try:
            item = attempt.item
            delivery = self.delivery
            if delivery.endpoint == "store" and delivery._auto and policy._is_envelope(item):
                # queued before the server turned out to have no envelope endpoint
                item = attempt.item = delivery._as_store(item) or item
            policy._compress(item)
            self._async_send(item.url, item.body, item.headers, success, failure)
        except Exception as exc:  # the transport refused before sending: its verdict counts
            failure(exc)

    # -- answers -----------------------------------------------------------------------------

    def _claim(self, attempt: _Attempt) -> bool:
        with self._lock:
            if attempt.done:
                return False
            attempt.done = True
            self._in_flight -= 1
            return True

    def _succeeded(self, attempt: _Attempt, response: Any) -> None:
        if not self._claim(attempt):
            return
        try:
            self.delivery._update_limits(response)
            self.delivery._delivered()
            with self._lock:
                if self._failures:
                    self._failures = 0
                    self._round += 1
                    self._resume_at = 0.0
            self._finished(attempt.item, True)
        except Exception:
            logger.error("raven: failed to record a delivered event", exc_info=True)
        self._continue()

    def _failed(self, attempt: _Attempt, exc: BaseException) -> None:
        if not self._claim(attempt):
            return
        try:
            self._judged(attempt, exc)
        except Exception:
            logger.error("raven: failed to handle a send error", exc_info=True)
            self._drop(attempt.item, "internal_error")
        self._continue()

    def _judged(self, attempt: _Attempt, exc: BaseException) -> None:
        item = attempt.item
        verdict = self.delivery._judge(item, exc)
        if verdict is None:  # finished: counted by the verdict (refused, too large, limited)
            self._finished(item, False)
            return
        if isinstance(verdict, Pending):  # smaller, or for the store endpoint: send it now
            if attempt.resends >= MAX_RESENDS:
                self._drop(item, "send_error")
                return
            again = _Attempt(verdict, attempt.resends + 1)
            with self._lock:
                self._waiting.appendleft(again)
                self._bytes += len(verdict.body)
            return
        item.attempts += 1
        with self._lock:
            closed = self._closed
            if not closed:
                now = self._clock()
                delay = float(verdict)
                if attempt.round == self._round:
                    # the first failure of this round: sends already in flight that fail
                    # too belong to the same outage and do not lengthen the back-off
                    self._failures += 1
                    self._round += 1
                    delay = max(delay, backoff_delay(self._failures, self._rand))
                self._resume_at = max(self._resume_at, now + delay)
                self._waiting.appendleft(_Attempt(item, attempt.resends))
                self._bytes += len(item.body)
        if closed:
            self._drop(item, "shutdown_timeout")

    def _continue(self) -> None:
        try:
            self._pump()
        except Exception:
            logger.error("raven: failed to start the next send", exc_info=True)
        self._after_change()

    # -- bookkeeping -------------------------------------------------------------------------

    def _drop(self, item: Pending, reason: str) -> None:
        self.delivery.stats.drop(reason, category=item.category)
        self._finished(item, False)

    def _finished(self, item: Pending, delivered: bool) -> None:
        if item.event_id is None or not self._watchers:
            return
        with self._lock:
            watcher = self._watchers.pop(item.event_id, None)
        if watcher is not None:
            try:
                watcher[0](delivered)
            except Exception:
                logger.error("raven: an event's completion callback failed", exc_info=True)

    def _after_change(self) -> None:
        """Wake flush() waiters; call the idle callbacks once nothing is pending."""
        with self._changed:
            self._changed.notify_all()
            if self._waiting or self._in_flight or not self._idle_callbacks:
                return
            callbacks, self._idle_callbacks = self._idle_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.error("raven: a flush callback failed", exc_info=True)

    def _at_exit(self) -> None:
        if self._closed or not self.pending():
            return
        if self.flush(min(0.1, self.shutdown_timeout)):
            return
        logger.warning(
            "raven is sending %d pending event(s) before exit; waiting up to %s seconds",
            self.pending(),
            self.shutdown_timeout,
        )
        in_flight = self.close(max(self.shutdown_timeout - 0.1, 0))
        if in_flight:
            logger.error(
                "raven gave up on %d event(s) at exit after %s seconds",
                in_flight,
                self.shutdown_timeout,
            )
