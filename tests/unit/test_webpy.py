"""``raven.contrib.webpy.SentryApplication``: a real web.py app, driven by ``app.request()``."""

from __future__ import annotations

import json
import logging
import threading
import warnings
from typing import Any, Dict, Iterator, List

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # web.py before 0.70 imports cgi
    import web

from raven.contrib.webpy import SentryApplication
from raven.contrib.webpy.utils import get_data_from_request
from raven.handlers.logging import SentryHandler
from raven.utils.testutils import InMemoryClient

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(autouse=True)
def _production_mode() -> Iterator[None]:
    """web.py defaults to debug mode (reloader, debug error pages): serve as in production."""
    debug = web.config.get("debug")
    web.config.debug = False
    yield
    web.config.debug = debug


class fail:
    def GET(self, order_id: str) -> str:
        raise ValueError("order %s failed" % order_id)

    def POST(self, order_id: str) -> str:
        raise ValueError("order %s failed" % order_id)


class moved:
    def GET(self) -> str:
        raise web.seeother("/elsewhere")


class missing:
    def GET(self) -> str:
        raise web.notfound()


class broken:
    def GET(self) -> str:
        raise web.internalerror()


class echo:
    def POST(self) -> str:
        return json.dumps({"order": web.input().get("order"), "raw": web.data().decode()})


class tag:
    def GET(self, value: str) -> str:
        web.ctx.app.client.tags_context({"step": value})
        if value == "fail":
            raise RuntimeError("tagged failure")
        return "ok"


class message:
    def GET(self) -> str:
        return web.ctx.app.captureMessage("hello from a handler") or ""


class stream:
    def GET(self) -> Iterator[str]:
        yield "first"
        raise OSError("stream broke")


URLS = (
    "/fail/(\\d+)", "fail",
    "/moved", "moved",
    "/missing", "missing",
    "/broken", "broken",
    "/echo", "echo",
    "/tag/(.+)", "tag",
    "/message", "message",
    "/stream", "stream",
)  # fmt: skip


def make_app(client: InMemoryClient, **kwargs: Any) -> SentryApplication:
    app = SentryApplication(client, mapping=URLS, fvars=globals(), autoreload=False, **kwargs)

    def remember_app() -> None:
        web.ctx.app = app

    app.add_processor(web.loadhook(remember_app))
    return app


@pytest.fixture
def app(client: InMemoryClient) -> SentryApplication:
    return make_app(client)


def only_event(client: InMemoryClient) -> Dict[str, Any]:
    assert len(client.events) == 1, client.events
    return client.events[0]


# -- failures --------------------------------------------------------------------------------------


def test_an_error_in_a_handler_is_reported_once_with_the_request(
    app: SentryApplication, client: InMemoryClient
) -> None:
    response = app.request(
        "/fail/42?coupon=SPRING",
        headers={"X-Request-Id": "r-1", "Cookie": "cart=7"},
        env={"REMOTE_ADDR": "10.0.0.7"},
    )

    assert response.status.startswith("500")
    event = only_event(client)
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "order 42 failed")
    assert value["stacktrace"]["frames"][-1]["function"] == "GET"
    req = event["request"]
    assert req["url"] == "http://0.0.0.0:8080/fail/42"
    assert req["method"] == "GET"
    assert req["query_string"] == "coupon=SPRING"
    assert req["headers"]["X-Request-Id"] == "r-1"
    assert req["cookies"] == {"cart": "7"}
    assert req["env"] == {"REMOTE_ADDR": "10.0.0.7"}
    assert "SentryApplication" in event["extra"]["app"]


def test_a_posted_form_is_reported_and_scrubbed_and_the_handler_still_reads_it(
    app: SentryApplication, client: InMemoryClient
) -> None:
    app.request(
        "/fail/1", method="POST", data={"order": "A-17", "password": "hunter2"}, headers=FORM
    )
    echoed = app.request("/echo", method="POST", data={"order": "A-18"}, headers=FORM)

    assert only_event(client)["request"]["data"] == {"order": "A-17", "password": "********"}
    assert json.loads(echoed.data) == {"order": "A-18", "raw": "order=A-18"}


def test_a_json_body_is_reported_parsed(app: SentryApplication, client: InMemoryClient) -> None:
    app.request(
        "/fail/1",
        method="POST",
        data=json.dumps({"order": "A-17", "password": "hunter2"}),
        headers={"Content-Type": "application/json"},
    )

    assert only_event(client)["request"]["data"] == {"order": "A-17", "password": "********"}


def test_large_and_binary_bodies_are_left_out(
    app: SentryApplication, client: InMemoryClient
) -> None:
    app.request("/fail/1", method="POST", data={"blob": "x" * 20000}, headers=FORM)
    app.request(
        "/fail/2", method="POST", data="\x00", headers={"Content-Type": "application/octet-stream"}
    )

    assert [e["request"].get("data") for e in client.events] == [None, None]


def test_redirects_and_http_errors_below_500_are_not_reported(
    app: SentryApplication, client: InMemoryClient
) -> None:
    statuses = [app.request(url).status[:3] for url in ("/moved", "/missing", "/no/such/page")]

    assert statuses == ["303", "404", "404"]
    assert client.events == []


def test_an_internal_error_raised_by_the_handler_is_reported(
    app: SentryApplication, client: InMemoryClient
) -> None:
    assert app.request("/broken").status.startswith("500")

    assert only_event(client)["exception"]["values"][0]["type"] == "_InternalError"


def test_a_failing_processor_is_reported_once(client: InMemoryClient) -> None:
    app = make_app(client)

    def load_session() -> None:
        raise ConnectionError("session store is down")

    app.add_processor(web.loadhook(load_session))

    assert app.request("/tag/ok").status.startswith("500")
    [value] = only_event(client)["exception"]["values"]
    assert (value["type"], value["value"]) == ("ConnectionError", "session store is down")
    assert client.events[0]["request"]["url"] == "http://0.0.0.0:8080/tag/ok"


def test_a_failure_while_streaming_the_response_is_reported(
    app: SentryApplication, client: InMemoryClient
) -> None:
    with pytest.raises(OSError, match="stream broke"):
        app.request("/stream")

    assert only_event(client)["exception"]["values"][0]["type"] == "OSError"


# -- per-request context ---------------------------------------------------------------------------


def test_the_context_is_cleared_between_requests(
    app: SentryApplication, client: InMemoryClient
) -> None:
    app.request("/tag/first")
    app.request("/tag/fail")

    assert only_event(client)["tags"] == {"step": "fail"}


def test_threads_serving_at_the_same_time_keep_their_context_apart(
    client: InMemoryClient,
) -> None:
    both_tagged = threading.Barrier(2, timeout=10)

    class order:
        def GET(self, name: str) -> str:
            client.tags_context({"who": name})
            both_tagged.wait()
            if name == "ada":
                raise RuntimeError("ada's order failed")
            return "ok"

    app = SentryApplication(client, mapping=("/order/(.+)", order), autoreload=False)
    results: Dict[str, str] = {}

    def visit(name: str) -> None:
        results[name] = app.request("/order/" + name).status[:3]

    threads = [threading.Thread(target=visit, args=(n,)) for n in ("ada", "grace")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert results == {"ada": "500", "grace": "200"}
    event = only_event(client)
    assert event["tags"] == {"who": "ada"}
    assert event["request"]["url"] == "http://0.0.0.0:8080/order/ada"


def test_capture_message_in_a_handler_carries_the_request(
    app: SentryApplication, client: InMemoryClient
) -> None:
    event_id = app.request("/message?page=2").data.decode()

    event = only_event(client)
    assert event["event_id"] == event_id
    assert event["request"]["query_string"] == "page=2"


def test_capture_message_outside_a_request_has_no_request(
    app: SentryApplication, client: InMemoryClient
) -> None:
    event_id = app.captureMessage("between requests")

    assert only_event(client)["event_id"] == event_id
    assert "request" not in client.events[0]


# -- set-up ----------------------------------------------------------------------------------------


def test_it_is_a_web_application(app: SentryApplication, client: InMemoryClient) -> None:
    assert isinstance(app, web.application)
    assert app.client is client


@pytest.fixture
def root_handlers() -> Iterator[None]:
    names = ["", "raven", "gunicorn", "south", "sentry.errors", "django.request", "dill"]
    saved = {
        n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate) for n in names
    }
    yield
    for name, (handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def test_logging_puts_a_sentry_handler_on_the_root_logger(
    client: InMemoryClient, root_handlers: None
) -> None:
    make_app(client, logging=True)

    logging.getLogger("shop").error("stock is low")

    assert any(isinstance(h, SentryHandler) for h in logging.getLogger().handlers)
    assert only_event(client)["message"] == "stock is low"


@pytest.mark.logs_sentry_errors
def test_a_failure_describing_the_request_does_not_reach_the_app(
    app: SentryApplication,
    client: InMemoryClient,
    monkeypatch: pytest.MonkeyPatch,
    sentry_errors: List[logging.LogRecord],
) -> None:
    import raven.contrib.webpy as raven_webpy

    def broken() -> Any:
        raise KeyError("broken")

    monkeypatch.setattr(raven_webpy, "get_data_from_request", broken)

    assert app.request("/fail/5").status.startswith("500")
    assert only_event(client)["exception"]["values"][0]["value"] == "order 5 failed"
    assert any("Failed to describe the web.py request" in r.getMessage() for r in sentry_errors)


def test_get_data_from_request_reads_web_ctx(client: InMemoryClient) -> None:
    seen: List[Dict[str, Any]] = []

    class look:
        def POST(self) -> str:
            seen.append(get_data_from_request())
            return web.input().get("order", "")

    app = web.application(("/shop/look", look), autoreload=False)
    response = app.request(
        "/shop/look?x=1",
        method="POST",
        data={"order": "A-17"},
        headers=FORM,
        env={"REMOTE_ADDR": "10.0.0.7", "SERVER_NAME": "shop"},
    )

    assert response.data == b"A-17"
    assert seen == [
        {
            "request": {
                "url": "http://0.0.0.0:8080/shop/look",
                "query_string": "x=1",
                "method": "POST",
                "headers": {
                    "Host": "0.0.0.0:8080",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Content-Length": "10",
                },
                "env": {"REMOTE_ADDR": "10.0.0.7", "SERVER_NAME": "shop"},
                "data": {"order": "A-17"},
            }
        }
    ]
