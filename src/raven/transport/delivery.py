"""What happens to an encoded event after ``send_remote``: the client's delivery policy.

One object per client decides, for each answer the server gives, whether the event is
delivered, refused (dropped and counted), too large (re-encoded smaller once), rate limited
(dropped and counted; nothing more is sent in that category until the limit ends), or not
answered at all (kept and retried with back-off). The same rules serve the three kinds of
transport:

- *background* (the default ``threaded+http``, ``threaded+requests``): the transport's
  synchronous ``send`` runs on this client's :class:`~raven.transport.worker.DeliveryWorker`;
- *sync* (``sync+http``, custom ``Transport`` subclasses): one attempt in the caller's thread,
  as raven 6.10 did; an event that could not be sent goes to the worker to be retried;
- *async* (event-loop transports with ``async_send``): the outcome arrives in callbacks,
  and :class:`~raven.transport._async_retries.AsyncSends` retries on the transport's own
  loop (:meth:`~raven.transport.base.AsyncTransport.call_later`), with the same rules.
"""

from __future__ import annotations

import logging
import threading
import time

from raven import protocol
from raven.exceptions import APIError, ConfigurationError
from raven.transport.ratelimit import RateLimits
from raven.transport.worker import DeliveryWorker, Pending

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, List, Optional

__all__ = ["Delivery", "FlushReport"]

logger = logging.getLogger("sentry.errors")

#: a 5xx answer is retried this many times; a server that keeps failing on one event must
#: not hold back every event behind it for ever (network errors are retried without limit)
MAX_SERVER_ERROR_ATTEMPTS = 8
#: send a client report at most this often (seconds), with the envelope protocol
REPORT_INTERVAL = 30.0
ENDPOINTS = ("store", "envelope", "auto")


class FlushReport:
    """What :meth:`raven.Client.flush` / ``close`` saw: counts since the client started.

    True when nothing is left pending.
    """

    __slots__ = ("delivered", "dropped", "pending")

    def __init__(self, delivered: int, dropped: Dict[str, int], pending: int) -> None:
        self.delivered = delivered
        self.dropped = dropped
        self.pending = pending

    def __bool__(self) -> bool:
        return self.pending == 0

    def __repr__(self) -> str:
        return "<FlushReport delivered=%d dropped=%r pending=%d>" % (
            self.delivered,
            self.dropped,
            self.pending,
        )


class Delivery:
    """The delivery policy of one client and transport.

    Args:
        transport: the transport instance.
        stats: the client's :class:`~raven._core.stats.ClientStats`.
        state: the client's :class:`~raven.base.ClientState` (kept current for 6.10 code).
        endpoint: ``store``, ``envelope`` or ``auto`` (envelope, store after a 404/405).
        spool: a :class:`~raven.transport.spool.Spool`, or None.
        queue_size, queue_bytes: bounds of the in-memory queue.
    """

    def __init__(
        self,
        transport: Any,
        stats: Any,
        state: Any,
        endpoint: str = "store",
        spool: Any = None,
        queue_size: int = 10000,
        queue_bytes: int = 32 * 1024 * 1024,
        store_url: Optional[str] = None,
        envelope_url: Optional[str] = None,
        clock: Optional[Callable[[], float]] = None,
        report_headers: Optional[Callable[[], Dict[str, str]]] = None,
    ) -> None:
        self.transport = transport
        #: headers (auth, content type) for a client-report envelope, made when one is sent
        self.make_report_headers = report_headers or (
            lambda: {"Content-Type": protocol.ENVELOPE_CONTENT_TYPE}
        )
        self.stats = stats
        self.state = state
        self.endpoint = endpoint
        #: ``auto``: envelopes until the server answers 404/405 to one, then store for good
        self._auto = endpoint == "auto"
        self.spool = spool
        self.store_url = store_url
        self.envelope_url = envelope_url
        self.limits = RateLimits(clock)
        self._clock = clock or time.monotonic
        self.kind = _kind_of(transport)
        self._send = _sync_sender(transport) if self.kind != "async" else None
        self._queue_size = queue_size
        self._queue_bytes = queue_bytes
        self._worker: Optional[DeliveryWorker] = None
        self._worker_lock = threading.Lock()
        self._logged: Dict[Any, float] = {}
        self._outage_since: Optional[float] = None
        self._last_report = self._clock()
        self._async: Any = None
        if self.kind == "async":
            if spool is not None:
                raise ConfigurationError(
                    "spool_path needs a transport that sends from a thread (threaded+http, "
                    "sync+http, ...); %s sends on an event loop" % type(transport).__name__
                )
            from raven.transport._async_retries import AsyncSends

            self._async = AsyncSends(
                self,
                max_events=queue_size,
                max_bytes=queue_bytes,
                shutdown_timeout=float(getattr(transport, "shutdown_timeout", 10)),
                clock=self._clock,
            )
        if spool is not None:
            self.worker.wake()  # drain what an earlier run (or a crashed sibling) left

    # -- configuration -----------------------------------------------------------------------

    @property
    def worker(self) -> DeliveryWorker:
        if self._worker is None:
            with self._worker_lock:
                if self._worker is None:
                    self._worker = DeliveryWorker(
                        self._deliver,
                        spool=self.spool,
                        max_events=self._queue_size,
                        max_bytes=self._queue_bytes,
                        shutdown_timeout=float(getattr(self.transport, "shutdown_timeout", 10)),
                        on_abandon=self._abandoned,
                    )
        return self._worker

    @property
    def uses_envelopes(self) -> bool:
        return self.endpoint in ("envelope", "auto")

    # -- from the app thread -----------------------------------------------------------------

    def submit(
        self,
        url: str,
        body: bytes,
        headers: Dict[str, str],
        category: str = "error",
        event_id: Optional[str] = None,
        raise_errors: bool = False,
    ) -> None:
        """Take an encoded event: send it now (sync, async), or queue/spool it (background)."""
        if self._async is not None:
            self._async.submit(Pending(url, body, headers, category, event_id))
            return
        if self.limits.is_limited(category):
            self.stats.drop("ratelimit_backoff", category=category)
            return
        item = Pending(url, body, headers, category, event_id)
        if self.kind == "sync":
            if raise_errors:
                self._send_raising(item)
                return
            worker = self._worker
            if worker is None or (not worker.failing and not worker.pending()):
                retry = self._deliver(item)
                if retry is None:
                    return
                # not sent: the worker keeps it and tries again after a back-off
                item.attempts += 1
                self._enqueue(item)
                self.worker.defer(retry)
                return
            # others are waiting to be retried: this one queues behind them, in order
        self._enqueue(item)

    def _enqueue(self, item: Pending) -> None:
        if self.spool is not None:
            try:
                evicted = self.spool.put(
                    item.url, item.body, item.headers, item.category, item.event_id
                )
            except Exception as e:
                self._log_once(
                    ("spool", type(e).__name__),
                    "raven: could not write to the spool (%s); queueing in memory",
                    e,
                )
            else:
                if evicted:
                    self.stats.drop("cache_overflow", evicted, item.category)
                self.worker.wake()
                return
        if not self.worker.put(item):
            self.stats.drop("queue_overflow", category=item.category)
            self._log_once(
                "queue_overflow",
                "raven's send queue is full (%d events or %d bytes); events are being dropped",
                self._queue_size,
                self._queue_bytes,
            )

    def _send_raising(self, item: Pending) -> None:
        """``raise_send_errors=True``: one attempt, the error goes to the caller."""
        assert self._send is not None
        _compress(item)
        try:
            response = self._send(item.url, item.body, item.headers)
        except APIError as exc:
            headers = _limit_headers(exc)
            self.limits.update(exc.code, headers)
            reason = {429: "ratelimit_backoff", 413: "event_too_large"}.get(exc.code, "send_error")
            self.stats.drop(reason, category=item.category)
            raise
        self._update_limits(response)
        self._delivered()

    # -- on the worker (or inline for sync transports) ---------------------------------------

    def _deliver(self, item: Pending) -> Optional[float]:
        """Try ``item``; None when finished, else seconds to wait at least before a retry."""
        assert self._send is not None
        if self.endpoint == "store" and self._auto and _is_envelope(item):
            # queued before the server turned out to have no envelope endpoint
            item = self._as_store(item) or item
        _compress(item)
        for _ in range(3):  # the first try, a smaller re-encoding, a store fallback
            if self.limits.is_limited(item.category):
                self.stats.drop("ratelimit_backoff", category=item.category)
                return None
            try:
                response = self._send(item.url, item.body, item.headers)
            except Exception as exc:
                verdict = self._judge(item, exc)
                if isinstance(verdict, Pending):
                    item = verdict
                    continue
                return verdict
            self._update_limits(response)
            self._delivered()
            if self.uses_envelopes and self.stats.has_unreported:
                self._maybe_report()
            return None
        self.stats.drop("send_error", category=item.category)
        return None

    def _judge(self, item: Pending, exc: BaseException) -> Any:
        """The fate of ``item`` after ``exc``: None (finished), a retry delay, or a new item."""
        if isinstance(exc, APIError):
            headers = _limit_headers(exc)
            seconds = self.limits.update(exc.code, headers)
            if exc.code == 429:
                self.state.set_fail(retry_after=seconds or 0)  # as 6.10 did: did_fail() is True
                self.stats.drop("ratelimit_backoff", category=item.category)
                self._log_once(
                    ("429", int(seconds or 0)),
                    "Sentry rate limit: holding back events for %s seconds (%s)",
                    seconds,
                    exc,
                )
                return None
            if exc.code == 413:
                smaller = None if item.shrunk else self._shrink(item)
                if smaller is not None:
                    return smaller
                self.stats.drop("event_too_large", category=item.category)
                self._log_once(("413",), "Sentry refused an event as too large: %s", exc)
                return None
            if exc.code in (404, 405) and self.endpoint == "auto" and _is_envelope(item):
                self.endpoint = "store"
                logger.info("Sentry has no envelope endpoint (HTTP %s); using store", exc.code)
                return self._as_store(item)
            if (exc.code >= 500 or exc.code == 408) and (
                item.attempts + 1 < MAX_SERVER_ERROR_ATTEMPTS
            ):
                self._failed(exc)
                from raven.transport.http import parse_retry_after

                return parse_retry_after(headers.get("Retry-After"))
            self.stats.drop("send_error", category=item.category)
            self._log_once(
                ("api", exc.code, exc.message),
                "Sentry responded with an API error: %s(%s)",
                type(exc).__name__,
                exc.message,
            )
            return None
        if not _is_network_error(exc) and item.attempts + 1 >= MAX_SERVER_ERROR_ATTEMPTS:
            # not the network: a transport bug that would block every later event for ever
            self.stats.drop("send_error", category=item.category)
            logger.error("raven: the transport keeps failing on an event; dropped", exc_info=exc)
            return None
        self._failed(exc)
        return 0.0

    def _failed(self, exc: BaseException) -> None:
        self.state.set_fail()
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            logger.error(
                "Sentry is unreachable (%s); keeping events and retrying with back-off", exc
            )

    def _delivered(self) -> None:
        self.stats.add_delivered()
        if self._outage_since is not None:
            logger.warning(
                "Sentry is reachable again after %.1f seconds",
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None
        if self.state.status != self.state.ONLINE:
            self.state.set_success()

    def _update_limits(self, response: Any) -> None:
        headers = getattr(response, "headers", None)
        if headers:
            self.limits.update(getattr(response, "status", 200), headers)

    def _shrink(self, item: Pending) -> Optional[Pending]:
        """``item`` re-encoded at half its size (for a 413), or None if that is impossible."""
        try:
            if _is_envelope(item):
                event_json = protocol.envelope_event_json(item.body)
                if event_json is None:
                    return None
                event = protocol.json.loads(event_json)
                smaller = protocol.encode_envelope_event(event, shrink_from=item.body)
            else:
                event = protocol.decode(item.body)
                smaller = protocol.encode_wire(event, shrink_from=item.body)
        except Exception:
            logger.error("raven: could not re-encode an event after a 413", exc_info=True)
            return None
        if len(smaller) >= len(item.body):
            return None
        headers = dict(item.headers)
        _set_encoding(headers, smaller)
        new = Pending(item.url, smaller, headers, item.category, item.event_id, item.spool_id)
        new.attempts = item.attempts
        new.shrunk = True
        return new

    def _as_store(self, item: Pending) -> Optional[Pending]:
        event_json = protocol.envelope_event_json(item.body)
        if event_json is None or not self.store_url:
            return None
        body = protocol.compress(event_json)
        headers = {
            k: v
            for k, v in item.headers.items()
            if k.lower() not in ("content-type", "content-encoding")
        }
        headers["Content-Type"] = "application/octet-stream"
        _set_encoding(headers, body)
        new = Pending(self.store_url, body, headers, item.category, item.event_id, item.spool_id)
        new.attempts = item.attempts
        return new

    def _maybe_report(self, force: bool = False) -> None:
        """Send the drops not yet reported as a ``client_report`` envelope (rate-capped)."""
        now = self._clock()
        if not force and now - self._last_report < REPORT_INTERVAL:
            return
        if not self.envelope_url or self.endpoint == "store" or self.limits.is_limited("internal"):
            return
        counts = self.stats.take_unreported()
        if not counts:
            return
        self._last_report = now
        payload = protocol.client_report(counts, time.time())
        body = protocol.compress(protocol.envelope(None, items=(("client_report", payload),)))
        headers = self.make_report_headers()
        _set_encoding(headers, body)
        try:
            assert self._send is not None
            self._update_limits(self._send(self.envelope_url, body, headers))
        except Exception:
            self.stats.restore_unreported(counts)

    def _abandoned(self, items: List[Pending]) -> None:
        for item in items:
            self.stats.drop("shutdown_timeout", category=item.category)

    def _log_once(self, key: Any, message: str, *args: Any) -> None:
        """Log ``message`` at ERROR the first time per kind, then at DEBUG (no log floods)."""
        level = logging.DEBUG if key in self._logged else logging.ERROR
        self._logged[key] = time.monotonic()
        logger.log(level, message, *args)

    # -- lifecycle ---------------------------------------------------------------------------

    def pending(self) -> int:
        if self._async is not None:
            return int(self._async.pending())
        return self._worker.pending() if self._worker is not None else 0

    def flush(self, timeout: Optional[float] = None) -> FlushReport:
        if self._async is not None:
            self._async.flush(timeout)
            return self.report()
        drained = self._worker.flush(timeout) if self._worker is not None else True
        self._report_if_healthy(drained)
        return self.report()

    def close(self, timeout: Optional[float] = None) -> FlushReport:
        if self._async is not None:
            return self._close_async(timeout)
        worker = self._worker
        pending = 0
        if worker is not None:
            if timeout is None:
                timeout = worker.shutdown_timeout
            deadline = time.monotonic() + timeout
            drained = worker.flush(timeout)
            self._report_if_healthy(drained)
            worker.close(max(deadline - time.monotonic(), 0))
            pending = worker.pending()  # an event still being sent, or spooled ones
            self._worker = None
        else:
            self._report_if_healthy(True)
        if self.spool is not None:
            try:
                self.spool.close()
            except Exception:
                pass
        stats = self.stats.as_dict()
        return FlushReport(stats["delivered"], stats["dropped"], pending)

    def _close_async(self, timeout: Optional[float]) -> FlushReport:
        """Send what is pending (up to ``timeout``), then let the transport release its
        connections; a send still in flight stays pending in the report."""
        assert self._async is not None
        in_flight = self._async.close(timeout)
        close = getattr(self.transport, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                logger.error("raven: the transport failed to close", exc_info=True)
        stats = self.stats.as_dict()
        return FlushReport(stats["delivered"], stats["dropped"], in_flight)

    def _report_if_healthy(self, drained: bool) -> None:
        """Send unreported drops now, unless delivery is failing (it would only wait)."""
        if not (self.uses_envelopes and self.stats.has_unreported) or self.kind == "async":
            return
        if not drained or (self._worker is not None and self._worker.failing):
            return
        self._maybe_report(force=True)

    def report(self) -> FlushReport:
        stats = self.stats.as_dict()
        return FlushReport(stats["delivered"], stats["dropped"], self.pending())


def _kind_of(transport: Any) -> str:
    if not getattr(transport, "is_async", False):
        return "sync"
    if getattr(transport, "background_send", False):
        return "background"
    return "async"


def _sync_sender(transport: Any) -> Callable[[str, bytes, Dict[str, str]], Any]:
    """``send(url, data, headers)``, also for custom transports written to the older
    ``send(data, headers)`` form the seed documents show."""
    send = transport.send
    module = getattr(type(transport), "__module__", "") or ""
    if module.startswith("raven.transport."):
        return lambda url, data, headers: transport.send(url, data, headers)
    import inspect

    try:
        params = [
            p
            for p in inspect.signature(send).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    if len(params) == 2:
        return lambda url, data, headers: transport.send(data, headers)
    return lambda url, data, headers: transport.send(url, data, headers)


def _limit_headers(exc: APIError) -> Any:
    """The response headers of a refusal, with a 6.10-style ``retry_after`` folded in."""
    headers = getattr(exc, "headers", None) or {}
    retry_after = getattr(exc, "retry_after", None)
    if (
        retry_after
        and headers.get("Retry-After") is None
        and headers.get("X-Sentry-Rate-Limits") is None
    ):
        headers = dict(headers)
        headers["Retry-After"] = str(retry_after)
    return headers


def _is_network_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the server could not be reached (as opposed to a bug)."""
    if isinstance(exc, (OSError, EOFError)):
        return True
    module = type(exc).__module__ or ""
    return module.split(".", 1)[0] in ("urllib3", "requests", "http", "ssl", "socket")


def _is_envelope(item: Pending) -> bool:
    for key, value in item.headers.items():
        if key.lower() == "content-type":
            return value == protocol.ENVELOPE_CONTENT_TYPE
    return False


def _compress(item: Pending) -> None:
    """gzip a body the capturing thread left plain (it is cheaper to do it here, see
    :func:`raven.protocol.encode_json`); bodies already encoded are left alone."""
    body = item.body
    if len(body) < protocol.COMPRESS_MIN_SIZE or body[:1] not in (b"{", b"["):
        return
    if any(k.lower() == "content-encoding" for k in item.headers):
        return
    item.body = protocol.compress(body)
    item.headers = dict(item.headers)
    _set_encoding(item.headers, item.body)


def _set_encoding(headers: Dict[str, str], body: bytes) -> None:
    for key in [k for k in headers if k.lower() == "content-encoding"]:
        del headers[key]
    encoding = protocol.content_encoding(body)
    if encoding:
        headers["Content-Encoding"] = encoding
