"""Sending on the application's own asyncio loop: what the aiohttp and Tornado transports share.

There is no helper thread. A send starts as a task on the loop running in the capturing
thread; from a thread without a running loop it is handed to the loop this transport last
sent on (``call_soon_threadsafe``), and when no loop runs anywhere it is sent with a
blocking request in the calling thread, bounded by ``timeout`` (as raven 6.10's Tornado
transport did): there is no loop to give it to, and a thread started for it could outlive
the process before the event left.

Each loop gets its own HTTP session. It is closed when the loop shuts down through
``loop.shutdown_asyncgens()`` (which ``asyncio.run``, aiohttp's ``run_app`` and the test
runners call), or by ``client.close()`` / :func:`aclose`. A send still running when
``asyncio.run`` cancels the leftover tasks is finished by a blocking request on a short-lived
thread rather than lost.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections import deque

from raven.transport.base import AsyncTransport
from raven.transport.http import HTTPTransport

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, AsyncIterator, Awaitable, Callable, Deque, Dict, List, Optional, Tuple

    _Job = Tuple[str, bytes, Dict[str, str], Callable[..., Any], Callable[[BaseException], Any]]

__all__ = ["Answer", "LoopTransport", "aclose", "flush"]

logger = logging.getLogger("sentry.errors")


class Answer:
    """A server's 2xx answer as the delivery reads it (``status`` and ``headers``)."""

    __slots__ = ("headers", "status")

    def __init__(self, status: int, headers: Any) -> None:
        self.status = status
        self.headers = headers

    def __repr__(self) -> str:
        return "<Answer %d>" % self.status


class _LoopState:
    """One loop's HTTP session (opened by the first send there) and its running sends."""

    __slots__ = ("keeper", "resource", "tasks")

    def __init__(self) -> None:
        self.resource: Any = None
        self.keeper: Any = None
        self.tasks: set = set()  # the loop holds tasks weakly: these must not be collected


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    return asyncio._get_running_loop()


def _call(callback: Callable[..., Any], *args: Any) -> None:
    try:
        callback(*args)
    except Exception:
        logger.error("raven: a send callback failed", exc_info=True)


class LoopTransport(AsyncTransport, HTTPTransport):
    """Base of the transports that send on the running asyncio loop.

    Subclasses provide :meth:`_open` (the per-loop session), :meth:`_close_resource`,
    :meth:`_post` (one request on the loop) and :meth:`_post_blocking` (one request without
    a loop). Both posts return an :class:`Answer` for a 2xx and raise
    :class:`raven.exceptions.APIError` for a refusal or ``ConnectionError`` when the server
    could not be reached.

    Args:
        loop: the loop to send on from threads that run none (default: the loop this
            transport last sent on).
        shutdown_timeout: seconds to keep sending at interpreter exit.
        (and the :class:`~raven.transport.http.HTTPTransport` options)
    """

    def __init__(
        self,
        *args: Any,
        loop: Optional[asyncio.AbstractEventLoop] = None,
        shutdown_timeout: Any = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.shutdown_timeout = float(shutdown_timeout)
        except (TypeError, ValueError):
            raise ValueError(
                "shutdown_timeout must be a number of seconds, got %r" % (shutdown_timeout,)
            )
        self._lock = threading.Lock()
        self._states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._home: Optional[weakref.ref] = weakref.ref(loop) if loop is not None else None
        self._rescued: Deque[_Job] = deque()
        self._rescuer: Optional[threading.Thread] = None
        #: session closings started on a running loop by close(), for aclose() to await
        self._closing: List[asyncio.Future] = []

    # -- what subclasses provide ---------------------------------------------------------------

    def _open(self) -> Any:
        """The HTTP session for the running loop (called on it, once per loop)."""
        raise NotImplementedError

    async def _close_resource(self, resource: Any) -> None:
        raise NotImplementedError

    async def _post(self, resource: Any, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        raise NotImplementedError

    def _post_blocking(self, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        raise NotImplementedError

    # -- AsyncTransport ------------------------------------------------------------------------

    def async_send(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[..., Any],
        error_cb: Callable[[BaseException], Any],
    ) -> None:
        job: _Job = (url, data, headers, success_cb, error_cb)
        loop = _running_loop()
        if loop is not None:
            self._spawn(loop, job)
            return
        loop = self._home_loop()
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._spawn, loop, job)
                return
            except RuntimeError:  # closed since we looked
                pass
        self._send_blocking(job)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> None:
        """Schedule on the running loop, else on the loop this transport sends on."""
        loop = _running_loop()
        if loop is not None:
            loop.call_later(delay, callback)
            return
        loop = self._home_loop()
        if loop is not None:
            try:
                loop.call_soon_threadsafe(loop.call_later, delay, callback)
                return
            except RuntimeError:
                pass
        super().call_later(delay, callback)

    def _home_loop(self) -> Optional[asyncio.AbstractEventLoop]:
        home = self._home
        loop = home() if home is not None else None
        if loop is None or loop.is_closed() or not loop.is_running():
            return None
        return loop

    # -- on the loop ---------------------------------------------------------------------------

    def _spawn(self, loop: asyncio.AbstractEventLoop, job: _Job) -> None:
        with self._lock:
            state = self._states.get(loop)
            if state is None:
                # a state refers to its loop (through its session), so a closed loop would
                # never leave the weak mapping by itself
                for old in [old for old in self._states if old.is_closed()]:
                    del self._states[old]
                state = self._states[loop] = _LoopState()
            self._home = weakref.ref(loop)
        task = loop.create_task(self._run(state, job))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    async def _run(self, state: _LoopState, job: _Job) -> None:
        from raven.breadcrumbs import _suppressed

        _suppressed.set(True)  # this task's own context: the HTTP library logs no crumbs
        url, data, headers, success_cb, error_cb = job
        finished = False
        try:
            resource = await self._resource(state)
            answer = await self._post(resource, url, data, headers)
            finished = True
        except Exception as exc:
            finished = True
            _call(error_cb, exc)
            return
        finally:
            if not finished:  # cancelled (the loop is shutting down) or destroyed with it
                self._rescue(job)
        _call(success_cb, answer)

    async def _resource(self, state: _LoopState) -> Any:
        if state.resource is None:
            state.resource = self._open()
            # closed by loop.shutdown_asyncgens() at the end of asyncio.run & co.
            state.keeper = self._keep(state.resource)
            await state.keeper.__anext__()
        return state.resource

    async def _keep(self, resource: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self._close_resource(resource)

    # -- without a loop ------------------------------------------------------------------------

    def _send_blocking(self, job: _Job) -> None:
        url, data, headers, success_cb, error_cb = job
        try:
            answer = self._post_blocking(url, data, headers)
        except Exception as exc:
            _call(error_cb, exc)
        else:
            _call(success_cb, answer)

    def _rescue(self, job: _Job) -> None:
        with self._lock:
            self._rescued.append(job)
            if self._rescuer is not None and self._rescuer.is_alive():
                return
            thread = self._rescuer = threading.Thread(
                target=self._send_rescued, name="raven.LoopTransport.rescue", daemon=True
            )
        thread.start()

    def _send_rescued(self) -> None:
        from raven.breadcrumbs import _suppressed

        _suppressed.set(True)
        while True:
            with self._lock:
                if not self._rescued:
                    self._rescuer = None
                    return
                job = self._rescued.popleft()
            self._send_blocking(job)

    # -- closing -------------------------------------------------------------------------------

    def close(self) -> Optional[Awaitable[Any]]:
        """Close the HTTP session of every loop; the next send opens a new one.

        Called by ``client.close()``. On a running loop it returns an awaitable that is done
        when that loop's session is closed (``await transport.close()`` as with
        raven-aiohttp); sessions of loops running in other threads are closed there, and an
        idle loop's is closed by running it briefly. Sessions of closed loops went with them.
        """
        with self._lock:
            states = list(self._states.items())
            self._states.clear()
        here = _running_loop()
        waits: List[Any] = []
        loop: asyncio.AbstractEventLoop
        for loop, state in states:
            if state.keeper is None or loop.is_closed():
                continue
            closing = state.keeper.aclose()
            try:
                if loop is here:
                    task = loop.create_task(closing)
                    waits.append(task)
                    self._closing.append(task)
                elif loop.is_running():
                    asyncio.run_coroutine_threadsafe(closing, loop)
                elif here is None:
                    loop.run_until_complete(closing)
                else:
                    closing.close()
            except Exception:
                closing.close()
                logger.error("raven: could not close the HTTP session of a loop", exc_info=True)
        self._release_pool()
        if here is None:
            return None
        return asyncio.gather(*waits)

    def _release_pool(self) -> None:
        """Close the blocking fallback's connections (urllib3) too."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        routes = getattr(pool, "_managers", None)  # a per-host proxy router
        managers = [pool] if routes is None else [pool._direct, *routes.values()]
        for manager in managers:
            if manager is not None:
                try:
                    manager.clear()
                except Exception:
                    pass

    async def wait_closed(self) -> None:
        """Wait for the session closings :meth:`close` started on this loop."""
        here = asyncio.get_running_loop()
        mine = [t for t in self._closing if t.get_loop() is here]
        self._closing = [t for t in self._closing if t not in mine and not t.done()]
        if mine:
            await asyncio.gather(*mine)


async def flush(client: Any, timeout: Optional[float] = None) -> Any:
    """Wait, without blocking the loop, until ``client`` has no event pending.

    ``client.flush()`` blocks its thread; on the loop thread that would stop the very sends
    it waits for (it returns at once there instead). Await this one from asyncio code, e.g.
    before ``asyncio.run``'s main coroutine returns. Returns the client's report
    (``delivered``, ``dropped``, ``pending``; true when nothing is pending).

    .. versionadded:: 7.0
    """
    loop = asyncio.get_running_loop()
    for delivery in list(getattr(client, "_deliveries", {}).values()):
        sends = getattr(delivery, "_async", None)
        if sends is None:  # a threaded transport: its worker waits, off the loop
            await loop.run_in_executor(None, delivery.flush, timeout)
            continue
        if timeout is None:
            timeout = sends.shutdown_timeout
        idle = loop.create_future()

        def done(idle: asyncio.Future = idle) -> None:
            try:
                loop.call_soon_threadsafe(_resolve, idle)
            except RuntimeError:  # the loop closed meanwhile
                pass

        sends.when_idle(done)
        sends.retry_now()
        try:
            await asyncio.wait_for(asyncio.shield(idle), timeout)
        except asyncio.TimeoutError:
            pass
    return client.flush(0)


async def aclose(client: Any, timeout: Optional[float] = None) -> Any:
    """:func:`flush`, then ``client.close()`` and the transports' sessions on this loop.

    .. versionadded:: 7.0
    """
    await flush(client, timeout)
    transports = [d.transport for d in getattr(client, "_deliveries", {}).values()]
    report = client.close(0)  # closes the sessions too (see LoopTransport.close)
    for transport in transports:
        if isinstance(transport, LoopTransport):
            await transport.wait_closed()
    return report


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
