"""The default transport: HTTP sends on one background thread, so capturing never waits."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque

from raven.transport.base import AsyncTransport
from raven.transport.http import HTTPTransport

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Deque, Dict, Optional, Tuple

    _Job = Tuple[Callable[..., Any], Tuple[Any, ...], Dict[str, Any]]

__all__ = ["DEFAULT_TIMEOUT", "AsyncWorker", "ThreadedHTTPTransport"]

DEFAULT_TIMEOUT = 10
#: how many sends may wait; further ones are dropped (and counted) rather than grow memory
DEFAULT_QUEUE_SIZE = 10000

logger = logging.getLogger("sentry.errors")


class AsyncWorker:
    """One daemon thread running queued callables in order, with a bounded queue.

    The thread starts on first use and again after a fork (the child gets a fresh queue).
    At interpreter exit the queue is drained for up to ``shutdown_timeout`` seconds; the
    progress message goes to the ``sentry.errors`` logger, never to stdout.

    Args:
        shutdown_timeout: seconds to wait for pending sends at exit.
        maxsize: queue bound; a job queued beyond it is dropped and counted in ``dropped``.
    """

    def __init__(
        self, shutdown_timeout: float = DEFAULT_TIMEOUT, maxsize: int = DEFAULT_QUEUE_SIZE
    ) -> None:
        self.options = {"shutdown_timeout": float(shutdown_timeout)}
        self.maxsize = maxsize
        self.dropped = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: Deque[Optional[_Job]] = deque()
        self._busy = 0
        self._thread: Optional[threading.Thread] = None
        self._thread_for_pid: Optional[int] = None
        self._atexit_registered = False
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue = deque()
        self._busy = 0
        self._thread = None
        self._thread_for_pid = None

    def is_alive(self) -> bool:
        return (
            self._thread_for_pid == os.getpid()
            and self._thread is not None
            and self._thread.is_alive()
        )

    def start(self) -> None:
        with self._lock:
            if self.is_alive():
                return
            self._thread = threading.Thread(
                target=self._target, name="raven.AsyncWorker", daemon=True
            )
            self._thread_for_pid = os.getpid()
            self._thread.start()
            if not self._atexit_registered:
                from raven.transport.worker import at_exit

                at_exit(self.main_thread_terminated)
                self._atexit_registered = True

    def queue(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Queue ``callback(*args, **kwargs)``; False (and counted) when the queue is full."""
        if not self.is_alive():
            self.start()
        with self._cond:
            if len(self._queue) >= self.maxsize:
                self.dropped += 1
                return False
            self._queue.append((callback, args, kwargs))
            self._cond.notify()
        return True

    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + self._busy

    def _timed_queue_join(self, timeout: float) -> bool:
        """Wait until the queue is empty and idle; True if it drained within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def flush(self, timeout: Optional[float] = None) -> bool:
        if not self.is_alive():
            return not self._queue
        return self._timed_queue_join(
            self.options["shutdown_timeout"] if timeout is None else timeout
        )

    def stop(self, timeout: Optional[float] = None) -> None:
        """Finish the queued jobs (up to ``timeout``) and stop the thread."""
        if not self.is_alive():
            return
        with self._cond:
            self._queue.append(None)
            self._cond.notify()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._thread = None

    def main_thread_terminated(self) -> None:
        if not self.is_alive():
            return
        timeout = self.options["shutdown_timeout"]
        if self._timed_queue_join(min(0.1, timeout)):
            self.stop(0.1)
            return
        pending = self.pending()
        logger.warning(
            "raven is sending %d pending event(s) before exit; waiting up to %s seconds",
            pending,
            timeout,
        )
        if not self._timed_queue_join(max(timeout - 0.1, 0)):
            logger.error(
                "raven gave up on %d event(s) at exit after %s seconds", self.pending(), timeout
            )
        self.stop(0.1)

    def _target(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                job = self._queue.popleft()
                if job is None:
                    self._cond.notify_all()
                    return
                self._busy += 1
            callback, args, kwargs = job
            try:
                callback(*args, **kwargs)
            except Exception:
                logger.error("Failed processing job", exc_info=True)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()


_worker_lock = threading.Lock()


class BackgroundSends:
    """Runs a synchronous transport's ``send`` on an :class:`AsyncWorker` thread.

    Mixed in front of a synchronous transport (HTTP on urllib3, on requests) to make its
    threaded variant: ``async_send`` queues the blocking ``send``. A :class:`raven.Client`
    does not use ``async_send``: seeing ``background_send`` it runs ``send`` on its own
    delivery worker, which adds retries and rate limits; ``async_send`` serves code that
    calls the transport directly, as 6.10 code may.

    Args:
        shutdown_timeout: seconds to wait for pending events at exit (DSN
            ``?shutdown_timeout=``); 6.10 fixed this at 10.
    """

    background_send = True

    def __init__(self, *args: Any, shutdown_timeout: Any = DEFAULT_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.shutdown_timeout = float(shutdown_timeout)
        except (TypeError, ValueError):
            raise ValueError(
                "shutdown_timeout must be a number of seconds, got %r" % (shutdown_timeout,)
            )
        self._worker: Optional[AsyncWorker] = None

    def get_worker(self) -> AsyncWorker:
        # getattr: 6.10's tests subclass the threaded transports and skip their __init__
        worker = getattr(self, "_worker", None)
        if worker is None:
            with _worker_lock:
                worker = getattr(self, "_worker", None)
                if worker is None:
                    worker = self._worker = AsyncWorker(
                        shutdown_timeout=getattr(self, "shutdown_timeout", DEFAULT_TIMEOUT)
                    )
        return worker

    def send_sync(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[[], Any],
        failure_cb: Callable[[BaseException], Any],
    ) -> None:
        try:
            self.send(url, data, headers)  # type: ignore[attr-defined]
        except Exception as e:
            failure_cb(e)
        else:
            success_cb()

    def async_send(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[[], Any],
        failure_cb: Callable[[BaseException], Any],
    ) -> None:
        worker = self.get_worker()
        if not worker.queue(self.send_sync, url, data, headers, success_cb, failure_cb):
            failure_cb(
                OverflowError(
                    "raven's send queue is full (%d events); event dropped" % worker.maxsize
                )
            )

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait up to ``timeout`` (default ``shutdown_timeout``) for queued sends; True if done."""
        worker = getattr(self, "_worker", None)
        return worker.flush(timeout) if worker is not None else True


class ThreadedHTTPTransport(BackgroundSends, AsyncTransport, HTTPTransport):
    """:class:`HTTPTransport` sends, run in the background so capturing never waits.

    Args:
        shutdown_timeout: seconds to wait for pending events at exit (DSN
            ``?shutdown_timeout=``); 6.10 fixed this at 10.
        (and the :class:`HTTPTransport` options)
    """

    scheme = ["http", "https", "threaded+http", "threaded+https"]
