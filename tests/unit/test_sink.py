"""The loopback sink (tests/servers/sink.py) that the delivery tests and bench S5 rely on.

Bodies are crafted by hand and sent with urllib3, so these tests pin the sink's behaviour
independently of raven's own transport.
"""

from __future__ import annotations

import email.utils
import gzip
import http.client
import json
import socket
import ssl
import threading
import time
import uuid
import zlib
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest
import trustme
import urllib3
from urllib3.exceptions import NewConnectionError, ProtocolError, SSLError

from servers.sink import Sink, decode_body, parse_envelope

STORE = "/api/1/store/"
ENVELOPE = "/api/1/envelope/"


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


@pytest.fixture
def pool() -> Iterator[urllib3.PoolManager]:
    with urllib3.PoolManager(retries=False, timeout=5) as manager:
        yield manager


def an_event(**extra: Any) -> Dict[str, Any]:
    return {"event_id": uuid.uuid4().hex, "message": "hello", "level": "error", **extra}


def post(
    pool: urllib3.PoolManager,
    sink: Sink,
    path: str = STORE,
    body: Optional[bytes] = None,
    encoding: Optional[str] = "gzip",
) -> urllib3.BaseHTTPResponse:
    if body is None:
        body = json.dumps(an_event()).encode()
        body = gzip.compress(body) if encoding == "gzip" else body
    headers = {"Content-Encoding": encoding} if encoding else {}
    return pool.request("POST", sink.url + path, body=body, headers=headers)


def statuses(pool: urllib3.PoolManager, sink: Sink, n: int) -> list:
    return [post(pool, sink).status for _ in range(n)]


# -- bodies ---------------------------------------------------------------------------------------


def test_store_gzip_is_decoded_recorded_and_answered_with_the_id(
    sink: Sink, pool: urllib3.PoolManager
) -> None:
    event = an_event(extra={"text": "ü" * 3})
    raw = gzip.compress(json.dumps(event).encode())
    response = pool.request(
        "POST",
        sink.url + STORE + "?sentry_key=public",
        body=raw,
        headers={"content-encoding": "gzip", "X-Sentry-Auth": "Sentry sentry_key=public"},
    )
    assert response.status == 200
    assert response.json() == {"id": event["event_id"]}
    assert response.headers["Content-Length"] == str(len(response.data))
    assert response.headers.get("Connection", "").lower() != "close"  # keep-alive
    [received] = sink.requests
    assert (received.kind, received.method, received.path) == ("store", "POST", STORE)
    assert (received.query, received.project, received.proxied) == ("sentry_key=public", "1", False)
    assert received.target == STORE + "?sentry_key=public"
    assert received.raw == raw and json.loads(received.body) == event
    assert received.header("CONTENT-ENCODING") == "gzip"
    assert received.header("x-sentry-auth") == "Sentry sentry_key=public"
    assert received.header("X-Missing") is None
    assert received.events == [event] and received.status == 200
    assert sink.events == [event]
    assert sink.event_ids() == [event["event_id"]]
    assert sink.wait_for_events(1, timeout=0) == [event]


@pytest.mark.parametrize("encoding", ["deflate-zlib", "deflate-raw", "identity", "none"])
def test_store_accepts_deflate_zlib_or_raw_and_plain_bodies(
    sink: Sink, pool: urllib3.PoolManager, encoding: str
) -> None:
    event = an_event()
    plain = json.dumps(event).encode()
    if encoding == "deflate-zlib":
        body, header = zlib.compress(plain), "deflate"
    elif encoding == "deflate-raw":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body, header = packer.compress(plain) + packer.flush(), "deflate"
    else:
        body, header = plain, "identity" if encoding == "identity" else None
    assert post(pool, sink, body=body, encoding=header).status == 200
    assert sink.events == [event]


def test_decode_body_directly() -> None:
    assert decode_body(gzip.compress(b"x"), " GZIP ") == b"x"
    assert decode_body(b"x", "") == b"x"
    with pytest.raises(ValueError):
        decode_body(b"x", "br")


def test_envelope_items_by_length_and_by_newline(sink: Sink, pool: urllib3.PoolManager) -> None:
    event = an_event()
    # with a length, the payload may contain newlines (pretty-printed JSON, binary attachment)
    event_bytes = json.dumps(event, indent=2).encode()
    report = {"timestamp": 1, "discarded_events": [{"reason": "queue_overflow", "quantity": 3}]}
    attachment = b"\x00binary\nwith newlines\n"
    body = b"\n".join(
        [
            json.dumps({"event_id": event["event_id"], "dsn": sink.dsn()}).encode(),
            json.dumps({"type": "event", "length": len(event_bytes)}).encode(),
            event_bytes,
            json.dumps({"type": "attachment", "length": len(attachment)}).encode(),
            attachment,
            json.dumps({"type": "client_report"}).encode(),  # no length: up to the newline
            json.dumps(report).encode(),  # the last item without a trailing newline
        ]
    )
    response = post(pool, sink, ENVELOPE, body=gzip.compress(body))
    assert response.status == 200
    assert response.json() == {"id": event["event_id"]}
    [received] = sink.requests
    assert received.kind == "envelope" and received.error is None
    assert received.envelope_header["event_id"] == event["event_id"]
    assert [header["type"] for header, _ in received.items] == [
        "event",
        "attachment",
        "client_report",
    ]
    assert received.items[1][1] == attachment
    assert received.events == [event] and received.client_reports == [report]
    assert sink.event_ids() == [event["event_id"]]


def test_parse_envelope_rejects_truncated_items_and_tolerates_blank_lines() -> None:
    header, items = parse_envelope(b'{}\n{"type":"session"}\n{"a":1}\n\n')
    assert header == {} and items == [({"type": "session"}, b'{"a":1}')]
    with pytest.raises(ValueError):
        parse_envelope(b'{}\n{"type":"event","length":50}\n{"a":1}\n')
    with pytest.raises(ValueError):
        parse_envelope(b'{}\n{"no_type":1}\n{}\n')


def test_undecodable_body_is_answered_400_and_not_counted(
    sink: Sink, pool: urllib3.PoolManager
) -> None:
    response = post(pool, sink, body=b"not gzip at all")
    assert response.status == 400
    assert "bad body" in response.headers["X-Sentry-Error"]
    [received] = sink.requests
    assert received.error and received.events == [] and received.status == 400
    assert sink.events == []


def test_other_paths_and_disabled_endpoints_answer_404(pool: urllib3.PoolManager) -> None:
    with Sink(envelope=False) as sink:
        assert pool.request("GET", sink.url + "/").status == 404
        assert pool.request("GET", sink.url + STORE).status == 404  # the endpoints are POST only
        assert post(pool, sink, ENVELOPE).status == 404
        assert post(pool, sink, STORE).status == 200
        assert [r.kind for r in sink.requests] == ["other", "other", "envelope", "store"]
    with Sink(store=False) as sink:
        assert post(pool, sink, STORE).status == 404


def test_chunked_request_body(sink: Sink, pool: urllib3.PoolManager) -> None:
    event = an_event()
    plain = json.dumps(event).encode()
    chunks = iter([plain[:10], plain[10:]])
    response = pool.request("POST", sink.url + STORE, body=chunks, chunked=True)
    assert response.status == 200
    assert sink.requests[0].header("Transfer-Encoding") == "chunked"
    assert sink.events == [event]


def test_wait_for_events_times_out_with_the_counts(sink: Sink) -> None:
    with pytest.raises(AssertionError, match="expected 1 event"):
        sink.wait_for_events(1, timeout=0.05)


def test_wait_for_events_wakes_up_on_arrival(sink: Sink, pool: urllib3.PoolManager) -> None:
    timer = threading.Timer(0.05, post, (pool, sink))
    timer.start()
    try:
        assert len(sink.wait_for_events(1, timeout=5)) == 1
    finally:
        timer.join()


# -- behaviour rules ------------------------------------------------------------------------------


def test_respond_for_a_number_of_requests(sink: Sink, pool: urllib3.PoolManager) -> None:
    sink.respond(503, headers={"X-Custom": "yes"}, body=b"down", times=2)
    first = post(pool, sink)
    assert (first.status, first.headers["X-Custom"], first.data) == (503, "yes", b"down")
    assert statuses(pool, sink, 3) == [503, 200, 200]
    assert [r.status for r in sink.requests] == [503, 503, 200, 200]
    assert len(sink.events) == 2  # events of refused requests are not "accepted"
    assert sum(len(r.events) for r in sink.requests) == 4


def test_respond_for_a_duration(sink: Sink, pool: urllib3.PoolManager) -> None:
    sink.respond(500, duration=0.3)
    assert statuses(pool, sink, 2) == [500, 500]
    time.sleep(0.35)
    assert statuses(pool, sink, 1) == [200]


def test_respond_until_changed_and_the_latest_call_wins(
    sink: Sink, pool: urllib3.PoolManager
) -> None:
    sink.respond(418)
    assert statuses(pool, sink, 3) == [418] * 3
    sink.respond(202, body=b"{}", times=1)
    assert statuses(pool, sink, 2) == [202, 200]
    sink.respond(500, times=5)
    sink.reset()
    assert statuses(pool, sink, 1) == [200]
    assert len(sink.requests) == 1  # reset() forgot the earlier ones


def test_respond_with_both_times_and_duration_ends_at_the_first_limit(
    sink: Sink, pool: urllib3.PoolManager
) -> None:
    sink.respond(500, times=100, duration=0.2)
    assert statuses(pool, sink, 1) == [500]
    time.sleep(0.25)
    assert statuses(pool, sink, 1) == [200]


def _ratelimited(pool: urllib3.PoolManager, sink: Sink, **kwargs: Any) -> urllib3.BaseHTTPResponse:
    sink.rate_limit(0.4, **kwargs)
    response = post(pool, sink)
    time.sleep(0.45)
    assert statuses(pool, sink, 1) == [200], "the window is over"
    return response


def test_rate_limit_retry_after_seconds(sink: Sink, pool: urllib3.PoolManager) -> None:
    response = _ratelimited(pool, sink)
    assert response.status == 429
    assert response.headers["Retry-After"] == "1"  # time left, rounded up
    assert "X-Sentry-Rate-Limits" not in response.headers


def test_rate_limit_retry_after_counts_down(sink: Sink, pool: urllib3.PoolManager) -> None:
    sink.rate_limit(30)
    assert post(pool, sink).headers["Retry-After"] == "30"
    sink.rate_limit(2.2)
    assert post(pool, sink).headers["Retry-After"] == "3"


def test_rate_limit_http_date(sink: Sink, pool: urllib3.PoolManager) -> None:
    asked = time.time()
    response = _ratelimited(pool, sink, form="http-date")
    assert response.status == 429
    when = email.utils.parsedate_to_datetime(response.headers["Retry-After"]).timestamp()
    assert asked + 0.4 <= when <= asked + 1.5  # the window's end, rounded up to a second


def test_rate_limit_x_sentry_rate_limits(sink: Sink, pool: urllib3.PoolManager) -> None:
    response = _ratelimited(pool, sink, form="x-sentry-rate-limits", categories="error;default")
    assert response.status == 429
    assert response.headers["X-Sentry-Rate-Limits"] == "1:error;default:key"
    assert response.headers["Retry-After"] == "1"


def test_rate_limit_bare_with_another_status(sink: Sink, pool: urllib3.PoolManager) -> None:
    response = _ratelimited(pool, sink, form="bare", status=503)
    assert response.status == 503
    assert "Retry-After" not in response.headers
    assert "X-Sentry-Rate-Limits" not in response.headers


def test_rate_limit_rejects_an_unknown_form(sink: Sink) -> None:
    with pytest.raises(ValueError):
        sink.rate_limit(1, form="sometimes")


def test_too_large_over_answers_413_above_the_threshold(
    sink: Sink, pool: urllib3.PoolManager
) -> None:
    sink.too_large_over(100)
    assert post(pool, sink, body=b"x" * 101).status == 413
    response = post(pool, sink, body=b"x" * 101, encoding=None)
    assert response.status == 413 and "101" in response.headers["X-Sentry-Error"]
    small = json.dumps({"event_id": "ab" * 16}).encode()
    assert len(small) <= 100
    assert post(pool, sink, body=small, encoding=None).status == 200
    sink.too_large_over(None)
    assert (
        post(pool, sink, body=json.dumps(an_event(pad="x" * 200)).encode(), encoding=None).status
        == 200
    )


def test_slow_delays_the_answer(sink: Sink, pool: urllib3.PoolManager) -> None:
    sink.slow(0.3, times=1)
    started = time.perf_counter()
    assert statuses(pool, sink, 1) == [200]
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    assert statuses(pool, sink, 1) == [200]
    assert time.perf_counter() - started < 0.2


def test_stop_interrupts_a_slow_answer(pool: urllib3.PoolManager) -> None:
    sink = Sink().start()
    sink.slow(30)
    errors = []

    def send() -> None:
        try:
            post(pool, sink)
        except urllib3.exceptions.HTTPError as exc:
            errors.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    while not sink.requests and sender.is_alive():
        time.sleep(0.01)
    started = time.perf_counter()
    sink.stop()
    sender.join(5)
    assert time.perf_counter() - started < 2
    assert len(errors) == 1 and sink.requests[0].status == 0


def test_reset_connections_drops_requests_unanswered(sink: Sink, pool: urllib3.PoolManager) -> None:
    sink.reset_connections(2)
    for _ in range(2):
        with pytest.raises(ProtocolError):
            post(pool, sink)
    assert statuses(pool, sink, 1) == [200]
    assert [r.status for r in sink.requests] == [0, 0, 200]
    assert len(sink.events) == 1


def test_limit_header_on_success(sink: Sink, pool: urllib3.PoolManager) -> None:
    sink.limit_header_on_success("60:transaction:key")
    assert post(pool, sink).headers["X-Sentry-Rate-Limits"] == "60:transaction:key"
    sink.respond(500, times=1)
    assert "X-Sentry-Rate-Limits" not in post(pool, sink).headers
    sink.limit_header_on_success(None)
    assert "X-Sentry-Rate-Limits" not in post(pool, sink).headers


# -- proxy, lifecycle, TLS ------------------------------------------------------------------------


def test_absolute_form_target_is_recorded_as_proxied(sink: Sink) -> None:
    event = an_event()
    with urllib3.ProxyManager(sink.url, retries=False) as proxy:
        response = proxy.request(
            "POST", "http://sentry.example.invalid/api/7/store/", body=json.dumps(event).encode()
        )
    assert response.status == 200
    [received] = sink.requests
    assert received.proxied and received.target == "http://sentry.example.invalid/api/7/store/"
    assert (received.path, received.project, received.kind) == ("/api/7/store/", "7", "store")
    assert sink.events == [event]


def _keep_alive_request(sink: Sink) -> Tuple[http.client.HTTPConnection, int]:
    conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=5)
    conn.request("POST", STORE, body=json.dumps(an_event()))
    response = conn.getresponse()
    response.read()
    return conn, response.status


def test_stop_closes_keep_alive_connections_and_restart_keeps_the_port(
    sink: Sink, pool: urllib3.PoolManager
) -> None:
    port = sink.port
    conn, status = _keep_alive_request(sink)
    assert status == 200
    sink.stop()
    try:
        # the server side of the idle keep-alive connection is gone: the next request fails
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            conn.request("POST", STORE, body=json.dumps(an_event()))
            conn.getresponse()
    finally:
        conn.close()
    with pytest.raises(NewConnectionError):
        post(pool, sink)
    sink.start()
    assert sink.port == port
    assert statuses(pool, sink, 1) == [200]


def test_restart_goes_down_for_a_while(sink: Sink, pool: urllib3.PoolManager) -> None:
    port = sink.port
    assert statuses(pool, sink, 1) == [200]  # the pool now holds a keep-alive connection
    restarter = threading.Thread(target=sink.restart, kwargs={"down_for": 0.4})
    restarter.start()
    time.sleep(0.15)
    with pytest.raises((NewConnectionError, ProtocolError)):
        post(pool, sink)
    restarter.join()
    assert sink.port == port and sink.running
    assert statuses(pool, sink, 1) == [200]
    assert [r.status for r in sink.requests] == [200, 200]


def test_start_later_refuses_then_accepts(pool: urllib3.PoolManager) -> None:
    sink = Sink()
    sink.start_later(0.4)
    try:
        assert sink.port and str(sink.port) in sink.dsn()
        assert not sink.running
        with pytest.raises(NewConnectionError):
            post(pool, sink)
        time.sleep(0.5)
        assert sink.running
        assert statuses(pool, sink, 1) == [200]
    finally:
        sink.stop()


def test_stop_cancels_a_pending_start(pool: urllib3.PoolManager) -> None:
    sink = Sink()
    sink.start_later(30)
    started = time.perf_counter()
    sink.stop()
    assert time.perf_counter() - started < 1
    with pytest.raises(NewConnectionError):
        post(pool, sink)


def test_start_twice_is_an_error(sink: Sink) -> None:
    with pytest.raises(RuntimeError):
        sink.start()


def test_dsn_and_url(sink: Sink) -> None:
    assert sink.url == "http://127.0.0.1:%d" % sink.port
    assert sink.dsn() == "http://public@127.0.0.1:%d/1" % sink.port
    assert sink.dsn(project=5, key="k", secret="s", scheme="threaded+http", query="timeout=3") == (
        "threaded+http://k:s@127.0.0.1:%d/5?timeout=3" % sink.port
    )


def test_tls_with_a_trustme_ca() -> None:
    ca = trustme.CA()
    context = ssl.create_default_context()
    ca.configure_trust(context)
    event = an_event()
    with Sink(tls=ca.issue_cert("localhost", "127.0.0.1")) as sink:
        assert sink.url.startswith("https://") and sink.dsn().startswith("https://")
        with urllib3.PoolManager(ssl_context=context, retries=False) as trusting:
            response = trusting.request("POST", sink.url + STORE, body=json.dumps(event))
            assert response.status == 200
            # keep-alive over TLS, and stop() closes that connection too
            assert trusting.request("POST", sink.url + STORE, body=json.dumps(event)).status == 200
            sink.restart()
            assert trusting.request("POST", sink.url + STORE, body=json.dumps(event)).status == 200
        with urllib3.PoolManager(retries=False) as untrusting, pytest.raises(SSLError):
            untrusting.request("POST", sink.url + STORE, body=b"{}")
        assert len(sink.events) == 3
        # a plain-HTTP request to the TLS port does not get an answer
        with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as raw:
            raw.sendall(b"POST /api/1/store/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            try:
                assert b"200" not in raw.recv(1024)
            except ConnectionResetError:
                pass


def test_keep_alive_throughput(sink: Sink) -> None:
    """One client thread on one keep-alive connection: ~1,500/s with urllib3 in this process
    (the client is the bottleneck; ~3,500/s with a bare socket client). The floor is low so
    that a loaded machine passes; it catches a stall per request (Nagle + delayed ACK: 40 ms)."""
    body = gzip.compress(json.dumps(an_event()).encode())
    with urllib3.HTTPConnectionPool("127.0.0.1", sink.port, maxsize=1, retries=False) as pool:
        started = time.perf_counter()
        for _ in range(300):
            pool.urlopen("POST", STORE, body=body, headers={"Content-Encoding": "gzip"})
        elapsed = time.perf_counter() - started
        assert pool.num_connections == 1
    assert len(sink.requests) == 300
    assert len({r.peer for r in sink.requests}) == 1
    assert 300 / elapsed > 100, "%.0f requests/s" % (300 / elapsed)
