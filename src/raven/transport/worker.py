"""The background delivery thread: a bounded queue, retries with back-off, and a clean exit.

The worker knows *when* to send, not *how*: it hands each pending event to a ``deliver``
callable (the client's delivery policy) and acts on the answer: finished (sent, or dropped
and counted), or "retry later". While the server is unreachable it keeps the events, in
order, and waits with exponential back-off and jitter; nothing is dropped while the queue
has room. With a spool, the queue lives on disk and other processes may share it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Deque, Dict, List, Optional

__all__ = ["DeliveryWorker", "Pending"]

logger = logging.getLogger("sentry.errors")

#: first retry delay after a failure, and the cap the doubling stops at (seconds)
BACKOFF_BASE = 0.5
BACKOFF_MAX = 10.0
#: with a spool and nothing to do, look for rows other processes left behind this often
SPOOL_POLL = 5.0
#: without a spool, an idle thread exits after this many seconds (and restarts on demand)
IDLE_EXIT = 60.0
SPOOL_BATCH = 32


class Pending:
    """One encoded event waiting to be sent."""

    __slots__ = (
        "attempts",
        "body",
        "category",
        "event_id",
        "headers",
        "shrunk",
        "spool_id",
        "url",
    )

    def __init__(
        self,
        url: str,
        body: bytes,
        headers: Dict[str, str],
        category: str = "error",
        event_id: Optional[str] = None,
        spool_id: Optional[int] = None,
        attempts: int = 0,
    ) -> None:
        self.url = url
        self.body = body
        self.headers = headers
        self.category = category
        self.event_id = event_id
        self.spool_id = spool_id
        self.attempts = attempts
        #: set once the body was re-encoded smaller after a 413
        self.shrunk = False

    def __repr__(self) -> str:
        return "<Pending %s %s %d bytes, %d attempt(s)>" % (
            self.category,
            self.event_id,
            len(self.body),
            self.attempts,
        )


def backoff_delay(failures: int, rand: Callable[[], float]) -> float:
    """Seconds to wait after ``failures`` consecutive failures: doubling, capped, jittered.

    The jitter (50-100 % of the step) keeps many processes that lost the same server from
    coming back at the same instant.
    """
    step = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** min(failures - 1, 16)))
    return step * (0.5 + rand() / 2)


class DeliveryWorker:
    """One daemon thread feeding pending events to ``deliver``, oldest first.

    Args:
        deliver: ``deliver(pending) -> None | float``: None when the event is finished
            (delivered, or dropped and counted), a number to retry it later (at least that
            many seconds later: a ``Retry-After`` hint, 0 for none).
        spool: a :class:`raven.transport.spool.Spool` holding events on disk, or None.
        max_events, max_bytes: bounds of the in-memory queue; :meth:`put` refuses beyond them.
        shutdown_timeout: seconds to keep sending at interpreter exit.
        on_abandon: called with the events still held in memory when the worker gives up
            (exit or :meth:`close` past its deadline), so they can be counted.
    """

    def __init__(
        self,
        deliver: Callable[[Pending], Optional[float]],
        spool: Any = None,
        max_events: int = 10000,
        max_bytes: int = 32 * 1024 * 1024,
        shutdown_timeout: float = 10.0,
        on_abandon: Optional[Callable[[List[Pending]], None]] = None,
        name: str = "raven.DeliveryWorker",
        rand: Optional[Callable[[], float]] = None,
    ) -> None:
        self._deliver = deliver
        self.spool = spool
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.shutdown_timeout = shutdown_timeout
        self._on_abandon = on_abandon
        self.name = name
        if rand is None:
            import random

            rand = random.random
        self._rand = rand
        self._reset()
        _live_workers.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: Deque[Pending] = deque()
        self._bytes = 0
        self._busy = False
        self._stopping = False
        self._spool_idle = False
        self._resume_at = 0.0
        self._failures = 0
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()

    def _after_fork_in_child(self) -> None:
        # the parent's thread does not exist here and its queue is the parent's business
        # (spooled events stay on disk for whichever process claims them)
        self._reset()

    # -- the app side ------------------------------------------------------------------------

    def put(self, item: Pending) -> bool:
        """Queue ``item``; False when the queue is full (the caller counts the drop)."""
        if self._pid != os.getpid():
            self._after_fork_in_child()
        size = len(item.body)
        with self._cond:
            if len(self._queue) >= self.max_events or self._bytes + size > self.max_bytes:
                return False
            self._queue.append(item)
            self._bytes += size
            self._cond.notify_all()
        self._ensure_thread()
        return True

    def defer(self, hint: float = 0.0) -> None:
        """Count a failure the caller saw itself: wait a back-off before the next attempt."""
        with self._cond:
            self._failures += 1
            delay = max(hint, backoff_delay(self._failures, self._rand))
            self._resume_at = max(self._resume_at, time.monotonic() + delay)

    def wake(self) -> None:
        """Something was spooled: look at the spool now instead of at the next poll."""
        if self._pid != os.getpid():
            self._after_fork_in_child()
        with self._cond:
            self._spool_idle = False
            self._cond.notify_all()
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            if self._stopping:
                return
            _register_atexit()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def pending(self) -> int:
        """Events not yet finished: in memory, being sent, and (with a spool) on disk."""
        with self._lock:
            count = len(self._queue) + (1 if self._busy else 0)
        if self.spool is not None:
            try:
                count += len(self.spool)
            except Exception:
                pass
        return count

    @property
    def failing(self) -> bool:
        """Whether the last attempt failed and the worker is backing off."""
        return self._failures > 0

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until everything queued is finished; True if that happened within ``timeout``.

        A retry that is waiting out its back-off is tried at once (once per flush call).
        """
        if self._pid != os.getpid():
            self._after_fork_in_child()
        if timeout is None:
            timeout = self.shutdown_timeout
        deadline = time.monotonic() + timeout
        if self.spool is not None:
            self.wake()
        with self._cond:
            self._resume_at = min(self._resume_at, time.monotonic())
            self._spool_idle = False
            self._cond.notify_all()
        while True:
            with self._cond:
                idle = not self._queue and not self._busy
                if idle and (self.spool is None or self._spool_idle):
                    break
                has_work = bool(self._queue) or (self.spool is not None and not self._spool_idle)
            thread = self._thread
            if has_work and (thread is None or not thread.is_alive()):
                self._ensure_thread()
            with self._cond:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.5))
        if self.spool is not None:
            try:
                return len(self.spool) == 0
            except Exception:
                return False
        return True

    def close(self, timeout: Optional[float] = None) -> List[Pending]:
        """Flush up to ``timeout``, then stop; returns the events that were not finished."""
        self.flush(timeout)
        with self._cond:
            self._stopping = True
            left = list(self._queue)
            self._queue.clear()
            self._bytes = 0
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(0.2)
        _live_workers.discard(self)
        if left and self._on_abandon is not None:
            self._on_abandon(left)
        return left

    def _at_exit(self) -> None:
        if self._pid != os.getpid() or self._stopping:
            return
        if (self._thread is None or not self._thread.is_alive()) and not self._queue:
            return
        if self.flush(min(0.1, self.shutdown_timeout)):
            self.close(0)
            return
        logger.warning(
            "raven is sending %d pending event(s) before exit; waiting up to %s seconds",
            self.pending(),
            self.shutdown_timeout,
        )
        left = self.close(max(self.shutdown_timeout - 0.1, 0))
        if left:
            logger.error(
                "raven gave up on %d event(s) at exit after %s seconds%s",
                len(left),
                self.shutdown_timeout,
                "" if self.spool is None else " (spooled events stay on disk for the next run)",
            )

    # -- the worker thread -------------------------------------------------------------------

    def _next(self, batch: Deque[Pending]) -> Optional[Pending]:
        """The next event to try (None: stop). Waits out back-off and idleness."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                now = time.monotonic()
                if self._resume_at > now:
                    self._cond.wait(self._resume_at - now)
                    continue
                if self._queue:
                    item = self._queue.popleft()
                    self._bytes -= len(item.body)
                    self._busy = True
                    return item
                if batch:
                    self._busy = True
                    return batch.popleft()
                if self.spool is not None and not self._spool_idle:
                    self._busy = True
                    return _CLAIM
                self._cond.notify_all()  # idle: wake flush() waiters
                if self.spool is not None:
                    self._cond.wait(SPOOL_POLL)
                    self._spool_idle = False
                elif not self._cond.wait(IDLE_EXIT) and not self._queue:
                    # nothing to do for a while: let the thread go (a client that is no
                    # longer used must not keep one for ever); put() starts a new one
                    if self._thread is threading.current_thread():
                        self._thread = None
                    return None

    def _run(self) -> None:
        # nothing this thread logs (transports, on_drop callbacks) becomes a breadcrumb or,
        # through a SentryHandler, an event that would feed this same queue
        from raven.breadcrumbs import _suppressed

        _suppressed.set(True)
        batch: Deque[Pending] = deque()
        while True:
            item = self._next(batch)
            if item is None:
                self._release_batch(batch)
                return
            try:
                if item is _CLAIM:
                    self._claim(batch)
                    continue
                try:
                    retry = self._deliver(item)
                except Exception:  # a bug in the policy: never let it kill the thread
                    logger.error("raven: failed to deliver an event", exc_info=True)
                    retry = None
                if retry is None:
                    self._failures = 0
                    if item.spool_id is not None:
                        self._spool_call("ack", [item.spool_id])
                else:
                    self._failures += 1
                    item.attempts += 1
                    delay = max(retry, backoff_delay(self._failures, self._rand))
                    with self._cond:
                        self._resume_at = time.monotonic() + delay
                        stopped = self._stopping
                        if item.spool_id is None and not stopped:
                            self._queue.appendleft(item)
                            self._bytes += len(item.body)
                    if stopped and item.spool_id is None:
                        if self._on_abandon is not None:
                            self._on_abandon([item])
                    elif item.spool_id is not None:
                        # give the rows back: the order stays the spool's, and a sibling
                        # process may take them if this one dies while waiting
                        batch.appendleft(item)
                        self._release_batch(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _claim(self, batch: Deque[Pending]) -> None:
        rows = self._spool_call("claim", SPOOL_BATCH) or []
        for row in rows:
            batch.append(
                Pending(
                    row.url,
                    row.body,
                    row.headers,
                    row.category,
                    row.event_id,
                    spool_id=row.id,
                    attempts=row.attempts,
                )
            )
        if not rows:
            with self._cond:
                self._spool_idle = True

    def _release_batch(self, batch: Deque[Pending]) -> None:
        ids = [item.spool_id for item in batch if item.spool_id is not None]
        batch.clear()
        if ids:
            self._spool_call("release", ids)

    def _spool_call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.spool, method)(*args)
        except Exception:
            logger.error("raven: the spool failed (%s)", method, exc_info=True)
            return None


#: marker returned by _next: "look in the spool"
_CLAIM: Any = Pending("", b"", {})

_live_workers: weakref.WeakSet = weakref.WeakSet()
_atexit_lock = threading.Lock()
_atexit_registered = False


def _register_atexit() -> None:
    """One atexit hook for every worker in the process, registered on the first start."""
    global _atexit_registered
    if _atexit_registered:
        return
    with _atexit_lock:
        if not _atexit_registered:
            atexit.register(_flush_all_at_exit)
            _atexit_registered = True


#: weak references to bound methods to call at exit (objects that died are skipped)
_exit_callbacks: List[Any] = []


def at_exit(callback: Callable[[], Any]) -> None:
    """Run the bound method ``callback`` from raven's one atexit hook (its object held weakly)."""
    _register_atexit()
    with _atexit_lock:
        _exit_callbacks[:] = [ref for ref in _exit_callbacks if ref() is not None]
        _exit_callbacks.append(weakref.WeakMethod(callback))


def _flush_all_at_exit() -> None:
    for ref in list(_exit_callbacks):
        callback = ref()
        if callback is not None:
            try:
                callback()
            except Exception:
                logger.error("raven: failed to flush at exit", exc_info=True)
    for worker in list(_live_workers):
        try:
            worker._at_exit()
        except Exception:
            logger.error("raven: failed to flush at exit", exc_info=True)


def _after_fork() -> None:
    for worker in list(_live_workers):
        worker._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
