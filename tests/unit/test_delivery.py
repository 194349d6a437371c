"""The delivery policy (``raven.transport.delivery``) and the client options that drive it.

A scripted in-memory transport plays the server: each send takes the next outcome of its
script: a status (mapped through :func:`check_response`, as every real transport does,
so refusals raise ``APIError``/``RateLimited`` carrying the headers), a ``(status, headers)``
pair, an exception to raise (``OSError`` for a network failure), or a response object.
Rate limits run on a fake clock; back-off constants are shrunk so retries take milliseconds.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import threading
import time
import uuid
from email.utils import format_datetime
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from raven import protocol
from raven._core.stats import ClientStats
from raven.base import Client, ClientState
from raven.exceptions import APIError, ConfigurationError, RateLimited
from raven.transport import delivery as delivery_mod
from raven.transport import worker as worker_mod
from raven.transport.base import Transport
from raven.transport.delivery import MAX_SERVER_ERROR_ATTEMPTS, Delivery, FlushReport
from raven.transport.http import check_response

DSN = "http://public@sentry.invalid/1"
STORE = "http://sentry.invalid/api/1/store/"
ENVELOPE = "http://sentry.invalid/api/1/envelope/"
STORE_HEADERS = {"Content-Type": "application/octet-stream"}
ENVELOPE_HEADERS = {"Content-Type": protocol.ENVELOPE_CONTENT_TYPE}
WAIT = 5.0


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 0.001)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 0.004)


def slow_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries wait 30 s: a failed event stays put until a flush asks for it."""
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 30.0)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 30.0)


# -- the fake server --------------------------------------------------------------------------


class Response:
    def __init__(self, status: int = 200, headers: Optional[Dict[str, str]] = None) -> None:
        self.status = status
        self.headers = headers or {}


class Call:
    def __init__(self, url: str, body: bytes, headers: Dict[str, str]) -> None:
        self.url = url
        self.body = body
        self.headers = dict(headers)

    @property
    def is_envelope(self) -> bool:
        return self.headers.get("Content-Type") == protocol.ENVELOPE_CONTENT_TYPE

    @property
    def items(self) -> List[Tuple[Dict[str, Any], bytes]]:
        return protocol.parse_envelope(self.body)[1]

    @property
    def item_types(self) -> List[str]:
        return [header["type"] for header, _ in self.items] if self.is_envelope else ["event"]

    @property
    def event_id(self) -> Optional[str]:
        if self.is_envelope:
            return protocol.parse_envelope(self.body)[0].get("event_id")
        return protocol.decode(self.body).get("event_id")

    @property
    def report(self) -> Optional[Dict[str, Any]]:
        """The client report this call carried, if any."""
        if not self.is_envelope:
            return None
        for header, payload in self.items:
            if header["type"] == "client_report":
                return json.loads(payload)
        return None


Outcome = Any


class FakeTransport(Transport):
    """A synchronous transport answering from ``script`` (200 once it runs out)."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args)
        self.options = options
        self.script: List[Outcome] = []
        self.calls: List[Call] = []
        self.started = threading.Event()
        self._gate: Optional[threading.Event] = None
        self.on_send: Optional[Callable[[Call], Optional[Outcome]]] = None

    def answer(self, *outcomes: Outcome) -> FakeTransport:
        self.script.extend(outcomes)
        return self

    def hold(self) -> None:
        """Make every send wait until :meth:`release` (``started`` is set when one begins)."""
        self._gate = threading.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()

    def send(self, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        call = Call(url, data, headers)
        self.calls.append(call)
        self.started.set()
        if self._gate is not None:
            assert self._gate.wait(WAIT), "the test never released the transport"
        outcome = self.on_send(call) if self.on_send is not None else None
        if outcome is None:
            outcome = self.script.pop(0) if self.script else 200
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, Response):
            return outcome
        status, response_headers = outcome if isinstance(outcome, tuple) else (outcome, {})
        check_response(status, response_headers)
        return Response(status, response_headers)


class BackgroundTransport(FakeTransport):
    """A transport whose ``send`` the client runs on its delivery worker (like threaded+http)."""

    is_async = True
    background_send = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stats() -> ClientStats:
    return ClientStats()


@pytest.fixture
def state() -> ClientState:
    return ClientState()


@pytest.fixture
def deliveries() -> Iterator[List[Delivery]]:
    made: List[Delivery] = []
    yield made
    for delivery in made:
        transport = delivery.transport
        if isinstance(transport, FakeTransport):
            transport.release()
        delivery.close(0)


@pytest.fixture
def make_delivery(
    stats: ClientStats, state: ClientState, clock: FakeClock, deliveries: List[Delivery]
) -> Callable[..., Delivery]:
    def make(transport: Any, **options: Any) -> Delivery:
        options.setdefault("store_url", STORE)
        options.setdefault("envelope_url", ENVELOPE)
        options.setdefault("clock", clock)
        delivery = Delivery(transport, stats, state, **options)
        delivery._report_headers = {
            "X-Sentry-Auth": "Sentry sentry_key=public",
            "Content-Type": protocol.ENVELOPE_CONTENT_TYPE,
        }
        deliveries.append(delivery)
        return delivery

    return make


@pytest.fixture
def clients() -> Iterator[List[Client]]:
    made: List[Client] = []
    yield made
    for client in made:
        for delivery in list(client._deliveries.values()):
            if isinstance(delivery.transport, FakeTransport):
                delivery.transport.release()
        client.close(0)


@pytest.fixture
def new_client(clients: List[Client]) -> Callable[..., Client]:
    def make(transport: Any = None, dsn: str = DSN, **options: Any) -> Client:
        options.setdefault("install_sys_hook", False)
        options.setdefault("install_logging_hook", False)
        options.setdefault("hook_libraries", [])
        client = Client(dsn, transport=transport, **options)
        clients.append(client)
        return client

    return make


def event_id() -> str:
    return uuid.uuid4().hex


def store_body(eid: str, size: int = 0) -> bytes:
    event: Dict[str, Any] = {"event_id": eid, "message": "hello", "platform": "python"}
    if size:
        event["extra"] = {"blob": os.urandom(size // 2).hex()}
    return protocol.encode(event)


def envelope_body(eid: str, size: int = 0) -> bytes:
    event: Dict[str, Any] = {"event_id": eid, "message": "hello", "platform": "python"}
    if size:
        event["extra"] = {"blob": os.urandom(size // 2).hex()}
    return protocol.encode_envelope(event, eid)


def submit(delivery: Delivery, eid: Optional[str] = None, category: str = "error") -> str:
    eid = eid or event_id()
    if delivery.uses_envelopes:
        delivery.submit(ENVELOPE, envelope_body(eid), dict(ENVELOPE_HEADERS), category, eid)
    else:
        delivery.submit(STORE, store_body(eid), dict(STORE_HEADERS), category, eid)
    return eid


def http_date_in(seconds: float) -> str:
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return format_datetime(when, usegmt=True)


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.002)


@pytest.fixture
def sentry_log(
    sentry_errors: List[logging.LogRecord], caplog: pytest.LogCaptureFixture
) -> List[logging.LogRecord]:
    """Everything raven logs on ``sentry.errors``, DEBUG included."""
    caplog.set_level(logging.DEBUG, logger="sentry.errors")
    return sentry_errors


def records(sentry_errors: List[logging.LogRecord], text: str) -> List[Tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in sentry_errors if text in r.getMessage()]


def worker_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "raven.DeliveryWorker" and t.is_alive()]


# -- rate limits ------------------------------------------------------------------------------


def test_a_rate_limits_header_on_a_200_holds_back_that_category(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = FakeTransport().answer((200, {"X-Sentry-Rate-Limits": "60:error:key"}))
    delivery = make_delivery(transport)
    submit(delivery)
    submit(delivery)
    assert len(transport.calls) == 1
    assert stats.delivered == 1
    assert stats.dropped == {"ratelimit_backoff": 1}
    assert stats.by_category == {("ratelimit_backoff", "error"): 1}
    submit(delivery, category="transaction")  # another category goes out
    assert len(transport.calls) == 2


@pytest.mark.logs_sentry_errors
def test_a_429_with_only_retry_after_limits_every_category(
    make_delivery: Any, stats: ClientStats, clock: FakeClock
) -> None:
    transport = FakeTransport().answer((429, {"Retry-After": "30"}))
    delivery = make_delivery(transport)
    submit(delivery)
    submit(delivery, category="error")
    submit(delivery, category="transaction")
    submit(delivery, category="default")
    assert len(transport.calls) == 1
    assert stats.dropped == {"ratelimit_backoff": 4}  # the refused event counts too
    assert stats.by_category[("ratelimit_backoff", "transaction")] == 1
    clock.advance(29.9)
    submit(delivery)
    assert len(transport.calls) == 1
    clock.advance(0.1)
    submit(delivery)
    assert len(transport.calls) == 2
    assert stats.delivered == 1


@pytest.mark.logs_sentry_errors
def test_a_bare_429_limits_everything_for_sixty_seconds(
    make_delivery: Any, clock: FakeClock
) -> None:
    transport = FakeTransport().answer(429)
    delivery = make_delivery(transport)
    submit(delivery)
    assert delivery.limits.remaining("error") == 60
    assert delivery.limits.remaining("transaction") == 60
    clock.advance(59)
    submit(delivery)
    assert len(transport.calls) == 1
    clock.advance(1)
    submit(delivery)
    assert len(transport.calls) == 2


@pytest.mark.logs_sentry_errors
def test_a_429_api_error_without_headers_limits_everything_for_sixty_seconds(
    make_delivery: Any,
) -> None:
    transport = FakeTransport().answer(APIError("Too Many Requests", 429))
    delivery = make_delivery(transport)
    submit(delivery)
    assert delivery.limits.remaining("error") == 60


@pytest.mark.logs_sentry_errors
def test_a_429_with_an_http_date_retry_after_holds_until_that_date(make_delivery: Any) -> None:
    transport = FakeTransport().answer((429, {"Retry-After": http_date_in(120)}))
    delivery = make_delivery(transport)
    submit(delivery)
    assert 115 <= delivery.limits.remaining("error") <= 120


@pytest.mark.logs_sentry_errors
def test_on_a_429_the_rate_limits_header_decides_what_is_held(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = FakeTransport().answer(
        (429, {"X-Sentry-Rate-Limits": "60:transaction:key", "Retry-After": "600"})
    )
    delivery = make_delivery(transport)
    submit(delivery, category="transaction")
    submit(delivery, category="transaction")
    submit(delivery, category="error")
    assert len(transport.calls) == 2
    assert stats.by_category == {("ratelimit_backoff", "transaction"): 2}


@pytest.mark.logs_sentry_errors
def test_rate_limited_without_headers_uses_its_retry_after(make_delivery: Any) -> None:
    transport = FakeTransport().answer(RateLimited("slow down", retry_after=42))
    delivery = make_delivery(transport)
    submit(delivery)
    assert delivery.limits.remaining("error") == 42


@pytest.mark.logs_sentry_errors
def test_rate_limited_retry_after_is_honoured_when_its_headers_have_no_retry_after(
    make_delivery: Any,
) -> None:
    transport = FakeTransport().answer(
        RateLimited("slow down", retry_after=42, headers={"X-Sentry-Error": "slow down"})
    )
    delivery = make_delivery(transport)
    submit(delivery)
    assert delivery.limits.remaining("error") == 42


def test_a_limit_naming_only_unknown_categories_is_ignored(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = FakeTransport().answer((200, {"X-Sentry-Rate-Limits": "60:made_up:key"}))
    delivery = make_delivery(transport)
    submit(delivery)
    submit(delivery)
    assert len(transport.calls) == 2
    assert stats.dropped == {}


def test_rate_limit_headers_are_read_from_a_response_object(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = FakeTransport().answer(Response(200, {"X-Sentry-Rate-Limits": "60::org"}))
    delivery = make_delivery(transport)
    submit(delivery)
    submit(delivery, category="default")
    assert len(transport.calls) == 1
    assert stats.dropped == {"ratelimit_backoff": 1}


def test_nothing_queued_is_sent_once_a_limit_arrives(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = BackgroundTransport().answer((200, {"X-Sentry-Rate-Limits": "60::org"}))
    transport.hold()
    delivery = make_delivery(transport)
    submit(delivery)
    assert transport.started.wait(WAIT)
    submit(delivery)
    submit(delivery)
    transport.release()
    report = delivery.flush(WAIT)
    assert len(transport.calls) == 1
    assert report.delivered == 1
    assert report.dropped == {"ratelimit_backoff": 2}
    assert report.pending == 0


@pytest.mark.logs_sentry_errors
def test_a_rate_limited_client_does_not_even_build_the_request(
    new_client: Any,
) -> None:
    transport = FakeTransport().answer((429, {"Retry-After": "60"}))
    client = new_client(transport)
    client.captureMessage("first")
    client.captureMessage("second")
    client.captureMessage("third")
    assert len(transport.calls) == 1
    assert client.stats.dropped == {"ratelimit_backoff": 3}


@pytest.mark.logs_sentry_errors
def test_a_429_is_logged_at_error_once_then_at_debug(
    make_delivery: Any, clock: FakeClock, sentry_log: List[logging.LogRecord]
) -> None:
    transport = FakeTransport().answer((429, {"Retry-After": "30"}), (429, {"Retry-After": "30"}))
    delivery = make_delivery(transport)
    submit(delivery)
    clock.advance(31)
    submit(delivery)
    assert [level for level, _ in records(sentry_log, "rate limit")] == ["ERROR", "DEBUG"]


# -- 413: too large ---------------------------------------------------------------------------


@pytest.mark.logs_sentry_errors  # the re-encoding reports what it trimmed
def test_a_413_is_resent_once_as_a_smaller_event(make_delivery: Any, stats: ClientStats) -> None:
    transport = FakeTransport().answer(413, 200)
    delivery = make_delivery(transport)
    eid = event_id()
    body = store_body(eid, size=12000)
    delivery.submit(STORE, body, {**STORE_HEADERS, "Content-Encoding": "gzip"}, "error", eid)
    assert len(transport.calls) == 2
    first, second = transport.calls
    assert first.body == body
    assert len(second.body) <= len(body) // 2
    assert second.url == STORE
    assert protocol.decode(second.body)["event_id"] == eid
    assert second.headers.get("Content-Encoding") == protocol.content_encoding(second.body)
    assert stats.delivered == 1
    assert stats.dropped == {}


@pytest.mark.logs_sentry_errors
def test_a_413_envelope_is_resent_as_a_smaller_envelope(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = FakeTransport().answer(413, 200)
    delivery = make_delivery(transport, endpoint="envelope")
    eid = event_id()
    body = envelope_body(eid, size=12000)
    delivery.submit(ENVELOPE, body, dict(ENVELOPE_HEADERS), "error", eid)
    second = transport.calls[1]
    assert second.url == ENVELOPE
    assert second.is_envelope and second.item_types == ["event"]
    assert second.event_id == eid
    assert len(second.body) <= len(body) // 2
    assert stats.delivered == 1


@pytest.mark.logs_sentry_errors
def test_a_second_413_counts_the_event_as_too_large(
    make_delivery: Any, stats: ClientStats, sentry_errors: List[logging.LogRecord]
) -> None:
    transport = FakeTransport().answer(413, 413)
    delivery = make_delivery(transport)
    eid = event_id()
    delivery.submit(STORE, store_body(eid, size=12000), dict(STORE_HEADERS), "error", eid)
    assert len(transport.calls) == 2
    assert stats.dropped == {"event_too_large": 1}
    assert stats.delivered == 0
    assert delivery.pending() == 0  # not retried
    assert [level for level, _ in records(sentry_errors, "too large")] == ["ERROR"]


@pytest.mark.logs_sentry_errors
def test_an_event_that_cannot_shrink_is_too_large_at_once(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = FakeTransport().answer(413)
    delivery = make_delivery(transport)
    submit(delivery)
    assert len(transport.calls) == 1
    assert stats.dropped == {"event_too_large": 1}


# -- other refusals ---------------------------------------------------------------------------


@pytest.mark.logs_sentry_errors
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_a_4xx_refusal_is_counted_as_send_error_and_not_retried(
    make_delivery: Any, stats: ClientStats, state: ClientState, status: int
) -> None:
    transport = BackgroundTransport().answer((status, {"X-Sentry-Error": "refused"}))
    delivery = make_delivery(transport)
    submit(delivery)
    report = delivery.flush(WAIT)
    assert len(transport.calls) == 1
    assert report.dropped == {"send_error": 1}
    assert report.delivered == 0
    assert not state.did_fail()  # the server answered: no outage


@pytest.mark.logs_sentry_errors
def test_a_refusal_is_logged_at_error_once_per_kind_then_at_debug(
    make_delivery: Any, sentry_log: List[logging.LogRecord]
) -> None:
    transport = FakeTransport().answer(
        (400, {"X-Sentry-Error": "bad event"}),
        (400, {"X-Sentry-Error": "bad event"}),
        (403, {"X-Sentry-Error": "project disabled"}),
        (400, {"X-Sentry-Error": "bad event"}),
    )
    delivery = make_delivery(transport)
    for _ in range(4):
        submit(delivery)
    logged = records(sentry_log, "API error")
    assert [level for level, _ in logged] == ["ERROR", "DEBUG", "ERROR", "DEBUG"]
    assert "bad event" in logged[0][1]
    assert "project disabled" in logged[2][1]


# -- network errors and 5xx -------------------------------------------------------------------


@pytest.mark.logs_sentry_errors
def test_a_network_error_keeps_the_event_and_retries_it(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = FakeTransport().answer(OSError("connection refused"))
    delivery = make_delivery(transport)
    eid = submit(delivery)
    report = delivery.flush(WAIT)
    assert [c.event_id for c in transport.calls] == [eid, eid]
    assert report.delivered == 1
    assert report.dropped == {}
    assert report.pending == 0


@pytest.mark.logs_sentry_errors
def test_network_errors_are_retried_without_limit(make_delivery: Any, stats: ClientStats) -> None:
    transport = BackgroundTransport().answer(*[OSError("down")] * (MAX_SERVER_ERROR_ATTEMPTS * 3))
    delivery = make_delivery(transport)
    submit(delivery)
    report = delivery.flush(WAIT)
    assert len(transport.calls) == MAX_SERVER_ERROR_ATTEMPTS * 3 + 1
    assert report.delivered == 1
    assert report.dropped == {}


@pytest.mark.logs_sentry_errors
def test_events_sent_during_an_outage_are_delivered_in_order(make_delivery: Any) -> None:
    transport = FakeTransport().answer(*[OSError("down")] * 5)
    delivery = make_delivery(transport)
    ids = [submit(delivery) for _ in range(6)]
    report = delivery.flush(WAIT)
    assert report.delivered == 6
    accepted = [c.event_id for c in transport.calls[5:]]
    assert accepted == ids


@pytest.mark.logs_sentry_errors
def test_an_outage_is_logged_once_and_its_end_once(
    make_delivery: Any, sentry_errors: List[logging.LogRecord]
) -> None:
    transport = BackgroundTransport().answer(OSError("a"), OSError("b"), OSError("c"))
    delivery = make_delivery(transport)
    submit(delivery)
    submit(delivery)
    delivery.flush(WAIT)
    assert [level for level, _ in records(sentry_errors, "unreachable")] == ["ERROR"]
    assert [level for level, _ in records(sentry_errors, "reachable again")] == ["WARNING"]


@pytest.mark.logs_sentry_errors
@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_a_server_error_is_retried(make_delivery: Any, status: int) -> None:
    transport = BackgroundTransport().answer(status, status)
    delivery = make_delivery(transport)
    submit(delivery)
    report = delivery.flush(WAIT)
    assert len(transport.calls) == 3
    assert report.delivered == 1
    assert report.dropped == {}


@pytest.mark.logs_sentry_errors
def test_a_server_error_gives_up_after_max_server_error_attempts(
    make_delivery: Any,
) -> None:
    transport = BackgroundTransport().answer(*[500] * 50)
    delivery = make_delivery(transport)
    submit(delivery)
    next_one = submit(delivery)
    report = delivery.flush(WAIT)
    assert len(transport.calls) == MAX_SERVER_ERROR_ATTEMPTS * 2
    assert report.dropped == {"send_error": 2}
    assert transport.calls[-1].event_id == next_one


@pytest.mark.logs_sentry_errors
def test_a_sync_transport_gives_up_on_a_server_error_after_max_attempts_too(
    make_delivery: Any,
) -> None:
    transport = FakeTransport().answer(*[500] * 50)
    delivery = make_delivery(transport)
    submit(delivery)
    report = delivery.flush(WAIT)
    assert report.dropped == {"send_error": 1}
    assert len(transport.calls) == MAX_SERVER_ERROR_ATTEMPTS


@pytest.mark.logs_sentry_errors
def test_a_server_errors_retry_after_is_waited_out(make_delivery: Any) -> None:
    times: List[float] = []
    transport = BackgroundTransport().answer((503, {"Retry-After": "0.3"}))

    def record(call: Call) -> None:
        times.append(time.monotonic())

    transport.on_send = record
    delivery = make_delivery(transport)
    submit(delivery)
    wait_until(lambda: len(times) == 2)
    assert times[1] - times[0] >= 0.29


@pytest.mark.logs_sentry_errors
def test_an_outage_shows_in_the_6_10_client_state(
    make_delivery: Any, state: ClientState, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_backoff(monkeypatch)
    transport = FakeTransport().answer(OSError("down"))
    delivery = make_delivery(transport)
    submit(delivery)
    assert state.did_fail()
    assert not state.should_try()
    assert state.status == ClientState.ERROR
    report = delivery.flush(WAIT)
    assert report.delivered == 1
    assert not state.did_fail()
    assert state.should_try()
    assert state.status == ClientState.ONLINE


@pytest.mark.logs_sentry_errors
def test_the_client_state_never_causes_a_drop(
    new_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ClientState, "should_try", lambda self: False)
    transport = FakeTransport()
    client = new_client(transport)
    client.state.set_fail()
    assert client.captureMessage("sent anyway")
    assert len(transport.calls) == 1
    assert client.stats.delivered == 1
    assert client.stats.dropped == {}


# -- the queue --------------------------------------------------------------------------------


@pytest.mark.logs_sentry_errors
def test_a_full_queue_counts_queue_overflow(
    make_delivery: Any, stats: ClientStats, sentry_log: List[logging.LogRecord]
) -> None:
    drops: List[Tuple[str, str, int]] = []
    stats.on_drop = lambda *args: drops.append(args)
    transport = BackgroundTransport()
    transport.hold()
    delivery = make_delivery(transport, queue_size=2)
    submit(delivery)
    assert transport.started.wait(WAIT)  # the first is being sent, outside the queue
    submit(delivery)
    submit(delivery)
    submit(delivery, category="transaction")
    submit(delivery)
    assert stats.dropped == {"queue_overflow": 2}
    assert drops == [("queue_overflow", "transaction", 1), ("queue_overflow", "error", 1)]
    assert [level for level, _ in records(sentry_log, "queue is full")] == ["ERROR", "DEBUG"]
    transport.release()
    report = delivery.flush(WAIT)
    assert report.delivered == 3
    assert report.pending == 0


@pytest.mark.logs_sentry_errors
def test_the_queue_is_bounded_by_bytes_too(make_delivery: Any, stats: ClientStats) -> None:
    transport = BackgroundTransport()
    transport.hold()
    size = len(store_body(event_id()))
    delivery = make_delivery(transport, queue_bytes=size * 2 + size // 2)
    submit(delivery)
    assert transport.started.wait(WAIT)
    submit(delivery)
    submit(delivery)
    submit(delivery)
    assert stats.dropped == {"queue_overflow": 1}
    transport.release()
    assert delivery.flush(WAIT).delivered == 3


@pytest.mark.logs_sentry_errors
def test_a_sync_transport_keeps_failed_events_until_the_queue_is_full(
    make_delivery: Any, stats: ClientStats, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_backoff(monkeypatch)
    transport = FakeTransport().answer(*[OSError("down")] * 10)
    delivery = make_delivery(transport, queue_size=2)
    submit(delivery)
    wait_until(lambda: delivery.worker.failing and not delivery.worker._busy)
    submit(delivery)
    assert stats.dropped == {}
    submit(delivery)
    assert stats.dropped == {"queue_overflow": 1}
    assert delivery.pending() == 2


# -- flush and close --------------------------------------------------------------------------


def test_a_flush_report_is_true_only_when_nothing_is_pending() -> None:
    assert FlushReport(3, {}, 0)
    assert not FlushReport(3, {}, 1)
    assert FlushReport(0, {"send_error": 2}, 0)
    assert repr(FlushReport(3, {"send_error": 2}, 1)) == (
        "<FlushReport delivered=3 dropped={'send_error': 2} pending=1>"
    )


@pytest.mark.logs_sentry_errors
def test_flush_reports_delivered_dropped_and_pending(make_delivery: Any) -> None:
    transport = BackgroundTransport().answer(200, 400, 200)
    delivery = make_delivery(transport)
    for _ in range(3):
        submit(delivery)
    report = delivery.flush(WAIT)
    assert report
    assert (report.delivered, report.dropped, report.pending) == (2, {"send_error": 1}, 0)


def test_flush_returns_at_its_deadline_with_what_is_still_pending(make_delivery: Any) -> None:
    transport = BackgroundTransport()
    transport.hold()
    delivery = make_delivery(transport)
    submit(delivery)
    submit(delivery)
    assert transport.started.wait(WAIT)
    started = time.monotonic()
    report = delivery.flush(0.2)
    assert 0.19 <= time.monotonic() - started < 0.7
    assert not report
    assert report.pending == 2
    transport.release()
    assert delivery.flush(WAIT)


@pytest.mark.logs_sentry_errors
def test_flush_keeps_events_it_could_not_send(
    make_delivery: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_backoff(monkeypatch)
    transport = BackgroundTransport().answer(*[OSError("down")] * 3)
    delivery = make_delivery(transport)
    submit(delivery)
    wait_until(lambda: delivery.worker.failing and not delivery.worker._busy)
    report = delivery.flush(0.2)
    assert not report and report.pending == 1 and report.dropped == {}
    report = delivery.flush(0.2)  # each flush tries once more
    assert not report and report.pending == 1
    report = delivery.flush(0.2)
    assert report and report.delivered == 1


@pytest.mark.logs_sentry_errors
def test_close_counts_events_left_behind_as_shutdown_timeout(
    make_delivery: Any, stats: ClientStats, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_backoff(monkeypatch)
    drops: List[Tuple[str, str, int]] = []
    stats.on_drop = lambda *args: drops.append(args)
    transport = BackgroundTransport().answer(*[OSError("down")] * 10)
    delivery = make_delivery(transport)
    for _ in range(3):
        submit(delivery)
    started = time.monotonic()
    report = delivery.close(0.2)
    assert time.monotonic() - started < 0.8
    wait_until(lambda: stats.dropped.get("shutdown_timeout") == 3)
    assert drops == [("shutdown_timeout", "error", 1)] * 3
    assert report.pending == 0
    assert report.delivered == 0


def test_close_does_not_report_an_event_still_in_flight_as_settled(make_delivery: Any) -> None:
    transport = BackgroundTransport()
    transport.hold()
    delivery = make_delivery(transport)
    for _ in range(3):
        submit(delivery)
    assert transport.started.wait(WAIT)
    report = delivery.close(0.1)
    assert report.pending + report.dropped.get("shutdown_timeout", 0) == 3


def test_client_flush_and_close_return_flush_reports(new_client: Any) -> None:
    transport = BackgroundTransport()
    client = new_client(transport)
    assert client.flush(0.1) and client.flush(0.1).pending == 0  # nothing sent yet
    client.captureMessage("one")
    client.captureMessage("two")
    report = client.flush(WAIT)
    assert isinstance(report, FlushReport)
    assert (report.delivered, report.pending) == (2, 0)
    report = client.close(WAIT)
    assert isinstance(report, FlushReport) and report.delivered == 2


@pytest.mark.logs_sentry_errors
def test_close_with_envelopes_keeps_to_its_deadline(
    make_delivery: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_backoff(monkeypatch)
    transport = BackgroundTransport().answer(*[OSError("down")] * 10)
    delivery = make_delivery(transport, endpoint="envelope")
    submit(delivery)
    started = time.monotonic()
    delivery.close(0.5)
    assert time.monotonic() - started < 0.75


@pytest.mark.logs_sentry_errors
def test_flush_does_not_send_a_client_report_past_its_deadline(
    make_delivery: Any, stats: ClientStats, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_backoff(monkeypatch)

    def slow_reports(call: Call) -> Outcome:
        if call.report is not None:
            time.sleep(0.5)  # a server that does not answer: the transport times out
        return OSError("down")

    transport = BackgroundTransport()
    transport.on_send = slow_reports
    delivery = make_delivery(transport, endpoint="envelope")
    stats.drop("sample_rate")
    submit(delivery)
    started = time.monotonic()
    delivery.flush(0.1)
    assert time.monotonic() - started < 0.4


# -- the worker thread ------------------------------------------------------------------------


def test_a_sync_transport_sends_inline_and_needs_no_thread(new_client: Any) -> None:
    before = set(worker_threads())
    transport = FakeTransport()
    client = new_client(transport)
    client.captureMessage("inline")
    assert len(transport.calls) == 1  # sent before the capture returned
    assert client.stats.delivered == 1
    assert client._get_delivery()._worker is None
    assert set(worker_threads()) == before


@pytest.mark.logs_sentry_errors
def test_a_sync_transport_hands_a_failed_event_to_the_worker(new_client: Any) -> None:
    transport = FakeTransport().answer(OSError("down"))
    client = new_client(transport)
    client.captureMessage("later")
    assert client._get_delivery()._worker is not None
    report = client.flush(WAIT)
    assert report.delivered == 1
    assert len(transport.calls) == 2


@pytest.mark.logs_sentry_errors
def test_while_the_worker_retries_a_sync_transport_queues_instead_of_sending_inline(
    make_delivery: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_backoff(monkeypatch)
    transport = FakeTransport().answer(OSError("down"))
    delivery = make_delivery(transport)
    first = submit(delivery)  # tried inline; the worker waits out a back-off before retrying
    assert delivery.worker.failing
    assert len(transport.calls) == 1
    second = submit(delivery)
    assert len(transport.calls) == 1  # not tried ahead of the first
    assert delivery.pending() == 2
    assert delivery.flush(WAIT)  # a flush tries the waiting retry at once
    assert [c.event_id for c in transport.calls] == [first, first, second]
    assert delivery.report().delivered == 2


def test_a_client_sends_again_after_close(new_client: Any) -> None:
    transport = BackgroundTransport()
    client = new_client(transport)
    client.captureMessage("before")
    assert client.close(WAIT).delivered == 1
    client.captureMessage("after")
    report = client.flush(WAIT)
    assert report.delivered == 2
    assert len(transport.calls) == 2


def test_the_worker_thread_starts_at_the_first_send_not_before(new_client: Any) -> None:
    before = set(worker_threads())
    transport = BackgroundTransport()
    transport.hold()
    client = new_client(transport)
    client._get_delivery()
    assert set(worker_threads()) == before
    client.captureMessage("first")
    started = set(worker_threads()) - before
    assert len(started) == 1
    assert all(t.daemon for t in started)
    client.captureMessage("second")
    assert len(set(worker_threads()) - before) == 1  # one thread per client
    transport.release()
    assert client.flush(WAIT).delivered == 2


def run_in_child(child: Callable[[], Any]) -> Any:
    """Fork; run ``child`` in the child; return what it returned (JSON) through a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 0
        try:
            os.close(read_end)
            try:
                result = {"ok": child()}
            except BaseException as exc:
                result = {"error": repr(exc)}
            os.write(write_end, json.dumps(result).encode())
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    result = json.loads(b"".join(chunks) or b"{}")
    assert "error" not in result, result.get("error")
    return result["ok"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork with threads
def test_a_forked_child_gets_its_own_worker_thread(new_client: Any) -> None:
    transport = BackgroundTransport()
    client = new_client(transport)
    client.captureMessage("from the parent")
    assert client.flush(WAIT).delivered == 1
    parent_thread = client._get_delivery().worker._thread

    def child() -> Any:
        calls_before = len(transport.calls)
        client.captureMessage("from the child")
        report = client.flush(WAIT)
        worker = client._get_delivery().worker
        return {
            "delivered": report.delivered,
            "pending": report.pending,
            "sent": [protocol.decode(c.body)["logentry"]["message"] for c in transport.calls],
            "calls_before": calls_before,
            "new_thread": worker._thread is not None
            and worker._thread is not parent_thread
            and worker._thread.is_alive(),
        }

    result = run_in_child(child)
    assert result == {
        "delivered": 2,
        "pending": 0,
        "sent": ["from the parent", "from the child"],
        "calls_before": 1,
        "new_thread": True,
    }
    assert len(transport.calls) == 1  # the child's send happened in the child only


# -- endpoints --------------------------------------------------------------------------------


def test_the_store_endpoint_is_the_default(new_client: Any) -> None:
    transport = FakeTransport()
    client = new_client(transport)
    eid = client.captureMessage("hello")
    (call,) = transport.calls
    assert call.url == STORE
    assert not call.is_envelope
    assert protocol.decode(call.body)["event_id"] == eid


def test_the_envelope_endpoint_sends_envelopes(new_client: Any) -> None:
    transport = FakeTransport()
    client = new_client(transport, endpoint="envelope")
    eid = client.captureMessage("hello")
    (call,) = transport.calls
    assert call.url == ENVELOPE
    assert call.is_envelope and call.item_types == ["event"]
    assert call.event_id == eid
    assert "X-Sentry-Auth" in call.headers


@pytest.mark.parametrize("status", [404, 405])
def test_auto_falls_back_from_envelope_to_store_and_stays_there(
    new_client: Any, status: int, sentry_log: List[logging.LogRecord]
) -> None:
    transport = FakeTransport().answer(status)
    client = new_client(transport, endpoint="auto")
    first = client.captureMessage("first")
    second = client.captureMessage("second")
    assert [c.url for c in transport.calls] == [ENVELOPE, STORE, STORE]
    assert [c.event_id for c in transport.calls] == [first, first, second]
    fallback = transport.calls[1]
    assert fallback.headers["Content-Type"] == "application/octet-stream"
    assert fallback.headers.get("Content-Encoding") == protocol.content_encoding(fallback.body)
    assert "X-Sentry-Auth" in fallback.headers
    assert client.stats.delivered == 2
    assert client.stats.dropped == {}
    assert [level for level, _ in records(sentry_log, "envelope")] == ["INFO"]


@pytest.mark.parametrize("status", [404, 405])
def test_auto_falls_back_for_events_already_queued_for_the_envelope_endpoint(
    new_client: Any, status: int
) -> None:
    transport = BackgroundTransport()
    transport.on_send = lambda call: status if call.url == ENVELOPE else None
    transport.hold()
    client = new_client(transport, endpoint="auto")
    ids = [client.captureMessage("queued %d" % i) for i in range(3)]
    assert transport.started.wait(WAIT)
    transport.release()
    report = client.flush(WAIT)
    assert report.dropped == {}
    assert report.delivered == 3
    assert [c.event_id for c in transport.calls if c.url == STORE] == ids


@pytest.mark.logs_sentry_errors
def test_auto_does_not_fall_back_for_other_refusals(new_client: Any) -> None:
    transport = FakeTransport().answer(400)
    client = new_client(transport, endpoint="auto")
    client.captureMessage("refused")
    client.captureMessage("next")
    assert [c.url for c in transport.calls] == [ENVELOPE, ENVELOPE]
    assert client.stats.dropped == {"send_error": 1}


@pytest.mark.logs_sentry_errors
def test_the_envelope_endpoint_does_not_fall_back_on_404(new_client: Any) -> None:
    transport = FakeTransport().answer(404)
    client = new_client(transport, endpoint="envelope")
    client.captureMessage("refused")
    client.captureMessage("next")
    assert [c.url for c in transport.calls] == [ENVELOPE, ENVELOPE]
    assert client.stats.dropped == {"send_error": 1}


# -- client reports ---------------------------------------------------------------------------


@pytest.mark.logs_sentry_errors
def test_with_envelopes_flush_sends_a_client_report_of_the_drops(new_client: Any) -> None:
    transport = FakeTransport().answer(200, (400, {"X-Sentry-Error": "bad"}))
    client = new_client(transport, endpoint="envelope")
    client.captureMessage("delivered")
    client.captureMessage("refused")
    client.captureMessage("sampled out", sample_rate=0)
    client.flush(WAIT)
    report_call = transport.calls[-1]
    assert report_call.url == ENVELOPE
    assert report_call.item_types == ["client_report"]
    assert "event_id" not in protocol.parse_envelope(report_call.body)[0]
    assert report_call.headers["Content-Type"] == protocol.ENVELOPE_CONTENT_TYPE
    assert "X-Sentry-Auth" in report_call.headers
    report = report_call.report
    assert report is not None and "timestamp" in report
    assert sorted(report["discarded_events"], key=lambda d: d["reason"]) == [
        {"reason": "sample_rate", "category": "error", "quantity": 1},
        {"reason": "send_error", "category": "error", "quantity": 1},
    ]
    client.flush(WAIT)
    assert len(transport.calls) == 3  # reported once
    assert client.stats.delivered == 1  # the report is not an event


def test_the_store_endpoint_sends_no_client_reports(new_client: Any) -> None:
    transport = FakeTransport()
    client = new_client(transport)
    client.captureMessage("delivered")
    client.captureMessage("sampled out", sample_rate=0)
    client.flush(WAIT)
    client.close(WAIT)
    assert [c.item_types for c in transport.calls] == [["event"]]


def test_auto_stops_sending_client_reports_once_it_fell_back_to_store(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = FakeTransport().answer(404)
    delivery = make_delivery(transport, endpoint="auto")
    submit(delivery)
    assert delivery.endpoint == "store"
    stats.drop("sample_rate")
    delivery.flush(WAIT)
    assert [c.url for c in transport.calls] == [ENVELOPE, STORE]


def test_a_client_report_rides_along_once_the_report_interval_passed(
    make_delivery: Any, stats: ClientStats, clock: FakeClock
) -> None:
    transport = FakeTransport()
    delivery = make_delivery(transport, endpoint="envelope")
    stats.drop("sample_rate", 2)
    submit(delivery)
    assert [c.item_types for c in transport.calls] == [["event"]]
    clock.advance(delivery_mod.REPORT_INTERVAL)
    submit(delivery)
    assert [c.item_types for c in transport.calls] == [["event"], ["event"], ["client_report"]]
    assert transport.calls[-1].report["discarded_events"] == [  # type: ignore[index]
        {"reason": "sample_rate", "category": "error", "quantity": 2}
    ]
    stats.drop("sample_rate")
    clock.advance(delivery_mod.REPORT_INTERVAL - 1)
    submit(delivery)  # too soon for another report
    assert len(transport.calls) == 4


def test_a_client_report_that_could_not_be_sent_is_kept_for_the_next_one(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = FakeTransport()
    delivery = make_delivery(transport, endpoint="envelope")
    submit(delivery)
    stats.drop("sample_rate")
    transport.answer(OSError("down"))
    delivery.flush(WAIT)
    stats.drop("sample_rate")
    delivery.flush(WAIT)
    reports = [c.report for c in transport.calls if c.report is not None]
    assert len(reports) == 2
    assert reports[-1]["discarded_events"] == [
        {"reason": "sample_rate", "category": "error", "quantity": 2}
    ]


def test_drop_reasons_are_reported_with_sentrys_names(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = FakeTransport()
    delivery = make_delivery(transport, endpoint="envelope")
    submit(delivery)
    for reason in (
        "event_too_large",
        "shutdown_timeout",
        "queue_overflow",
        "ratelimit_backoff",
        "ignored",
        "internal_error",
        "event_processor",
    ):
        stats.drop(reason)
    delivery.flush(WAIT)
    report = transport.calls[-1].report
    assert report is not None
    assert {d["reason"]: d["quantity"] for d in report["discarded_events"]} == {
        "send_error": 1,
        "network_error": 1,
        "queue_overflow": 1,
        "ratelimit_backoff": 1,
        "event_processor": 2,
        "internal_sdk_error": 1,
    }


def test_no_client_report_is_sent_while_the_internal_category_is_limited(
    make_delivery: Any, stats: ClientStats
) -> None:
    transport = FakeTransport().answer((200, {"X-Sentry-Rate-Limits": "60:internal:key"}))
    delivery = make_delivery(transport, endpoint="envelope")
    submit(delivery)
    stats.drop("sample_rate")
    delivery.flush(WAIT)
    assert len(transport.calls) == 1
    assert stats.has_unreported


@pytest.mark.logs_sentry_errors
def test_close_sends_the_pending_client_report_with_a_sync_transport(new_client: Any) -> None:
    transport = FakeTransport().answer((400, {"X-Sentry-Error": "bad"}))
    client = new_client(transport, endpoint="envelope")
    client.captureMessage("refused")
    client.close(WAIT)
    assert [c.item_types for c in transport.calls] == [["event"], ["client_report"]]


@pytest.mark.logs_sentry_errors
def test_close_sends_the_pending_client_report_with_a_background_transport(
    new_client: Any,
) -> None:
    transport = BackgroundTransport().answer((400, {"X-Sentry-Error": "bad"}))
    client = new_client(transport, endpoint="envelope")
    client.captureMessage("refused")
    client.close(WAIT)
    assert [c.item_types for c in transport.calls] == [["event"], ["client_report"]]


# -- transports -------------------------------------------------------------------------------


def test_a_transport_instance_is_used_as_given(new_client: Any) -> None:
    transport = FakeTransport()
    client = new_client(transport)
    client.captureMessage("hello")
    assert client.remote.get_transport() is transport
    assert len(transport.calls) == 1


def test_a_transport_class_is_built_with_the_dsn_options(new_client: Any) -> None:
    class Recording(FakeTransport):
        def __init__(self, timeout: Any = None) -> None:
            super().__init__(timeout=timeout)

    client = new_client(Recording, dsn=DSN + "?timeout=3")
    client.captureMessage("hello")
    transport = client.remote.get_transport()
    assert isinstance(transport, Recording)
    assert transport.options == {"timeout": "3"}
    assert len(transport.calls) == 1


def test_a_transport_with_the_older_send_data_headers_signature_works(new_client: Any) -> None:
    received: List[Tuple[bytes, Dict[str, str]]] = []

    class OldStyle(Transport):
        def send(self, data, headers):  # type: ignore[no-untyped-def]
            received.append((data, headers))

    client = new_client(OldStyle())
    eid = client.captureMessage("hello")
    (data, headers) = received[0]
    assert protocol.decode(data)["event_id"] == eid
    assert "X-Sentry-Auth" in headers
    assert client.stats.delivered == 1


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        ((400, {"X-Sentry-Error": "bad"}), APIError),
        ((429, {"Retry-After": "10"}), RateLimited),
        (OSError("down"), OSError),
    ],
)
def test_raise_send_errors_raises_transport_errors_for_sync_transports(
    new_client: Any, outcome: Outcome, error: type
) -> None:
    transport = FakeTransport().answer(outcome)
    client = new_client(transport, raise_send_errors=True)
    with pytest.raises(error):
        client.captureMessage("fails loudly")


def test_raise_send_errors_still_returns_normally_on_success(new_client: Any) -> None:
    transport = FakeTransport()
    client = new_client(transport, raise_send_errors=True)
    assert client.captureMessage("fine")
    assert client.stats.delivered == 1


@pytest.mark.logs_sentry_errors
def test_raise_send_errors_does_not_reach_into_the_worker_of_background_transports(
    new_client: Any,
) -> None:
    transport = BackgroundTransport().answer(OSError("down"))
    client = new_client(transport, raise_send_errors=True)
    assert client.captureMessage("queued")
    assert client.flush(WAIT).delivered == 1


# -- options ----------------------------------------------------------------------------------


@pytest.mark.logs_sentry_errors
def test_on_drop_gets_reason_category_and_quantity(new_client: Any) -> None:
    drops: List[Tuple[str, str, int]] = []
    transport = FakeTransport().answer(429)
    client = new_client(transport, on_drop=lambda *args: drops.append(args))
    client.captureMessage("sampled out", sample_rate=0)
    client.captureMessage("rate limited")
    client.captureMessage("held back")
    assert drops == [
        ("sample_rate", "error", 1),
        ("ratelimit_backoff", "error", 1),
        ("ratelimit_backoff", "error", 1),
    ]


@pytest.mark.logs_sentry_errors
def test_an_on_drop_callback_that_raises_is_logged_not_propagated(
    new_client: Any, sentry_errors: List[logging.LogRecord]
) -> None:
    def on_drop(reason: str, category: str, quantity: int) -> None:
        raise RuntimeError("callback bug")

    client = new_client(FakeTransport(), on_drop=on_drop)
    assert client.captureMessage("sampled out", sample_rate=0) is None
    assert client.stats.dropped == {"sample_rate": 1}
    assert records(sentry_errors, "on_drop")


def test_dsn_query_delivery_options_reach_the_client_not_the_transport(new_client: Any) -> None:
    class Recording(FakeTransport):
        def __init__(self, timeout: Any = None) -> None:
            super().__init__(timeout=timeout)

    client = new_client(Recording, dsn=DSN + "?endpoint=envelope&queue_size=5&timeout=2")
    client.captureMessage("hello")
    transport = client.remote.get_transport()
    assert transport.options == {"timeout": "2"}
    assert transport.calls[0].url == ENVELOPE
    delivery = client._get_delivery()
    assert delivery.endpoint == "envelope"
    assert delivery.worker.max_events == 5


def test_client_options_win_over_dsn_query_options(new_client: Any) -> None:
    client = new_client(FakeTransport(), dsn=DSN + "?endpoint=envelope&queue_size=5", queue_size=7)
    delivery = client._get_delivery()
    assert delivery.endpoint == "envelope"
    assert delivery.worker.max_events == 7


def test_the_endpoint_option_ignores_case(new_client: Any) -> None:
    client = new_client(FakeTransport(), endpoint="Envelope")
    assert client._get_delivery().endpoint == "envelope"


@pytest.mark.parametrize(
    "options",
    [
        {"endpoint": "nope"},
        {"queue_size": "x"},
        {"queue_size": -1},
        {"queue_bytes": "lots"},
        {"on_drop": 3},
        {"on_drop": "print"},
        {"dsn": DSN + "?endpoint=nope"},
        {"dsn": DSN + "?queue_size=x"},
    ],
    ids=lambda o: "-".join("%s=%s" % kv for kv in o.items()),
)
def test_bad_delivery_options_fail_at_construction(options: Dict[str, Any]) -> None:
    dsn = options.pop("dsn", DSN)
    with pytest.raises(ConfigurationError):
        Client(
            dsn,
            transport=FakeTransport(),
            install_sys_hook=False,
            install_logging_hook=False,
            hook_libraries=[],
            **options,
        )
