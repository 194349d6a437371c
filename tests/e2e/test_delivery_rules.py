"""Each response rule of the delivery core, driven over real HTTP by the fault-injecting sink.

One test per rule: what the server answers, what the client does next (resend, retry, hold
back, give up) and how it is counted. See docs/delivery.md for the rules themselves.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, List

import pytest

from raven import Client
from raven.transport import worker
from raven.transport.http import HTTPTransport
from servers.sink import Sink

pytestmark = pytest.mark.e2e


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "BACKOFF_BASE", 0.05)
    monkeypatch.setattr(worker, "BACKOFF_MAX", 0.2)


@pytest.fixture
def sentry_errors() -> Iterator[List[logging.LogRecord]]:
    records: List[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("sentry.errors")
    handler = Keep(logging.DEBUG)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def make_client(dsn: str, **options: Any) -> Client:
    options.setdefault("install_sys_hook", False)
    options.setdefault("hook_libraries", [])
    return Client(dsn, **options)


def test_a_413_is_answered_by_one_smaller_resend(sink: Sink) -> None:
    client = make_client(sink.dsn(), string_max_length=100_000)
    big = "".join("%08x" % (i * 2654435761 % 2**32) for i in range(20_000))  # ~160 KB, random
    first = client.captureMessage("big one", extra={"blob": big})
    client.flush(10)
    full_size = len(sink.requests[-1].raw)  # what this event weighs when nobody objects
    sink.reset()
    sink.too_large_over(full_size * 2 // 3)

    event_id = client.captureMessage("big one again", extra={"blob": big})
    report = client.close(timeout=10)

    statuses = [r.status for r in sink.requests]
    assert statuses == [413, 200]
    [stored] = sink.events
    assert stored["event_id"] == event_id != first
    assert stored["extra"]["raven.trimmed"]
    assert report.dropped == {}


def test_an_event_still_too_large_after_the_resend_is_counted(sink: Sink) -> None:
    sink.too_large_over(50)
    client = make_client(sink.dsn())

    client.captureMessage("always too large")
    report = client.close(timeout=10)

    assert [r.status for r in sink.requests] == [413, 413]
    assert report.dropped == {"event_too_large": 1}
    assert report.delivered == 0


def test_other_4xx_are_counted_and_logged_once_per_kind(
    sink: Sink, sentry_errors: List[logging.LogRecord]
) -> None:
    sink.respond(400, {"X-Sentry-Error": "invalid event: bad tag"})
    client = make_client(sink.dsn())

    for i in range(5):
        client.captureMessage("refused %d" % i)
    report = client.close(timeout=10)

    assert report.dropped == {"send_error": 5}
    assert len(sink.requests) == 5  # refused events are not retried
    mentions = [r for r in sentry_errors if "invalid event: bad tag" in r.getMessage()]
    assert [r.levelno for r in mentions] == [logging.ERROR] + [logging.DEBUG] * 4


def test_a_500_is_retried_until_the_server_takes_the_event(sink: Sink) -> None:
    sink.respond(500, times=2)
    client = make_client(sink.dsn())

    event_id = client.captureMessage("try again")
    report = client.close(timeout=10)

    assert [r.status for r in sink.requests] == [500, 500, 200]
    assert sink.event_ids() == [event_id]
    assert report.delivered == 1 and report.dropped == {}


def test_a_refused_connection_is_retried_until_the_server_is_back(sink: Sink) -> None:
    sink.stop()
    sink.start_later(1.0)
    client = make_client(sink.dsn())

    ids = [client.captureMessage("while down %d" % i) for i in range(20)]
    assert client.state.did_fail() or client.stats.delivered == 0
    report = client.close(timeout=15)

    assert sorted(sink.event_ids()) == sorted(ids)
    assert report.dropped == {}
    assert not client.state.did_fail()


def test_a_reset_connection_is_retried(sink: Sink) -> None:
    sink.reset_connections(times=2)
    client = make_client(sink.dsn())

    event_id = client.captureMessage("reset twice")
    report = client.close(timeout=10)

    assert sink.event_ids() == [event_id]
    assert report.dropped == {}


def test_a_response_slower_than_the_timeout_is_retried(sink: Sink) -> None:
    sink.slow(2.0, times=1)
    client = make_client(sink.dsn(query="timeout=0.5"))

    event_id = client.captureMessage("slow first answer")
    report = client.close(timeout=15)

    assert event_id in sink.event_ids()
    assert report.dropped == {}


def test_a_rate_limit_header_on_a_200_holds_back_that_category(sink: Sink) -> None:
    sink.limit_header_on_success("60:error:key")
    client = make_client(sink.dsn())

    first = client.captureMessage("accepted, with a limit")
    client.flush(10)
    for i in range(10):
        client.captureMessage("held back %d" % i)
    report = client.close(timeout=10)

    assert sink.event_ids() == [first]
    assert len(sink.requests) == 1
    assert report.dropped == {"ratelimit_backoff": 10}
    assert client.stats.by_category == {("ratelimit_backoff", "error"): 10}


def test_a_limit_on_another_category_does_not_hold_back_errors(sink: Sink) -> None:
    sink.limit_header_on_success("60:transaction;session:key, 60:unknown_thing:org")
    client = make_client(sink.dsn())

    ids = [client.captureMessage("error %d" % i) for i in range(5)]
    report = client.close(timeout=10)

    assert sorted(sink.event_ids()) == sorted(ids)
    assert report.dropped == {}


def test_a_sync_transport_also_honours_the_window(sink: Sink) -> None:
    sink.rate_limit(30, form="retry-after")
    client = make_client(sink.dsn(), transport=HTTPTransport)

    for i in range(10):
        client.captureMessage("sync %d" % i)
    report = client.close(timeout=5)

    assert len(sink.requests) == 1
    assert report.dropped == {"ratelimit_backoff": 10}


def test_auto_falls_back_to_store_on_a_server_without_envelopes() -> None:
    with Sink(envelope=False) as old_server:
        client = make_client(old_server.dsn(), endpoint="auto")

        ids = [client.captureMessage("old server %d" % i) for i in range(3)]
        report = client.close(timeout=10)

        kinds = [(r.kind, r.status) for r in old_server.requests]
        assert kinds == [("envelope", 404), ("store", 200), ("store", 200), ("store", 200)]
        assert sorted(old_server.event_ids()) == sorted(ids)
        assert report.dropped == {}


def test_envelopes_carry_client_reports_of_dropped_events(sink: Sink) -> None:
    client = make_client(sink.dsn(query="endpoint=envelope"), sample_rate=0.5, _random_seed=7)

    sent = [client.captureMessage("maybe %d" % i) for i in range(40)]
    report = client.close(timeout=10)

    sampled_out = sent.count(None)
    assert sampled_out == report.dropped["sample_rate"] > 0
    assert {r.kind for r in sink.requests} == {"envelope"}
    discarded = [d for r in sink.requests for c in r.client_reports for d in c["discarded_events"]]
    assert discarded == [{"reason": "sample_rate", "category": "error", "quantity": sampled_out}]


def test_a_full_spool_evicts_its_oldest_events_and_counts_them(sink: Sink, tmp_path: Any) -> None:
    sink.stop()
    client = make_client(sink.dsn(), spool_path=str(tmp_path / "spool.db"), spool_max_events=5)

    ids = [client.captureMessage("spooled %d" % i) for i in range(8)]
    assert client.stats.dropped == {"cache_overflow": 3}
    sink.start()
    report = client.close(timeout=15)

    assert sorted(sink.event_ids()) == sorted(ids[3:])  # the newest five
    assert report.dropped == {"cache_overflow": 3}
    assert report.pending == 0


def test_a_refusal_explained_only_in_its_body_is_logged_with_that_reason(
    sink: Sink, sentry_errors: List[logging.LogRecord]
) -> None:
    # Bugsink answers a wrong key with a 403 and a text body, no X-Sentry-Error
    sink.respond(403, {"Content-Type": "text/plain"}, body=b"Project not found or key incorrect")
    client = make_client(sink.dsn())

    client.captureMessage("wrong key")
    report = client.close(timeout=10)

    assert report.dropped == {"send_error": 1}
    assert any(
        "HTTP 403: Project not found or key incorrect" in r.getMessage() for r in sentry_errors
    )
