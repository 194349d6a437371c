"""Tornado: the transport (``raven.transport.tornado``) and ``raven.contrib.tornado``.

The transport is checked against the loopback sink, on a running loop and without one (where
6.10's tests patch ``raven.transport.tornado.HTTPClient``). The integration runs real
Tornado applications on 127.0.0.1 (``tornado.testing.AsyncHTTPTestCase``); its events go
either to a patched ``AsyncSentryClient.send`` (as 6.10's tests do) or to the sink.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import shutil
import uuid
from typing import Any, Dict, Iterator, List, Optional, Tuple
from unittest import mock

import certifi
import pytest
import tornado.httpclient
from tornado import testing, web

import raven.transport
from raven import Client
from raven.contrib.tornado import AsyncSentryClient, SentryMixin
from raven.exceptions import APIError, RateLimited
from raven.transport import tornado as tornado_transport
from raven.transport.registry import default_transports
from raven.transport.tornado import TornadoHTTPTransport, flush
from servers.sink import Sink

HEADERS = {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as server:
        yield server


def _event() -> Tuple[str, bytes]:
    event_id = uuid.uuid4().hex
    body = json.dumps({"event_id": event_id, "message": "hello", "platform": "python"})
    return event_id, gzip.compress(body.encode())


def post_on_loop(transport: TornadoHTTPTransport, url: str, body: bytes) -> Any:
    """One ``async_send`` on a running loop; the answer, or the failure raised."""

    async def main() -> Any:
        outcome: asyncio.Future = asyncio.get_running_loop().create_future()
        transport.async_send(
            url,
            body,
            dict(HEADERS),
            lambda *answer: outcome.set_result(answer[0] if answer else None),
            outcome.set_exception,
        )
        return await outcome

    return asyncio.run(main())


def post_without_loop(transport: TornadoHTTPTransport, url: str, body: bytes) -> Any:
    outcome: List[Any] = []
    transport.async_send(url, body, dict(HEADERS), lambda *a: outcome.append(a), outcome.append)
    [result] = outcome
    if isinstance(result, BaseException):
        raise result
    return result[0]


def make_client(dsn: str, cls: type = AsyncSentryClient, **options: Any) -> Any:
    options.setdefault("install_sys_hook", False)
    options.setdefault("install_logging_hook", False)
    options.setdefault("hook_libraries", [])
    return cls(dsn, **options)


# -- the transport ------------------------------------------------------------------------------


def test_without_a_running_loop_the_blocking_client_sends(tmp_path: Any) -> None:
    """raven 6.10's test: fetch gets the DSN's timeout and TLS options."""
    ca_certs = str(tmp_path / "ca.pem")
    shutil.copy(certifi.where(), ca_certs)
    with mock.patch("raven.transport.tornado.HTTPClient") as fake_client:
        fake_client.return_value.fetch.return_value = mock.Mock(code=200, headers={})
        client = make_client(
            "https://user:pass@host:1234/1?timeout=1&verify_ssl=1&ca_certs=" + ca_certs,
            cls=Client,
            transport=TornadoHTTPTransport,
        )
        client.captureMessage(message="test")

    fake_client.assert_called_once_with()  # not on a loop: the blocking client
    fetch = fake_client.return_value.fetch
    assert fetch.call_count == 1
    _, kwargs = fetch.call_args
    assert kwargs["connect_timeout"] == 1
    assert kwargs["validate_cert"] is True
    assert kwargs["ca_certs"] == ca_certs
    assert client.stats.delivered == 1
    fake_client.return_value.close.assert_called_once_with()


def test_a_send_on_a_running_loop_uses_tornados_async_client(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tornado_transport, "HTTPClient", mock.Mock(side_effect=AssertionError))
    event_id, body = _event()
    answer = post_on_loop(TornadoHTTPTransport(), sink.url + "/api/1/store/", body)
    assert answer.status == 200
    assert sink.event_ids() == [event_id]


@pytest.mark.parametrize("post", [post_on_loop, post_without_loop])
def test_refusals_and_failures_map_to_the_delivery_errors(sink: Sink, post: Any) -> None:
    url = sink.url + "/api/1/store/"
    sink.rate_limit(30)
    with pytest.raises(RateLimited) as limited:
        post(TornadoHTTPTransport(), url, _event()[1])
    assert limited.value.headers.get("Retry-After")

    sink.respond(403, headers={"X-Sentry-Error": "bad key"})
    with pytest.raises(APIError) as refused:
        post(TornadoHTTPTransport(), url, _event()[1])
    assert (refused.value.code, refused.value.message) == (403, "bad key")

    sink.respond(200)
    sink.slow(2, times=1)
    with pytest.raises(ConnectionError):
        post(TornadoHTTPTransport(timeout=0.2), url, _event()[1])

    sink.stop()
    with pytest.raises(ConnectionError):
        post(TornadoHTTPTransport(), url, _event()[1])


def test_the_applications_own_http_client_is_left_alone(sink: Sink) -> None:
    async def main() -> Tuple[Any, Any]:
        shared = tornado.httpclient.AsyncHTTPClient()
        transport = TornadoHTTPTransport()
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        transport.async_send(
            sink.url + "/api/1/store/",
            _event()[1],
            dict(HEADERS),
            done.set_result,
            done.set_exception,
        )
        await done
        [state] = transport._states.values()
        return shared, state.resource

    shared, own = asyncio.run(main())
    assert own is not shared
    assert own.max_clients == TornadoHTTPTransport.max_in_flight


def test_a_proxy_needs_tornados_curl_client() -> None:
    with pytest.raises(ValueError, match="curl"):
        TornadoHTTPTransport(proxy="http://127.0.0.1:3128")


def test_the_transport_is_registered_and_importable_from_the_package() -> None:
    assert default_transports.get_transport_cls("tornado+https") is TornadoHTTPTransport
    assert raven.transport.TornadoHTTPTransport is TornadoHTTPTransport
    assert raven.transport.HTTPClient is tornado.httpclient.HTTPClient
    assert raven.transport.has_tornado is True


def test_a_patched_fetch_that_succeeds_counts_as_delivered() -> None:
    """raven 6.10's test, on a Tornado 6 loop: fetch answers with a plain resolved future."""
    client = make_client(
        "http://uver:pass@localhost:46754/1", cls=Client, transport=TornadoHTTPTransport
    )

    async def main() -> Any:
        with mock.patch.object(tornado.httpclient.AsyncHTTPClient, "fetch") as fetch:
            done: asyncio.Future = asyncio.get_running_loop().create_future()
            done.set_result(True)
            fetch.return_value = done
            client.captureMessage(message="test")
            return await flush(client, timeout=5)

    report = asyncio.run(main())
    assert report.delivered == 1 and report.pending == 0
    client.close()


# -- the integration ------------------------------------------------------------------------


class AnErrorProneHandler(SentryMixin, web.RequestHandler):
    def get(self) -> None:
        try:
            raise Exception("Damn it!")
        except Exception:
            self.captureException(True)


class AnErrorWithCustomNonDictData(SentryMixin, web.RequestHandler):
    def get(self) -> None:
        try:
            raise Exception("Oops")
        except Exception:
            self.captureException(True, data="extra custom non-dict data")


class AnErrorWithCustomDictData(SentryMixin, web.RequestHandler):
    def get(self) -> None:
        try:
            raise Exception("Oops")
        except Exception:
            self.captureException(True, data={"extra": {"extra_data": "extra custom dict data"}})


class SendErrorTestHandler(SentryMixin, web.RequestHandler):
    def get(self) -> None:
        raise Exception("Oops")


class CoroutineErrorHandler(SentryMixin, web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(0)
        raise Exception("Oops")


class HTTPErrorHandler(SentryMixin, web.RequestHandler):
    def get(self, status: str) -> None:
        raise web.HTTPError(int(status))


class AsyncMessageHandler(SentryMixin, web.RequestHandler):
    async def get(self) -> None:
        event_id, delivered = self.captureMessage("Something totally crazy was just done")
        self.set_header("X-Sentry-ID", event_id)
        self.write({"delivered": await delivered})

    def get_current_user(self) -> Any:
        return {"name": "John Doe"}


class CheckoutHandler(SentryMixin, web.RequestHandler):
    async def post(self) -> None:
        client = self.get_sentry_client()
        client.tags_context({"order": self.get_argument("order")})
        client.captureBreadcrumb(message="checkout %s" % self.get_argument("order"))
        await asyncio.sleep(random.random() / 50)  # the other requests run meanwhile
        raise ValueError("declined order %s" % self.get_argument("order"))


ROUTES = [
    web.url(r"/an-error", AnErrorProneHandler),
    web.url(r"/an-async-message", AsyncMessageHandler),
    web.url(r"/send-error", SendErrorTestHandler),
    web.url(r"/send-error-async", CoroutineErrorHandler),
    web.url(r"/http-error/(\d+)", HTTPErrorHandler),
    web.url(r"/an-error-with-custom-non-dict-data", AnErrorWithCustomNonDictData),
    web.url(r"/an-error-with-custom-dict-data", AnErrorWithCustomDictData),
    web.url(r"/checkout", CheckoutHandler),
]


class BuiltByPytest:
    def runTest(self) -> None:
        """pytest builds each case under this name first; Tornado < 6.4 needs it to exist."""


class TornadoAsyncClientTestCase(BuiltByPytest, testing.AsyncHTTPTestCase):
    """raven 6.10's Tornado tests, on Tornado 6 (coroutines instead of ``gen.engine``)."""

    def get_app(self) -> web.Application:
        app = web.Application(ROUTES)
        app.sentry_client = make_client("http://public_key:secret_key@host:9000/project")  # type: ignore[attr-defined]
        return app

    def assert_request_data(self, kwargs: Dict[str, Any], response: Any) -> None:
        http_data = kwargs["request"]
        assert http_data["cookies"] is None
        assert http_data["url"] == response.effective_url
        assert http_data["query_string"] == "qs=qs"
        assert http_data["method"] == "GET"
        assert kwargs["user"]["is_authenticated"] is False
        assert kwargs["user"]["ip_address"] == "127.0.0.1"

    @mock.patch("raven.contrib.tornado.AsyncSentryClient.send")
    def test_error_handler(self, send: mock.Mock) -> None:
        response = self.fetch("/an-error?qs=qs")
        assert response.code == 200
        assert send.call_count == 1
        _, kwargs = send.call_args
        assert "exception" in kwargs
        self.assert_request_data(kwargs, response)

    @mock.patch("raven.contrib.tornado.AsyncSentryClient.send")
    def test_error_with_custom_non_dict_data_handler(self, send: mock.Mock) -> None:
        response = self.fetch("/an-error-with-custom-non-dict-data?qs=qs")
        assert response.code == 200
        _, kwargs = send.call_args
        self.assert_request_data(kwargs, response)
        assert kwargs["extra"]["extra_data"] == "'extra custom non-dict data'"

    @mock.patch("raven.contrib.tornado.AsyncSentryClient.send")
    def test_error_with_custom_dict_data_handler(self, send: mock.Mock) -> None:
        response = self.fetch("/an-error-with-custom-dict-data?qs=qs")
        assert response.code == 200
        _, kwargs = send.call_args
        self.assert_request_data(kwargs, response)
        assert kwargs["extra"]["extra_data"] == "'extra custom dict data'"

    @mock.patch("raven.contrib.tornado.AsyncSentryClient.send")
    def test_an_uncaught_exception_is_reported(self, send: mock.Mock) -> None:
        for path in ("/send-error?qs=qs", "/send-error-async?qs=qs"):
            send.reset_mock()
            response = self.fetch(path)
            assert response.code == 500
            assert send.call_count == 1
            _, kwargs = send.call_args
            assert kwargs["exception"]["values"][-1]["value"] == "Oops"
            self.assert_request_data(kwargs, response)

    @mock.patch("raven.contrib.tornado.AsyncSentryClient.send")
    def test_http_errors_are_reported_only_in_the_500_range(self, send: mock.Mock) -> None:
        assert self.fetch("/http-error/404").code == 404
        assert self.fetch("/http-error/403").code == 403
        assert send.call_count == 0
        assert self.fetch("/http-error/503").code == 503
        assert send.call_count == 1

    @mock.patch("raven.contrib.tornado.AsyncSentryClient.send")
    def test_message_handler_gets_an_event_id_and_a_future(self, send: mock.Mock) -> None:
        response = self.fetch("/an-async-message?qs=qs")
        assert response.code == 200
        assert len(response.headers["X-Sentry-ID"]) == 32
        assert json.loads(response.body) == {"delivered": None}  # send was patched away
        _, kwargs = send.call_args
        assert kwargs["user"]["is_authenticated"] is True
        assert kwargs["message"] == "Something totally crazy was just done"


@pytest.fixture
def tornado_sink(request: pytest.FixtureRequest) -> Iterator[Sink]:
    with Sink() as server:
        request.cls.sink = server
        yield server


@pytest.mark.usefixtures("tornado_sink")
class TornadoDeliveryTestCase(BuiltByPytest, testing.AsyncHTTPTestCase):
    """The same kind of application, sending to the sink through the Tornado transport."""

    sink: Sink

    def get_app(self) -> web.Application:
        self.client = make_client(self.sink.dsn())
        app = web.Application(ROUTES)
        app.sentry_client = self.client  # type: ignore[attr-defined]
        return app

    def tearDown(self) -> None:
        self.client.close(5)
        super().tearDown()

    def flush(self) -> Any:
        return self.io_loop.run_sync(lambda: flush(self.client, timeout=10))

    def test_the_future_resolves_once_the_server_stored_the_event(self) -> None:
        response = self.fetch("/an-async-message")
        assert json.loads(response.body) == {"delivered": True}
        assert self.sink.event_ids() == [response.headers["X-Sentry-ID"]]
        assert isinstance(self.client.remote.get_transport(), TornadoHTTPTransport)

    @pytest.mark.logs_sentry_errors
    def test_the_future_says_so_when_the_server_refused_the_event(self) -> None:
        self.sink.respond(400)
        response = self.fetch("/an-async-message")
        assert json.loads(response.body) == {"delivered": False}
        assert self.client.stats.dropped == {"send_error": 1}

    def test_concurrent_requests_keep_their_context_apart(self) -> None:
        async def checkout_all() -> List[Any]:
            http = tornado.httpclient.AsyncHTTPClient()
            return await asyncio.gather(
                *(
                    http.fetch(
                        self.get_url("/checkout"),
                        method="POST",
                        body="order=%d&password=hunter2" % n,
                        raise_error=False,
                    )
                    for n in range(30)
                )
            )

        responses = self.io_loop.run_sync(checkout_all)
        assert [r.code for r in responses] == [500] * 30
        report = self.flush()
        assert report.delivered == 30 and report.pending == 0
        events = self.sink.wait_for_events(30)
        for event in events:
            order = event["request"]["data"]["order"]
            assert event["exception"]["values"][-1]["value"] == "declined order %s" % order
            assert event["tags"]["order"] == order
            crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
            assert crumbs == ["checkout %s" % order]
            assert event["request"]["data"]["password"] != "hunter2"  # scrubbed
        assert sorted(int(e["tags"]["order"]) for e in events) == list(range(30))

    @testing.gen_test
    async def test_capture_outside_a_handler_returns_id_and_future(self) -> None:
        event_id, future = self.client.captureMessage("from a coroutine")
        assert await future is True
        assert self.sink.event_ids() == [event_id]


def test_a_disabled_client_captures_nothing() -> None:
    client = make_client(None)
    assert client.captureMessage("nowhere") is None


def test_capture_without_a_loop_returns_a_thread_safe_future(sink: Sink) -> None:
    client = make_client(sink.dsn())
    results: List[Optional[bool]] = []
    event_id, future = client.captureMessage("no loop", callback=results.append)
    assert future.result(timeout=5) is True  # sent with the blocking client
    assert results == [True]
    assert sink.event_ids() == [event_id]
    client.close()


def test_validate_cert_false_turns_off_the_certificate_check() -> None:
    client = make_client("https://public@sentry.invalid/1", validate_cert=False)
    transport = client.remote.get_transport()
    assert isinstance(transport, TornadoHTTPTransport)
    assert transport.verify_ssl is False


def test_the_user_of_610_shape_goes_on_the_wire_as_relay_stores_it() -> None:
    """``is_authenticated`` is not a key of the event schema's user: Relay moves it under
    ``user.data``, and a server that checks the schema refuses it where 6.10 put it."""
    from raven.protocol import to_wire

    wire = to_wire({"user": {"is_authenticated": True, "ip_address": "127.0.0.1"}})
    assert wire["user"] == {"ip_address": "127.0.0.1", "data": {"is_authenticated": True}}
    wire = to_wire({"user": {"id": 7, "data": {"plan": "pro"}, "is_authenticated": False}})
    assert wire["user"] == {"id": "7", "data": {"plan": "pro", "is_authenticated": False}}
