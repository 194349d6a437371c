"""Delivery through event-loop transports (``async_send`` + callbacks): the worker's rules.

A scripted :class:`LoopFake` plays an event-loop transport: each ``async_send`` is recorded
with its callbacks, and the test answers it (``answer``) as the loop would, later and in any
order, or the fake answers at once from a script. ``call_later`` only records the wake-up;
the test fires it after moving the fake clock on, so back-off is checked without waiting.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from raven import protocol
from raven._core.stats import ClientStats
from raven.base import Client, ClientState
from raven.exceptions import ConfigurationError
from raven.transport import worker as worker_mod
from raven.transport.base import AsyncTransport
from raven.transport.delivery import MAX_SERVER_ERROR_ATTEMPTS, Delivery
from raven.transport.http import check_response

STORE = "http://sentry.invalid/api/1/store/"
ENVELOPE = "http://sentry.invalid/api/1/envelope/"
STORE_HEADERS = {"Content-Type": "application/octet-stream"}
ENVELOPE_HEADERS = {"Content-Type": protocol.ENVELOPE_CONTENT_TYPE}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Send:
    """One ``async_send`` call: what was sent, and how to answer it."""

    def __init__(
        self, url: str, body: bytes, headers: Dict[str, str], ok: Callable[..., Any], fail: Any
    ) -> None:
        self.url, self.body, self.headers = url, body, dict(headers)
        self._ok, self._fail = ok, fail

    @property
    def event_id(self) -> Optional[str]:
        if self.headers.get("Content-Type") == protocol.ENVELOPE_CONTENT_TYPE:
            return protocol.parse_envelope(self.body)[0].get("event_id")
        return protocol.decode(self.body).get("event_id")

    def answer(self, outcome: Any = 200) -> None:
        """200, a status, ``(status, headers)``, or an exception (``OSError``: no answer)."""
        if isinstance(outcome, BaseException):
            self._fail(outcome)
            return
        status, headers = outcome if isinstance(outcome, tuple) else (outcome, {})
        try:
            check_response(status, headers)
        except Exception as exc:
            self._fail(exc)
        else:
            self._ok(Response(status, headers))


class Response:
    def __init__(self, status: int, headers: Dict[str, str]) -> None:
        self.status, self.headers = status, headers


class LoopFake(AsyncTransport):
    """Records sends; answers them from ``script`` at once when ``auto`` is set."""

    def __init__(self, auto: bool = False, max_in_flight: int = 100) -> None:
        super().__init__()
        self.auto = auto
        self.max_in_flight = max_in_flight
        self.script: List[Any] = []
        self.sends: List[Send] = []
        self.timers: List[Tuple[float, Callable[[], Any]]] = []
        self.closed = 0

    def async_send(
        self, url: str, data: bytes, headers: Any, success_cb: Any, error_cb: Any
    ) -> None:
        send = Send(url, data, headers, success_cb, error_cb)
        self.sends.append(send)
        if self.auto:
            send.answer(self.script.pop(0) if self.script else 200)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> None:
        self.timers.append((delay, callback))

    def close(self) -> None:
        self.closed += 1


@pytest.fixture(autouse=True)
def _backoff_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    # the real steps (0.5 s doubling to 10 s), without jitter unless a test wants it
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 0.5)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 10.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stats() -> ClientStats:
    return ClientStats()


@pytest.fixture
def make_delivery(stats: ClientStats, clock: FakeClock) -> Callable[..., Delivery]:
    made: List[Delivery] = []

    def make(transport: Any, jitter: bool = False, **options: Any) -> Delivery:
        options.setdefault("store_url", STORE)
        options.setdefault("envelope_url", ENVELOPE)
        delivery = Delivery(transport, stats, ClientState(), clock=clock, **options)
        if not jitter:
            delivery._async._rand = lambda: 1.0  # the top of the jitter range: exact steps
        made.append(delivery)
        return delivery

    yield make
    for delivery in made:
        delivery._async._closed = True  # nothing left for the exit hook


def submit(delivery: Delivery, category: str = "error", size: int = 0) -> str:
    event_id = uuid.uuid4().hex
    event: Dict[str, Any] = {"event_id": event_id, "message": "hello", "platform": "python"}
    if size:
        event["extra"] = {"blob": "x" * size}
    if delivery.uses_envelopes:
        body = protocol.encode_envelope(event, event_id)
        delivery.submit(ENVELOPE, body, dict(ENVELOPE_HEADERS), category, event_id)
    else:
        delivery.submit(STORE, protocol.encode(event), dict(STORE_HEADERS), category, event_id)
    return event_id


def fire(transport: LoopFake, clock: FakeClock) -> float:
    """Let the oldest scheduled wake-up happen: move the clock on by its delay and run it."""
    delay, callback = transport.timers.pop(0)
    clock.now += delay
    callback()
    return delay


# -- delivered, and what is in flight -------------------------------------------------------


def test_an_answered_send_is_delivered_and_nothing_stays_pending(make_delivery, stats) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    submit(delivery)
    assert delivery.pending() == 1  # in flight until the loop answers
    transport.sends[0].answer(200)
    assert stats.delivered == 1
    assert delivery.pending() == 0
    assert delivery.report().pending == 0


def test_sends_beyond_the_transports_limit_wait_their_turn_in_order(make_delivery) -> None:
    transport = LoopFake(max_in_flight=2)
    delivery = make_delivery(transport)
    ids = [submit(delivery) for _ in range(5)]
    assert [s.event_id for s in transport.sends] == ids[:2]
    assert delivery.pending() == 5
    transport.sends[0].answer(200)
    transport.sends[1].answer(200)
    assert [s.event_id for s in transport.sends] == ids[:4]


def test_answers_given_inside_async_send_walk_a_long_queue_without_recursion(
    make_delivery, stats
) -> None:
    transport = LoopFake(auto=True, max_in_flight=1)
    delivery = make_delivery(transport, queue_size=5000)
    for _ in range(3000):  # deeper than the recursion limit if each answer recursed
        submit(delivery)
    assert stats.delivered == 3000
    assert delivery.pending() == 0


def test_rate_limits_announced_on_a_success_are_honoured(make_delivery, stats) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    submit(delivery)
    transport.sends[0].answer((200, {"X-Sentry-Rate-Limits": "60:error:key"}))
    submit(delivery)
    assert len(transport.sends) == 1
    assert stats.dropped == {"ratelimit_backoff": 1}


# -- no answer: kept, retried with back-off -------------------------------------------------


@pytest.mark.logs_sentry_errors
def test_a_network_error_keeps_the_event_and_retries_it_after_a_back_off(
    make_delivery, stats, clock
) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    event_id = submit(delivery)
    transport.sends[0].answer(ConnectionRefusedError("refused"))

    assert delivery.pending() == 1
    assert len(transport.sends) == 1  # nothing is resent before the back-off ends
    assert fire(transport, clock) == 0.5
    assert [s.event_id for s in transport.sends] == [event_id, event_id]
    transport.sends[1].answer(200)
    assert stats.delivered == 1
    assert stats.dropped == {}
    assert delivery.pending() == 0


@pytest.mark.logs_sentry_errors
def test_the_back_off_doubles_to_ten_seconds_and_network_errors_are_never_given_up(
    make_delivery, stats, clock
) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    submit(delivery)
    delays = []
    for _ in range(12):
        transport.sends[-1].answer(OSError("unreachable"))
        delays.append(fire(transport, clock))
    assert delays == [0.5, 1, 2, 4, 8, 10, 10, 10, 10, 10, 10, 10]
    transport.sends[-1].answer(200)
    assert stats.delivered == 1
    assert stats.dropped == {}


@pytest.mark.logs_sentry_errors
def test_the_back_off_is_jittered_between_half_and_all_of_each_step(make_delivery, clock) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport, jitter=True)
    submit(delivery)
    seen = []
    for _ in range(6):
        transport.sends[-1].answer(OSError("unreachable"))
        seen.append(fire(transport, clock))
    steps = [0.5, 1, 2, 4, 8, 10]
    assert all(step / 2 <= delay <= step for delay, step in zip(seen, steps))


@pytest.mark.logs_sentry_errors
def test_while_the_server_is_failing_one_probe_is_sent_and_the_rest_wait_in_order(
    make_delivery, stats, clock
) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    first = submit(delivery)
    transport.sends[0].answer(OSError("down"))
    later = [submit(delivery) for _ in range(4)]
    assert len(transport.sends) == 1  # nothing goes out during the back-off
    assert delivery.pending() == 5

    fire(transport, clock)
    assert [s.event_id for s in transport.sends[1:]] == [first]  # one probe
    transport.sends[1].answer(200)  # the server is back: the others go, in order
    assert [s.event_id for s in transport.sends[2:]] == later
    for send in transport.sends[2:]:
        send.answer(200)
    assert stats.delivered == 5
    assert delivery.pending() == 0


@pytest.mark.logs_sentry_errors
def test_sends_failing_together_count_as_one_failure(make_delivery, clock) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    for _ in range(3):
        submit(delivery)
    for send in list(transport.sends):
        send.answer(OSError("down"))
    assert len(transport.timers) == 1
    assert fire(transport, clock) == 0.5  # not 2 s: one outage, not three failures
    assert len(transport.sends) == 4  # a single probe


@pytest.mark.logs_sentry_errors
def test_a_server_error_is_retried_up_to_the_attempt_limit_then_dropped(
    make_delivery, stats, clock
) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    submit(delivery)
    for _ in range(MAX_SERVER_ERROR_ATTEMPTS - 1):
        transport.sends[-1].answer(503)
        fire(transport, clock)
    transport.sends[-1].answer(503)
    assert len(transport.sends) == MAX_SERVER_ERROR_ATTEMPTS
    assert transport.timers == []
    assert stats.dropped == {"send_error": 1}
    assert delivery.pending() == 0


@pytest.mark.logs_sentry_errors
def test_a_retry_after_on_a_server_error_is_waited_out(make_delivery, clock) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    submit(delivery)
    transport.sends[0].answer((503, {"Retry-After": "30"}))
    assert fire(transport, clock) == 30


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.logs_sentry_errors
def test_inside_a_rate_limit_window_nothing_of_that_category_is_sent(
    make_delivery, stats, clock
) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    submit(delivery)
    transport.sends[0].answer((429, {"Retry-After": "60"}))
    for _ in range(5):
        submit(delivery)
    assert len(transport.sends) == 1
    assert stats.dropped == {"ratelimit_backoff": 6}
    assert stats.by_category == {("ratelimit_backoff", "error"): 6}
    assert delivery.pending() == 0

    clock.now += 61  # the window is over
    submit(delivery)
    assert len(transport.sends) == 2


@pytest.mark.logs_sentry_errors
def test_a_limit_on_one_category_leaves_the_others_alone(make_delivery, stats) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    submit(delivery)
    transport.sends[0].answer((429, {"X-Sentry-Rate-Limits": "60:transaction:key"}))
    submit(delivery, category="transaction")
    submit(delivery, category="error")
    assert len(transport.sends) == 2
    assert stats.by_category == {
        ("ratelimit_backoff", "error"): 1,  # the 429 itself
        ("ratelimit_backoff", "transaction"): 1,
    }


@pytest.mark.logs_sentry_errors
def test_events_waiting_when_a_limit_arrives_are_dropped_not_sent(make_delivery, stats) -> None:
    transport = LoopFake(max_in_flight=1)
    delivery = make_delivery(transport)
    for _ in range(4):
        submit(delivery)
    transport.sends[0].answer((429, {"Retry-After": "60"}))
    assert len(transport.sends) == 1
    assert stats.dropped == {"ratelimit_backoff": 4}
    assert delivery.pending() == 0


@pytest.mark.logs_sentry_errors
def test_an_event_too_large_is_sent_once_more_smaller(make_delivery, stats) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    submit(delivery, size=300_000)
    transport.sends[0].answer(413)
    assert len(transport.sends) == 2
    assert len(transport.sends[1].body) < len(transport.sends[0].body)
    transport.sends[1].answer(413)
    assert stats.dropped == {"event_too_large": 1}
    assert delivery.pending() == 0


def test_without_an_envelope_endpoint_the_event_goes_to_store(make_delivery, stats) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport, endpoint="auto")
    event_id = submit(delivery)
    transport.sends[0].answer(404)
    assert transport.sends[1].url == STORE
    assert transport.sends[1].event_id == event_id
    transport.sends[1].answer(200)
    assert stats.delivered == 1


def test_envelopes_queued_before_the_switch_to_store_are_sent_there(make_delivery, stats) -> None:
    transport = LoopFake(max_in_flight=1)
    delivery = make_delivery(transport, endpoint="auto")
    submit(delivery)
    queued = submit(delivery)
    transport.sends[0].answer(405)
    transport.sends[1].answer(200)
    assert transport.sends[2].url == STORE
    assert transport.sends[2].event_id == queued


@pytest.mark.logs_sentry_errors
def test_other_refusals_are_dropped_and_counted(make_delivery, stats) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    submit(delivery)
    transport.sends[0].answer(403)
    assert stats.dropped == {"send_error": 1}
    assert transport.timers == []


# -- bounds, odd transports -----------------------------------------------------------------


@pytest.mark.logs_sentry_errors
def test_beyond_queue_size_unfinished_events_new_ones_are_dropped(make_delivery, stats) -> None:
    transport = LoopFake(max_in_flight=1)
    delivery = make_delivery(transport, queue_size=3)
    for _ in range(5):
        submit(delivery)
    assert delivery.pending() == 3
    assert stats.dropped == {"queue_overflow": 2}


def test_a_second_answer_to_the_same_send_is_ignored(make_delivery, stats) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    submit(delivery)
    transport.sends[0].answer(200)
    transport.sends[0].answer(OSError("late"))
    transport.sends[0].answer(200)
    assert stats.delivered == 1
    assert stats.dropped == {}
    assert delivery.pending() == 0


@pytest.mark.logs_sentry_errors
def test_a_transport_that_raises_in_async_send_is_retried_then_given_up(
    make_delivery, stats, clock
) -> None:
    class Broken(LoopFake):
        def async_send(self, *args: Any) -> None:
            self.sends.append(args)  # type: ignore[arg-type]
            raise RuntimeError("bug in the transport")

    transport = Broken()
    delivery = make_delivery(transport)
    submit(delivery)
    while transport.timers:
        fire(transport, clock)
    assert len(transport.sends) == MAX_SERVER_ERROR_ATTEMPTS
    assert stats.dropped == {"send_error": 1}


@pytest.mark.logs_sentry_errors
def test_a_lost_wake_up_is_made_up_for_by_the_next_event(make_delivery, clock) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    first = submit(delivery)
    transport.sends[0].answer((503, {"Retry-After": "30"}))
    transport.timers.clear()  # its loop stopped: the wake-up never comes
    clock.now += 31
    submit(delivery)
    assert [s.event_id for s in transport.sends] == [first, first]  # the retry, as a probe


# -- flush and close ------------------------------------------------------------------------


@pytest.mark.logs_sentry_errors
def test_flush_tries_a_waiting_retry_at_once_and_reports_what_is_left(make_delivery, stats) -> None:
    transport = LoopFake(auto=True)
    transport.script = [OSError("down"), OSError("still down")]
    delivery = make_delivery(transport)
    submit(delivery)
    assert delivery.pending() == 1

    report = delivery.flush(timeout=0.05)  # the retry fails again: still pending
    assert len(transport.sends) == 2
    assert report.pending == 1 and not report

    report = delivery.flush(timeout=5)  # cuts the new back-off short; this time it works
    assert len(transport.sends) == 3
    assert report.pending == 0 and report.delivered == 1


def test_flush_waits_for_answers_arriving_from_another_thread(make_delivery, stats) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    for _ in range(3):
        submit(delivery)
    timer = threading.Timer(0.05, lambda: [s.answer(200) for s in transport.sends])
    timer.start()
    try:
        report = delivery.flush(timeout=10)
    finally:
        timer.join()
    assert report.delivered == 3 and report.pending == 0


@pytest.mark.logs_sentry_errors
def test_close_counts_what_waits_and_reports_what_is_still_in_flight(make_delivery, stats) -> None:
    transport = LoopFake(max_in_flight=1)
    delivery = make_delivery(transport)
    for _ in range(3):
        submit(delivery)
    report = delivery.close(timeout=0)
    assert stats.dropped == {"shutdown_timeout": 2}
    assert report.pending == 1  # the send in flight is not lost by closing
    assert transport.closed == 1

    transport.sends[0].answer(OSError("the connection was closed"))
    assert stats.dropped == {"shutdown_timeout": 3}  # not retried after close


def test_the_default_call_later_needs_no_loop() -> None:
    class Plain(AsyncTransport):
        pass

    fired = threading.Event()
    Plain().call_later(0.01, fired.set)
    assert fired.wait(5)


def test_a_spool_with_an_event_loop_transport_is_refused_at_configuration(
    stats: ClientStats, tmp_path: Any
) -> None:
    from raven.transport.spool import Spool

    spool = Spool(str(tmp_path / "spool.db"))
    try:
        with pytest.raises(ConfigurationError, match="sends on an event loop"):
            Delivery(LoopFake(), stats, ClientState(), spool=spool)
    finally:
        spool.close()


def test_on_the_loop_thread_flush_does_not_block_the_sends_it_would_wait_for() -> None:
    """A blocking wait there would stop the loop that runs the sends (and hang until the
    transport's shutdown_timeout, an hour here, so pytest's timeout would fail the test)."""

    class OnLoop(LoopFake):
        shutdown_timeout = 3600

        def async_send(self, url: str, data: bytes, headers: Any, ok: Any, fail: Any) -> None:
            asyncio.get_running_loop().call_soon(ok)

    client = Client(
        "http://public@sentry.invalid/1",
        transport=OnLoop,
        install_sys_hook=False,
        install_logging_hook=False,
        hook_libraries=[],
    )

    async def main() -> Tuple[Any, Any]:
        client.captureMessage("from a task")
        on_loop = client.flush()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return on_loop, client.flush()

    on_loop, later = asyncio.run(main())
    assert on_loop.pending == 1
    assert later.pending == 0 and later.delivered == 1
    client.close()


def test_a_watched_event_reports_its_fate_once(make_delivery) -> None:
    transport = LoopFake()
    delivery = make_delivery(transport)
    outcomes: List[bool] = []
    delivery._async.watch("a" * 32, outcomes.append)
    delivery.submit(
        STORE, protocol.encode({"event_id": "a" * 32}), STORE_HEADERS, "error", "a" * 32
    )
    delivery._async.settle("a" * 32)  # it did arrive: settling changes nothing
    assert outcomes == []
    transport.sends[0].answer(200)
    assert outcomes == [True]

    delivery._async.watch("b" * 32, outcomes.append)
    delivery._async.settle("b" * 32)  # never arrived (dropped before the delivery saw it)
    assert outcomes == [True, False]
