"""The asyncio transport (``raven.transport.aiohttp``) against the loopback sink.

Events are captured from coroutines, threads and plain code, and must reach the sink sent
from the application's own loop (no helper thread), each with its own task's context, under
the delivery rules: retried while the server is away, held back inside a rate-limit window,
counted when dropped.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import random
import threading
import uuid
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import trustme

import raven.transport
from raven import Client
from raven.exceptions import APIError, RateLimited
from raven.transport import worker as worker_mod
from raven.transport.aiohttp import AioHttpTransport, aclose, flush
from raven.transport.registry import default_transports
from servers.sink import Sink

HEADERS = {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(autouse=True)
def _short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 0.05)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 0.2)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as server:
        yield server


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    made: List[Client] = []

    def make(dsn: str, **options: Any) -> Client:
        options.setdefault("transport", AioHttpTransport)
        options.setdefault("install_sys_hook", False)
        options.setdefault("install_logging_hook", False)
        options.setdefault("hook_libraries", [])
        client = Client(dsn, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(5)


def _event() -> Tuple[str, bytes]:
    event_id = uuid.uuid4().hex
    body = json.dumps({"event_id": event_id, "message": "hello", "platform": "python"})
    return event_id, gzip.compress(body.encode())


def post(transport: AioHttpTransport, url: str, body: bytes) -> Any:
    """One ``async_send`` on a fresh loop; the answer, or the failure raised."""

    async def main() -> Any:
        outcome: asyncio.Future = asyncio.get_running_loop().create_future()
        transport.async_send(
            url,
            body,
            dict(HEADERS),
            lambda *answer: outcome.set_result(answer[0] if answer else None),
            outcome.set_exception,
        )
        try:
            return await outcome
        finally:
            await transport.close()  # type: ignore[misc]

    return asyncio.run(main())


# -- the transport ------------------------------------------------------------------------------


def test_a_sent_event_arrives_and_the_answer_carries_status_and_headers(sink: Sink) -> None:
    event_id, body = _event()
    answer = post(AioHttpTransport(), sink.url + "/api/1/store/", body)
    assert answer.status == 200
    assert answer.headers.get("content-type") == "application/json"
    assert sink.event_ids() == [event_id]


def test_a_429_is_rate_limited_with_the_response_headers(sink: Sink) -> None:
    sink.rate_limit(30, form="x-sentry-rate-limits", categories="error")
    with pytest.raises(RateLimited) as raised:
        post(AioHttpTransport(), sink.url + "/api/1/store/", _event()[1])
    assert raised.value.code == 429
    assert raised.value.headers.get("x-sentry-rate-limits").endswith(":error:key")


def test_a_refusal_is_an_api_error_with_its_reason(sink: Sink) -> None:
    sink.respond(403, headers={"X-Sentry-Error": "bad key"})
    with pytest.raises(APIError) as raised:
        post(AioHttpTransport(), sink.url + "/api/1/store/", _event()[1])
    assert (raised.value.code, raised.value.message) == (403, "bad key")


def test_a_server_that_cannot_be_reached_is_a_connection_error(sink: Sink) -> None:
    url = sink.url + "/api/1/store/"
    sink.stop()
    with pytest.raises(ConnectionError):
        post(AioHttpTransport(), url, _event()[1])


def test_a_server_that_does_not_answer_in_time_is_a_connection_error(sink: Sink) -> None:
    sink.slow(2)
    with pytest.raises(ConnectionError):
        post(AioHttpTransport(timeout=0.2), sink.url + "/api/1/store/", _event()[1])


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_sink(ca: trustme.CA) -> Iterator[Sink]:
    with Sink(tls=ca.issue_cert("127.0.0.1")) as server:
        yield server


def test_tls_is_checked_against_ca_certs(ca: trustme.CA, tls_sink: Sink, tmp_path: Any) -> None:
    ca_file = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    event_id, body = _event()
    post(AioHttpTransport(ca_certs=ca_file), tls_sink.url + "/api/1/store/", body)
    assert tls_sink.event_ids() == [event_id]

    with pytest.raises(ConnectionError, match="certificate"):  # certifi's bundle: untrusted
        post(AioHttpTransport(), tls_sink.url + "/api/1/store/", body)


def test_verify_ssl_off_skips_the_certificate_check(tls_sink: Sink) -> None:
    event_id, body = _event()
    post(AioHttpTransport(verify_ssl="0"), tls_sink.url + "/api/1/store/", body)
    assert tls_sink.event_ids() == [event_id]


#: a target only a proxy can reach: nothing resolves or listens there
UNREACHABLE = "http://sentry.invalid:9/api/1/store/"


def test_an_explicit_proxy_is_used_with_its_credentials(sink: Sink) -> None:
    proxy = "http://ada:s%%40cret@127.0.0.1:%d" % sink.port
    post(AioHttpTransport(proxy=proxy), UNREACHABLE, _event()[1])
    [received] = sink.requests
    assert received.proxied and received.target == UNREACHABLE
    assert received.header("Proxy-Authorization") == "Basic YWRhOnNAY3JldA=="  # ada:s@cret


def test_the_proxy_of_the_environment_is_followed_unless_no_proxy_names_the_host(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Sink() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        post(AioHttpTransport(), UNREACHABLE, _event()[1])
        assert [r.proxied for r in proxy.requests] == [True]

        monkeypatch.setenv("no_proxy", "127.0.0.1")
        post(AioHttpTransport(), sink.url + "/api/1/store/", _event()[1])
        assert [r.proxied for r in sink.requests] == [False]

        post(AioHttpTransport(proxy="none"), sink.url + "/api/1/store/", _event()[1])
        assert len(proxy.requests) == 1


def test_the_transport_is_registered_for_its_schemes_and_importable_from_the_package() -> None:
    assert default_transports.get_transport_cls("aiohttp+https") is AioHttpTransport
    assert default_transports.get_transport_cls("aiohttp+http") is AioHttpTransport
    assert raven.transport.AioHttpTransport is AioHttpTransport


def test_dsn_options_reach_the_transport_and_bad_ones_fail_at_configuration(sink: Sink) -> None:
    with pytest.warns(DeprecationWarning, match="Transport selection via DSN"):
        client = Client(
            sink.dsn(scheme="aiohttp+http", query="timeout=2&keepalive=0"),
            install_sys_hook=False,
            install_logging_hook=False,
        )
    transport = client.remote.get_transport()
    assert isinstance(transport, AioHttpTransport)
    assert (transport.timeout, transport.keepalive) == (2.0, False)
    with pytest.raises(ValueError, match="timeout"):
        Client(sink.dsn(query="timeout=soon"), transport=AioHttpTransport)


# -- through the client ---------------------------------------------------------------------


def test_a_thousand_events_from_a_hundred_tasks_arrive_each_with_its_own_context(
    sink: Sink, clients: Callable[..., Client]
) -> None:
    client = clients(sink.dsn())
    captured: Dict[str, int] = {}

    async def customer(n: int) -> None:
        client.tags_context({"customer": "c%d" % n})
        client.user_context({"id": "user-%d" % n})
        client.extra_context({"basket": n})
        client.captureBreadcrumb(message="opened basket %d" % n, category="shop")
        for i in range(10):
            await asyncio.sleep(random.random() / 100)  # interleave with the other tasks
            event_id = client.captureMessage("checkout %d step %d" % (n, i))
            assert event_id
            captured[event_id] = n

    async def main() -> Any:
        await asyncio.gather(*(customer(n) for n in range(100)))
        return await flush(client, timeout=30)

    report = asyncio.run(main())

    assert report.pending == 0 and report.delivered == 1000 and report.dropped == {}
    events = sink.wait_for_events(1000)
    assert sorted(e["event_id"] for e in events) == sorted(captured)
    for event in events:
        n = captured[event["event_id"]]
        assert event["tags"]["customer"] == "c%d" % n
        assert event["user"] == {"id": "user-%d" % n}
        assert event["extra"]["basket"] == repr(n)  # extra values are reprs, as in 6.10
        crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
        assert crumbs == ["opened basket %d" % n]
        assert event["logentry"]["message"].startswith("checkout %d step" % n)
    assert len({r.peer for r in sink.requests}) <= AioHttpTransport.max_in_flight


@pytest.mark.logs_sentry_errors
def test_the_sink_rate_limiting_holds_back_every_event_inside_its_window(
    sink: Sink, clients: Callable[..., Client]
) -> None:
    sink.rate_limit(60)  # 429 with Retry-After for the next minute
    client = clients(sink.dsn())
    drops: List[Tuple[str, str, int]] = []
    client.stats.on_drop = lambda *drop: drops.append(drop)

    async def main() -> Any:
        client.captureMessage("the first: answered 429")
        report = await flush(client, timeout=10)
        for i in range(20):
            client.captureMessage("inside the window %d" % i)
            await asyncio.sleep(0)
        return report, await flush(client, timeout=10)

    first, after = asyncio.run(main())

    assert len(sink.requests) == 1  # nothing was sent inside the window
    assert first.dropped == {"ratelimit_backoff": 1}
    assert after.dropped == {"ratelimit_backoff": 21} and after.pending == 0
    assert drops == [("ratelimit_backoff", "error", 1)] * 21


@pytest.mark.logs_sentry_errors
def test_events_captured_while_the_server_is_down_are_delivered_once_it_is_back(
    sink: Sink, clients: Callable[..., Client]
) -> None:
    sink.stop()
    client = clients(sink.dsn())

    async def main() -> Any:
        ids = [client.captureMessage("during the outage %d" % i) for i in range(5)]
        await asyncio.sleep(0.3)  # a few failed probes
        assert client.flush(0).pending == 5
        sink.start_later(0.2)
        return ids, await flush(client, timeout=10)

    ids, report = asyncio.run(main())
    assert report.pending == 0 and report.delivered == 5 and report.dropped == {}
    assert sorted(sink.event_ids()) == sorted(ids)


@pytest.mark.logs_sentry_errors
def test_a_server_error_is_retried(sink: Sink, clients: Callable[..., Client]) -> None:
    sink.respond(503, times=2)
    client = clients(sink.dsn())

    async def main() -> Any:
        event_id = client.captureMessage("retried")
        return event_id, await flush(client, timeout=10)

    event_id, report = asyncio.run(main())
    assert report.delivered == 1 and report.pending == 0
    assert [r.status for r in sink.requests] == [503, 503, 200]
    assert sink.event_ids() == [event_id]


def test_an_event_captured_in_a_thread_is_sent_from_the_running_loop(
    sink: Sink, clients: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = clients(sink.dsn())
    transport = client.remote.get_transport()
    monkeypatch.setattr(
        transport, "_post_blocking", lambda *a: pytest.fail("sent without the loop")
    )

    async def main() -> Any:
        client.captureMessage("from the loop")  # the loop becomes the transport's
        await flush(client, timeout=10)
        captured: List[Optional[str]] = []
        worker = threading.Thread(target=lambda: captured.append(client.captureMessage("t")))
        await asyncio.get_running_loop().run_in_executor(None, worker.start)
        await asyncio.get_running_loop().run_in_executor(None, worker.join)
        report = await flush(client, timeout=10)
        return captured, report

    captured, report = asyncio.run(main())
    assert report.delivered == 2 and report.pending == 0
    assert captured[0] in sink.event_ids()


def test_without_a_running_loop_the_event_is_sent_before_capture_returns(
    sink: Sink, clients: Callable[..., Client]
) -> None:
    client = clients(sink.dsn())
    event_id = client.captureMessage("no loop anywhere")
    assert sink.event_ids() == [event_id]
    assert client.flush(0).pending == 0


def test_the_session_is_closed_when_asyncio_run_ends(
    sink: Sink, clients: Callable[..., Client]
) -> None:
    client = clients(sink.dsn())
    transport = client.remote.get_transport()
    sessions: List[Any] = []

    async def main() -> None:
        client.captureMessage("hello")
        await flush(client, timeout=10)
        sessions.extend(state.resource for state in transport._states.values())

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()
    assert len(sessions) == 1 and sessions[0].closed
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_aclose_delivers_and_closes_the_session(sink: Sink, clients: Callable[..., Client]) -> None:
    client = clients(sink.dsn())
    transport = client.remote.get_transport()

    async def main() -> Any:
        client.captureMessage("last words")
        sessions = []
        await asyncio.sleep(0)
        sessions.extend(state.resource for state in transport._states.values())
        report = await aclose(client, timeout=10)
        return sessions, report

    sessions, report = asyncio.run(main())
    assert report.delivered == 1 and report.pending == 0
    assert sessions and all(session.closed for session in sessions)


def test_sends_cut_short_by_the_end_of_asyncio_run_are_finished_without_the_loop(
    sink: Sink, clients: Callable[..., Client]
) -> None:
    sink.slow(0.5, times=1)  # the first answer comes after the loop is gone
    client = clients(sink.dsn())

    async def main() -> List[Optional[str]]:
        ids = [client.captureMessage("cut short %d" % i) for i in range(3)]
        await asyncio.sleep(0.05)
        return ids

    ids = asyncio.run(main())  # returns with the sends in flight: asyncio.run cancels them
    report = client.flush(10)
    assert report.pending == 0 and report.dropped == {}
    assert set(ids) <= set(sink.event_ids())
