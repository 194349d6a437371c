"""The HTTP transports (urllib3, requests, and their threaded forms) against the loopback sink.

Every transport must turn the same server answers into the same outcomes: a 2xx returns, a 429
raises RateLimited, another refusal raises APIError (both carrying the response headers), and a
network failure raises something that is not an APIError. TLS, proxies and the DSN options are
checked on the wire as well.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Tuple
from unittest import mock

import pytest
import trustme

import raven
from raven.exceptions import APIError, InvalidDsn, RateLimited
from raven.transport.http import HTTPTransport
from raven.transport.registry import default_transports
from raven.transport.requests import RequestsHTTPTransport
from raven.transport.threaded import ThreadedHTTPTransport
from raven.transport.threaded_requests import ThreadedRequestsHTTPTransport
from servers.sink import Sink

TRANSPORTS: Dict[str, type] = {
    "http": HTTPTransport,
    "requests": RequestsHTTPTransport,
    "threaded_http": ThreadedHTTPTransport,
    "threaded_requests": ThreadedRequestsHTTPTransport,
}

#: what the client puts on every send (the auth value is opaque to a transport)
HEADERS = {
    "User-Agent": "raven-python/%s" % raven.VERSION,
    "X-Sentry-Auth": "Sentry sentry_version=6, sentry_client=raven-python/%s, sentry_key=public"
    % raven.VERSION,
    "Content-Type": "application/octet-stream",
    "Content-Encoding": "gzip",
}

insecure_ok = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def _event() -> Tuple[str, bytes]:
    event_id = uuid.uuid4().hex
    body = json.dumps({"event_id": event_id, "message": "hello", "platform": "python"})
    return event_id, gzip.compress(body.encode())


def _close(transport: Any) -> None:
    """Release the worker thread, session and pools, so no socket is left to the collector."""
    worker = getattr(transport, "_worker", None)
    if worker is not None:
        worker.stop(5)
    session = getattr(transport, "_session", None)
    if session is not None:
        session.close()
    pool = getattr(transport, "_pool", None)
    if pool is not None:
        managers = [pool._direct, *pool._managers.values()] if hasattr(pool, "_routes") else [pool]
        for manager in managers:
            if manager is not None:
                manager.clear()


def deliver(transport: Any, url: str, data: bytes, headers: Dict[str, str] = HEADERS) -> Any:
    """Send and wait for the outcome, raising the failure (the threaded ones report by callback)."""
    if not transport.is_async:
        return transport.send(url, data, dict(headers))
    done = threading.Event()
    failures: List[BaseException] = []

    def failed(exc: BaseException) -> None:
        failures.append(exc)
        done.set()

    transport.async_send(url, data, dict(headers), done.set, failed)
    assert done.wait(15), "the worker never reported the send"
    if failures:
        raise failures[0]
    return None


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # the outcome must not depend on the proxies and CA bundles of the machine running the tests
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as server:
        yield server


@pytest.fixture(params=sorted(TRANSPORTS))
def make_transport(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Build the parametrized transport (closed after the test)."""
    cls = TRANSPORTS[request.param]
    made: List[Any] = []

    def make(**options: Any) -> Any:
        transport = cls(**options)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        _close(transport)


@pytest.fixture
def store_url(sink: Sink) -> str:
    return sink.url + "/api/1/store/"


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port that refuses connections (bound, never listening) for the whole test."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


# -- what arrives ---------------------------------------------------------------------------


def test_a_send_arrives_with_our_headers_and_gzip_body(
    make_transport: Callable[..., Any], sink: Sink, store_url: str
) -> None:
    event_id, data = _event()
    deliver(make_transport(), store_url, data)
    [received] = sink.requests
    assert received.method == "POST"
    assert received.kind == "store"
    assert received.raw == data  # passed through untouched
    assert received.events[0]["event_id"] == event_id
    for name, value in HEADERS.items():
        assert received.header(name) == value
    assert received.status == 200
    assert not received.proxied


def test_sends_reuse_one_connection(
    make_transport: Callable[..., Any], sink: Sink, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = make_transport()
    seen = set()
    original = sink._track

    def track(accepted: socket.socket, active: socket.socket) -> None:
        seen.add(accepted.getpeername())
        original(accepted, active)

    monkeypatch.setattr(sink, "_track", track)
    for _ in range(3):
        deliver(transport, store_url, _event()[1])
    assert len(sink.events) == 3
    assert len(seen) == 1, "keep-alive: every send should use the same connection"


def test_sync_send_returns_the_response(sink: Sink, store_url: str) -> None:
    transport = HTTPTransport()
    try:
        assert transport.send(store_url, _event()[1], dict(HEADERS)).status == 200
    finally:
        _close(transport)
    transport = RequestsHTTPTransport()
    try:
        assert transport.send(store_url, _event()[1], dict(HEADERS)).status_code == 200
    finally:
        _close(transport)


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "expected"),
    [("retry-after", 30), ("http-date", 30), ("x-sentry-rate-limits", 30), ("bare", 60)],
)
def test_429_raises_rate_limited_with_retry_after_and_headers(
    make_transport: Callable[..., Any], sink: Sink, store_url: str, form: str, expected: float
) -> None:
    sink.rate_limit(30, form=form, categories="error")
    with pytest.raises(RateLimited) as info:
        deliver(make_transport(), store_url, _event()[1])
    exc = info.value
    assert exc.code == 429
    assert expected - 3 <= exc.retry_after <= expected + 1  # an HTTP-date has whole seconds
    if form == "bare":
        assert exc.headers.get("retry-after") is None
    else:
        assert exc.headers.get("retry-after")  # looked up case-insensitively
    if form == "x-sentry-rate-limits":
        assert exc.headers.get("x-sentry-rate-limits") == "30:error:key"


def test_413_raises_api_error_with_the_servers_reason(
    make_transport: Callable[..., Any], sink: Sink, store_url: str
) -> None:
    sink.too_large_over(10)
    with pytest.raises(APIError) as info:
        deliver(make_transport(), store_url, _event()[1])
    assert not isinstance(info.value, RateLimited)
    assert info.value.code == 413
    assert "over the limit of 10" in info.value.message
    assert "over the limit" in info.value.headers.get("x-sentry-error")


def test_400_raises_api_error_with_the_servers_reason(
    make_transport: Callable[..., Any], sink: Sink, store_url: str
) -> None:
    with pytest.raises(APIError) as info:
        deliver(make_transport(), store_url, b"this is not gzip")
    assert info.value.code == 400
    assert info.value.message.startswith("bad body")


def test_500_raises_api_error(
    make_transport: Callable[..., Any], sink: Sink, store_url: str
) -> None:
    sink.respond(500)
    with pytest.raises(APIError) as info:
        deliver(make_transport(), store_url, _event()[1])
    assert info.value.code == 500
    assert info.value.message == "HTTP 500"


def test_a_refused_connection_is_a_network_error(
    make_transport: Callable[..., Any], refused_port: int
) -> None:
    url = "http://127.0.0.1:%d/api/1/store/" % refused_port
    with pytest.raises(Exception) as info:
        deliver(make_transport(), url, _event()[1])
    assert not isinstance(info.value, APIError)


def test_a_dropped_connection_is_a_network_error(
    make_transport: Callable[..., Any], sink: Sink, store_url: str
) -> None:
    sink.reset_connections(1)
    with pytest.raises(Exception) as info:
        deliver(make_transport(), store_url, _event()[1])
    assert not isinstance(info.value, APIError)


def test_a_slow_server_fails_within_the_timeout(
    make_transport: Callable[..., Any], sink: Sink, store_url: str
) -> None:
    sink.slow(5)
    transport = make_transport(timeout=0.5)
    start = time.monotonic()
    with pytest.raises(Exception) as info:
        deliver(transport, store_url, _event()[1])
    elapsed = time.monotonic() - start
    assert not isinstance(info.value, APIError)
    assert 0.4 <= elapsed < 2.5


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def tls_sink(ca: trustme.CA) -> Iterator[Sink]:
    with Sink(tls=ca.issue_cert("127.0.0.1")) as server:
        yield server


@pytest.fixture
def misnamed_tls_sink(ca: trustme.CA) -> Iterator[Sink]:
    with Sink(tls=ca.issue_cert("sentry.example")) as server:
        yield server


def test_tls_with_the_trusted_ca(
    make_transport: Callable[..., Any], tls_sink: Sink, ca_file: str
) -> None:
    deliver(make_transport(ca_certs=ca_file), tls_sink.url + "/api/1/store/", _event()[1])
    assert len(tls_sink.events) == 1


def test_tls_with_the_ca_directory(
    make_transport: Callable[..., Any], tls_sink: Sink, ca: trustme.CA, tmp_path: Any
) -> None:
    # a c_rehash-style directory: the CA under its subject-hash name
    import ssl

    pem = ca.cert_pem.bytes().decode()
    der = ssl.PEM_cert_to_DER_cert(pem)
    subject_hash = subprocess.run(
        ["openssl", "x509", "-noout", "-subject_hash"],
        input=pem.encode(),
        capture_output=True,
        check=False,
    )
    if subject_hash.returncode != 0 or not der:
        pytest.skip("openssl command not available")
    (tmp_path / (subject_hash.stdout.decode().strip() + ".0")).write_text(pem)
    deliver(make_transport(ca_certs=str(tmp_path)), tls_sink.url + "/api/1/store/", _event()[1])
    assert len(tls_sink.events) == 1


def test_tls_fails_without_the_ca(make_transport: Callable[..., Any], tls_sink: Sink) -> None:
    with pytest.raises(Exception) as info:
        deliver(make_transport(), tls_sink.url + "/api/1/store/", _event()[1])
    assert not isinstance(info.value, APIError)
    assert "certificate" in str(info.value).lower()
    assert tls_sink.requests == []


def test_tls_checks_the_host_name_even_with_the_ca(
    make_transport: Callable[..., Any], misnamed_tls_sink: Sink, ca_file: str
) -> None:
    with pytest.raises(Exception) as info:
        deliver(
            make_transport(ca_certs=ca_file),
            misnamed_tls_sink.url + "/api/1/store/",
            _event()[1],
        )
    assert not isinstance(info.value, APIError)
    assert misnamed_tls_sink.requests == []


@insecure_ok
@pytest.mark.parametrize("verify_ssl", [False, "0", "false"])
def test_verify_ssl_off_accepts_any_certificate(
    make_transport: Callable[..., Any], misnamed_tls_sink: Sink, verify_ssl: Any
) -> None:
    transport = make_transport(verify_ssl=verify_ssl)
    assert transport.verify_ssl is False
    deliver(transport, misnamed_tls_sink.url + "/api/1/store/", _event()[1])
    assert len(misnamed_tls_sink.events) == 1


def test_ca_certs_system_uses_the_os_trust_store(
    make_transport: Callable[..., Any],
    tls_sink: Sink,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # OpenSSL's default verify paths honour SSL_CERT_FILE: the test CA becomes "the system's"
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    monkeypatch.setenv("SSL_CERT_DIR", ca_file + ".nothing-here")
    transport = make_transport(ca_certs="system")
    assert transport.ca_certs == "system"
    deliver(transport, tls_sink.url + "/api/1/store/", _event()[1])
    assert len(tls_sink.events) == 1


def test_ca_certs_system_does_not_trust_certifi_or_a_bundle_env(
    make_transport: Callable[..., Any],
    tls_sink: Sink,
    ca_file: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)  # requests' own variable: not the OS store
    with pytest.raises(Exception) as info:
        deliver(make_transport(ca_certs="system"), tls_sink.url + "/api/1/store/", _event()[1])
    assert "certificate" in str(info.value).lower()


@pytest.mark.parametrize("transport_cls", [HTTPTransport, RequestsHTTPTransport])
def test_a_missing_ca_bundle_fails_at_construction(transport_cls: type, tmp_path: Any) -> None:
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(ValueError, match=r"nope\.pem"):
        transport_cls(ca_certs=missing)


def test_a_blank_ca_certs_means_the_default() -> None:
    assert HTTPTransport(ca_certs="").ca_certs is None


# -- proxies --------------------------------------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[Sink]:
    """A second sink, to act as the HTTP proxy (it answers proxied requests itself)."""
    with Sink() as server:
        yield server


#: a target only a proxy can reach: nothing resolves or listens there
UNREACHABLE = "http://sentry.invalid:9/api/1/store/"


@pytest.mark.parametrize("scheme_less", [False, True])
def test_an_explicit_proxy_is_used(
    make_transport: Callable[..., Any], proxy: Sink, scheme_less: bool
) -> None:
    url = proxy.url.split("://", 1)[1] if scheme_less else proxy.url
    deliver(make_transport(proxy=url), UNREACHABLE, _event()[1])
    [received] = proxy.requests
    assert received.proxied
    assert received.target == UNREACHABLE
    assert len(proxy.events) == 1


def test_an_explicit_proxy_beats_no_proxy(
    make_transport: Callable[..., Any],
    proxy: Sink,
    sink: Sink,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("no_proxy", "*")
    deliver(make_transport(proxy=proxy.url), store_url, _event()[1])
    assert [r.proxied for r in proxy.requests] == [True]
    assert sink.requests == []


def test_proxy_credentials_are_sent_to_the_proxy(
    make_transport: Callable[..., Any], proxy: Sink
) -> None:
    url = "http://us%%40er:p%%3Ass@127.0.0.1:%d" % proxy.port
    deliver(make_transport(proxy=url), UNREACHABLE, _event()[1])
    [received] = proxy.requests
    # base64("us@er:p:ss")
    assert received.header("Proxy-Authorization") == "Basic dXNAZXI6cDpzcw=="


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY"])
def test_the_environment_proxy_is_honoured(
    make_transport: Callable[..., Any],
    proxy: Sink,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, proxy.url)
    deliver(make_transport(), UNREACHABLE, _event()[1])
    assert [r.proxied for r in proxy.requests] == [True]


def test_https_proxy_is_not_used_for_http(
    make_transport: Callable[..., Any],
    sink: Sink,
    store_url: str,
    refused_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:%d" % refused_port)
    deliver(make_transport(), store_url, _event()[1])
    assert len(sink.events) == 1


@pytest.mark.parametrize("variable", ["no_proxy", "NO_PROXY"])
def test_no_proxy_bypasses_the_environment_proxy(
    make_transport: Callable[..., Any],
    sink: Sink,
    store_url: str,
    refused_port: int,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:%d" % refused_port)
    monkeypatch.setenv(variable, "localhost,127.0.0.1")
    deliver(make_transport(), store_url, _event()[1])
    assert [r.proxied for r in sink.requests] == [False]


def test_no_proxy_for_another_host_keeps_the_proxy(
    make_transport: Callable[..., Any], proxy: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.setenv("no_proxy", "localhost,example.com")
    deliver(make_transport(), UNREACHABLE, _event()[1])
    assert [r.proxied for r in proxy.requests] == [True]


@pytest.mark.parametrize("value", ["none", "None", ""])
def test_proxy_none_ignores_the_environment(
    make_transport: Callable[..., Any],
    sink: Sink,
    store_url: str,
    refused_port: int,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:%d" % refused_port)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:%d" % refused_port)
    deliver(make_transport(proxy=value), store_url, _event()[1])
    assert [r.proxied for r in sink.requests] == [False]


def test_an_unreachable_proxy_is_a_network_error(
    make_transport: Callable[..., Any], refused_port: int
) -> None:
    with pytest.raises(Exception) as info:
        deliver(make_transport(proxy="127.0.0.1:%d" % refused_port), UNREACHABLE, _event()[1])
    assert not isinstance(info.value, APIError)


@pytest.mark.parametrize("transport_cls", [HTTPTransport, RequestsHTTPTransport])
@pytest.mark.parametrize(
    "value",
    ["socks5://127.0.0.1:1080", "http://127.0.0.1:port", "http://", "http://h:3128/path", "h:0"],
)
def test_an_invalid_proxy_fails_at_construction(transport_cls: type, value: str) -> None:
    with pytest.raises(ValueError, match="proxy"):
        transport_cls(proxy=value)


def test_an_invalid_environment_proxy_fails_the_send_naming_the_variable(
    sink: Sink, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", "socks5://127.0.0.1:1080")
    transport = HTTPTransport()
    with pytest.raises(ValueError, match="http_proxy"):
        transport.send(store_url, _event()[1], dict(HEADERS))


# -- the requests transport: 6.10's patch point, and requests being absent ------------------


def test_patching_post_intercepts_sends(sink: Sink, store_url: str) -> None:
    transport = RequestsHTTPTransport(timeout=3)
    try:
        data = _event()[1]
        with mock.patch("raven.transport.requests.post") as post:
            assert transport.send(store_url, data, dict(HEADERS)) is post.return_value
        post.assert_called_once()
        assert post.call_args[0][0] == store_url
        assert post.call_args[1]["data"] == data
        assert post.call_args[1]["timeout"] == 3
        assert post.call_args[1]["verify"]
        assert sink.requests == []
        # unpatched: back to the session
        transport.send(store_url, data, dict(HEADERS))
        assert len(sink.requests) == 1
    finally:
        _close(transport)


@insecure_ok
def test_patched_post_gets_the_610_arguments(sink: Sink, store_url: str) -> None:
    transport = RequestsHTTPTransport(verify_ssl="0", proxy="127.0.0.1:1")
    with mock.patch("raven.transport.requests.post") as post:
        transport.send(store_url, b"x", {"A": "b"})
    assert post.call_args == mock.call(
        store_url,
        data=b"x",
        headers={"A": "b"},
        verify=False,
        timeout=5.0,
        proxies={"http": "http://127.0.0.1:1", "https": "http://127.0.0.1:1"},
    )


def test_a_patched_post_answering_a_refusal_still_raises(store_url: str) -> None:
    transport = RequestsHTTPTransport()
    with mock.patch("raven.transport.requests.post") as post:
        post.return_value.status_code = 429
        post.return_value.headers = {"Retry-After": "7"}
        with pytest.raises(RateLimited) as info:
            transport.send(store_url, b"x", {})
    assert info.value.retry_after == 7


def test_the_module_level_post_is_requests_post(sink: Sink, store_url: str) -> None:
    import raven.transport.requests as module

    response = module.post(store_url, data=_event()[1], headers=HEADERS, timeout=5)
    try:
        assert response.status_code == 200
    finally:
        response.close()


def test_the_threaded_requests_worker_survives_610s_subclassing(sink: Sink) -> None:
    # 6.10's own test skips ThreadedRequestsHTTPTransport.__init__ with super(Cls, self)
    class Dummy(ThreadedRequestsHTTPTransport):
        def __init__(self) -> None:
            super(ThreadedRequestsHTTPTransport, self).__init__()
            self.events: List[Any] = []

        def send_sync(self, url: str, data: bytes, headers: Any, ok: Any, fail: Any) -> None:
            time.sleep(0.3)
            self.events.append(url)

    transport = Dummy()
    try:
        transport.async_send("http://x/", b"", {}, lambda: None, lambda e: None)
        transport.get_worker().main_thread_terminated()
        assert transport.events == ["http://x/"]
        assert transport.get_worker().options["shutdown_timeout"] == 10
    finally:
        _close(transport)


def test_threaded_requests_attributes() -> None:
    transport = ThreadedRequestsHTTPTransport(shutdown_timeout="2.5")
    assert transport.is_async
    assert ThreadedRequestsHTTPTransport.background_send is True
    assert transport.get_worker().options["shutdown_timeout"] == 2.5
    assert transport.flush(0.1)
    _close(transport)
    with pytest.raises(ValueError, match="shutdown_timeout"):
        ThreadedRequestsHTTPTransport(shutdown_timeout="soon")


def test_a_full_queue_fails_the_send_with_overflow(sink: Sink, store_url: str) -> None:
    transport = ThreadedRequestsHTTPTransport()
    try:
        worker = transport.get_worker()
        worker.maxsize = 0
        failures: List[BaseException] = []
        transport.async_send(store_url, b"", {}, lambda: None, failures.append)
        assert len(failures) == 1
        assert isinstance(failures[0], OverflowError)
    finally:
        _close(transport)


@pytest.mark.parametrize("transport_cls", [RequestsHTTPTransport, ThreadedRequestsHTTPTransport])
def test_without_requests_construction_says_what_to_install(
    transport_cls: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "requests", None)  # makes `import requests` fail
    with pytest.raises(ImportError, match=r"pip install raven\[requests\]"):
        transport_cls()


def test_importing_raven_and_the_registry_does_not_import_requests() -> None:
    code = (
        "import sys\n"
        "sys.modules['requests'] = None\n"
        "import raven, raven.transport.registry as r\n"
        "import raven.transport.requests as m, raven.transport.threaded_requests\n"
        "assert r.default_transports.supported_scheme('threaded+requests+https')\n"
        "assert m.has_requests is False\n"
        "try:\n"
        "    r.default_transports.get_transport_cls('requests+http')()\n"
        "except ImportError as e:\n"
        "    assert 'pip install raven[requests]' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no ImportError')\n"
        "del sys.modules['requests']\n"
        "import raven.base\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_import_raven_loads_neither_requests_nor_the_transport_modules() -> None:
    code = (
        "import sys, raven\n"
        "from raven.transport.registry import default_transports\n"
        "print(sorted(m for m in ('requests', 'raven.transport.requests',"
        " 'raven.transport.threaded_requests') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- the registry and the DSN ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "transport_cls"),
    [
        ("requests+http", RequestsHTTPTransport),
        ("requests+https", RequestsHTTPTransport),
        ("threaded+requests+http", ThreadedRequestsHTTPTransport),
        ("threaded+requests+https", ThreadedRequestsHTTPTransport),
    ],
)
def test_the_schemes_are_registered(scheme: str, transport_cls: Any) -> None:
    assert scheme in transport_cls.scheme
    assert default_transports.get_transport_cls(scheme) is transport_cls
    import raven.transport.registry as registry

    assert getattr(registry, transport_cls.__name__) is transport_cls


def _client(dsn: str, **options: Any) -> raven.Client:
    with pytest.warns(DeprecationWarning, match="Transport selection via DSN"):
        return raven.Client(dsn, install_sys_hook=False, hook_libraries=[], **options)


@pytest.mark.parametrize(
    ("scheme", "transport_cls"),
    [
        ("requests+http", RequestsHTTPTransport),
        ("threaded+requests+http", ThreadedRequestsHTTPTransport),
        ("sync+http", HTTPTransport),
        ("threaded+http", ThreadedHTTPTransport),
    ],
)
def test_dsn_options_reach_the_transport(scheme: str, transport_cls: type, sink: Sink) -> None:
    client = _client(sink.dsn(scheme=scheme, query="timeout=2&verify_ssl=0&proxy=none"))
    transport: Any = client.remote.get_transport()
    try:
        assert transport.timeout == 2.0
        assert transport.verify_ssl is False
        assert transport.proxy == "none"
        assert type(transport) is transport_cls
    finally:
        _close(transport)


@pytest.mark.parametrize("scheme", ["requests+http", "threaded+requests+http", "sync+http"])
@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("timeout=abc", "timeout"),
        ("verify_ssl=maybe", "boolean"),
        ("ca_certs=/no/such/ca.pem", "/no/such/ca.pem"),
        ("proxy=socks5://h:1", "proxy"),
        ("pool_size=3", "pool_size"),
    ],
)
def test_a_bad_dsn_option_fails_at_construction(
    scheme: str, query: str, complaint: str, sink: Sink
) -> None:
    with pytest.raises(InvalidDsn, match=re.escape(complaint)):
        _client(sink.dsn(scheme=scheme, query=query))


def test_dsn_shutdown_timeout_reaches_the_threaded_requests_worker(sink: Sink) -> None:
    client = _client(sink.dsn(scheme="threaded+requests+http", query="shutdown_timeout=3"))
    transport = client.remote.get_transport()
    try:
        assert transport.get_worker().options["shutdown_timeout"] == 3.0
    finally:
        _close(transport)


@pytest.mark.parametrize(
    "scheme", ["requests+http", "threaded+requests+http", "sync+http", "threaded+http"]
)
def test_a_client_delivers_through_each_scheme(scheme: str, sink: Sink) -> None:
    client = _client(sink.dsn(scheme=scheme))
    try:
        event_id = client.captureMessage("through %s" % scheme)
        client.flush(10)
        [event] = sink.wait_for_events(1)
        assert event["event_id"] == event_id
        assert sink.requests[0].header("X-Sentry-Auth").startswith("Sentry ")
    finally:
        client.close(5)
        _close(client.remote.get_transport())


def test_a_client_with_patched_post_sends_through_the_mock(sink: Sink) -> None:
    # raven 6.10's tests/transport/requests/test_threaded_requests.py, on our client
    client = _client(sink.dsn(scheme="threaded+requests+http"))
    try:
        with mock.patch("raven.transport.requests.post") as post:
            post.return_value.status_code = 200
            client.captureMessage("foo")
            client.flush(10)
        assert post.call_count == 1
        assert post.call_args[0][0].startswith(sink.url + "/api/1/")
        assert sink.requests == []
    finally:
        client.close(5)
        _close(client.remote.get_transport())
