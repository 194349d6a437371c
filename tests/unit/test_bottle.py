"""``raven.contrib.bottle.Sentry`` around a real Bottle app, driven through WebTest."""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any, Dict, Iterator, List

import pytest

with warnings.catch_warnings():
    # webob (under WebTest) and Bottle 0.12 import the deprecated cgi module on Python 3.11+
    warnings.simplefilter("ignore", DeprecationWarning)
    import bottle
    import webtest

from raven.contrib.bottle import Sentry
from raven.contrib.bottle.utils import get_data_from_request
from raven.handlers.logging import SentryHandler
from raven.middleware import Sentry as SentryMiddleware
from raven.utils.testutils import InMemoryClient

BOTTLE_VERSION = tuple(int(p) for p in bottle.__version__.split(".")[:2])


def make_app(catchall: bool = True) -> bottle.Bottle:
    """A small shop app: handlers that fail, echo what they read, redirect and capture."""
    app = bottle.Bottle()
    app.config["catchall"] = catchall

    @app.route("/fail/<order_id:int>", method=["GET", "POST"])
    def fail(order_id: int) -> str:
        raise ValueError("order %d failed" % order_id)

    @app.route("/missing")
    def missing() -> str:
        bottle.abort(404, "no such order")
        return ""

    @app.route("/moved")
    def moved() -> str:
        bottle.redirect("/elsewhere")
        return ""

    @app.route("/echo", method="POST")
    def echo() -> Dict[str, Any]:
        return {"order": bottle.request.forms.get("order"), "json": bottle.request.json}

    @app.route("/tag/<value>")
    def tag(value: str) -> str:
        app.sentry.client.tags_context({"step": value})
        if value == "fail":
            raise RuntimeError("tagged failure")
        return "ok"

    @app.route("/message")
    def message() -> str:
        return app.sentry.captureMessage("hello from a handler") or ""

    @app.route("/stream")
    def stream() -> Iterator[bytes]:
        yield b"first"
        raise OSError("stream broke")

    return app


@pytest.fixture
def app() -> bottle.Bottle:
    return make_app()


def only_event(client: InMemoryClient) -> Dict[str, Any]:
    assert len(client.events) == 1, client.events
    return client.events[0]


# -- failures ------------------------------------------------------------------------------------


def test_an_error_caught_by_bottle_is_reported_with_the_request(
    app: bottle.Bottle, client: InMemoryClient
) -> None:
    browser = webtest.TestApp(Sentry(app, client))
    browser.set_cookie("cart", "7")

    response = browser.get(
        "/fail/42?coupon=SPRING", headers={"X-Request-Id": "r-1"}, expect_errors=True
    )

    assert response.status_int == 500
    assert b"Internal Server Error" in response.body  # Bottle's own error page
    event = only_event(client)
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "order 42 failed")
    assert value["stacktrace"]["frames"][-1]["function"] == "fail"
    req = event["request"]
    assert req["url"] == "http://localhost/fail/42"
    assert req["method"] == "GET"
    assert req["query_string"] == "coupon=SPRING"
    assert req["headers"]["X-Request-Id"] == "r-1"
    assert req["cookies"] == {"cart": "7"}
    assert req["env"]["SERVER_NAME"] == "localhost"
    assert "bottle.Bottle" in event["extra"]["app"]
    assert response.headers["X-Sentry-ID"] == event["event_id"]


def test_an_error_bottle_lets_through_is_reported_once_and_raised(client: InMemoryClient) -> None:
    browser = webtest.TestApp(Sentry(make_app(catchall=False), client))

    with pytest.raises(ValueError, match="order 3 failed"):
        browser.get("/fail/3")

    assert only_event(client)["request"]["url"] == "http://localhost/fail/3"


@pytest.mark.skipif(BOTTLE_VERSION < (0, 13), reason="Bottle 0.12 keeps hook errors to itself")
def test_a_failing_hook_is_reported_from_start_response(client: InMemoryClient) -> None:
    app = make_app()

    @app.hook("before_request")
    def load_session() -> None:
        raise ConnectionError("session store is down")

    response = webtest.TestApp(Sentry(app, client)).get("/tag/ok", expect_errors=True)

    assert response.status_int == 500
    event = only_event(client)
    assert event["exception"]["values"][0]["type"] == "ConnectionError"
    assert response.headers["X-Sentry-ID"] == event["event_id"]


def test_a_failure_while_streaming_the_response_is_reported(
    app: bottle.Bottle, client: InMemoryClient
) -> None:
    browser = webtest.TestApp(Sentry(app, client))

    with pytest.raises(OSError, match="stream broke"):
        browser.get("/stream")

    [value] = only_event(client)["exception"]["values"]
    assert value["type"] == "OSError"


def test_a_posted_form_is_reported_and_scrubbed_and_the_handler_still_reads_it(
    app: bottle.Bottle, client: InMemoryClient
) -> None:
    browser = webtest.TestApp(Sentry(app, client))

    browser.post("/fail/1", {"order": "A-17", "password": "hunter2"}, expect_errors=True)
    echoed = browser.post("/echo", {"order": "A-18"})

    assert only_event(client)["request"]["data"] == {"order": "A-17", "password": "********"}
    assert echoed.json == {"order": "A-18", "json": None}


def test_http_errors_and_redirects_are_responses_not_reports(
    app: bottle.Bottle, client: InMemoryClient
) -> None:
    browser = webtest.TestApp(Sentry(app, client))

    assert browser.get("/missing", expect_errors=True).status_int == 404
    assert browser.get("/moved").status_int in (302, 303)
    assert browser.get("/nowhere", expect_errors=True).status_int == 404

    assert client.events == []


# -- per-request context ---------------------------------------------------------------------------


def test_the_context_is_cleared_between_requests(
    app: bottle.Bottle, client: InMemoryClient
) -> None:
    browser = webtest.TestApp(Sentry(app, client))

    browser.get("/tag/first")
    browser.get("/tag/fail", expect_errors=True)

    assert only_event(client)["tags"] == {"step": "fail"}


def test_threads_serving_at_the_same_time_keep_their_context_apart(
    client: InMemoryClient,
) -> None:
    app = bottle.Bottle()
    both_tagged = threading.Barrier(2, timeout=10)

    @app.route("/order/<name>")
    def order(name: str) -> str:
        client.tags_context({"who": name})
        both_tagged.wait()
        if name == "ada":
            raise RuntimeError("ada's order failed")
        return "ok"

    browser = webtest.TestApp(Sentry(app, client))
    results: Dict[str, int] = {}

    def visit(name: str) -> None:
        results[name] = browser.get("/order/" + name, expect_errors=True).status_int

    threads = [threading.Thread(target=visit, args=(n,)) for n in ("ada", "grace")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert results == {"ada": 500, "grace": 200}
    event = only_event(client)
    assert event["tags"] == {"who": "ada"}
    assert event["request"]["url"] == "http://localhost/order/ada"


def test_a_route_to_a_closure_is_reported_without_hanging(client: InMemoryClient) -> None:
    """Bottle 0.13's ``repr(route)`` never returns for a closure over non-callables."""
    app = bottle.Bottle()
    settings = {"currency": "EUR"}

    @app.route("/price")
    def price() -> str:
        return settings["currency"]

    Sentry(app, client)
    route = app.routes[0]
    try:
        raise LookupError("no price")
    except LookupError:
        client.captureException()

    frames = only_event(client)["exception"]["values"][0]["stacktrace"]["frames"]
    assert frames[-1]["vars"]["route"] == "<Route GET '/price'>"
    assert route.callback is not None


def test_capture_message_inside_a_request_carries_the_request(
    app: bottle.Bottle, client: InMemoryClient
) -> None:
    browser = webtest.TestApp(Sentry(app, client))

    event_id = browser.get("/message?page=2").text

    event = only_event(client)
    assert event["event_id"] == event_id
    assert event["request"]["query_string"] == "page=2"


# -- wrapping ------------------------------------------------------------------------------------


def test_wrapping_the_same_app_again_is_safe_and_the_newest_wrapper_wins(
    app: bottle.Bottle, client: InMemoryClient, make_client: Any
) -> None:
    first = Sentry(app, client)
    other = make_client()

    second = Sentry(app, other)

    assert app.sentry is second and app.sentry is not first
    webtest.TestApp(second).get("/fail/1", expect_errors=True)
    assert len(other.events) == 1 and client.events == []


def test_a_wrapper_around_a_wrapper_reports_once(
    client: InMemoryClient,
) -> None:
    app = make_app(catchall=False)
    browser = webtest.TestApp(Sentry(Sentry(app, client), client))

    with pytest.raises(ValueError):
        browser.get("/fail/8")

    assert len(client.events) == 1


@pytest.mark.logs_sentry_errors
def test_an_app_whose_sentry_attribute_is_someone_elses_is_left_alone(
    app: bottle.Bottle, client: InMemoryClient, sentry_errors: List[logging.LogRecord]
) -> None:
    app.sentry = "a plugin's"

    wrapped = Sentry(app, client)

    assert app.sentry == "a plugin's"
    assert any("belongs to something else" in r.getMessage() for r in sentry_errors)
    webtest.TestApp(wrapped).get("/fail/1", expect_errors=True)
    assert len(client.events) == 1


def test_it_is_the_wsgi_middleware(app: bottle.Bottle, client: InMemoryClient) -> None:
    sentry = Sentry(app, client)

    assert isinstance(sentry, SentryMiddleware)
    assert sentry.app is app and sentry.application is app and sentry.client is client


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
    app: bottle.Bottle, client: InMemoryClient, root_handlers: None
) -> None:
    Sentry(app, client, logging=True)

    logging.getLogger("shop").error("stock is low")

    assert any(isinstance(h, SentryHandler) for h in logging.getLogger().handlers)
    assert only_event(client)["message"] == "stock is low"


# -- the 6.10 helpers ------------------------------------------------------------------------------


def test_get_data_from_request_describes_bottles_request() -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/checkout",
        "QUERY_STRING": "step=2",
        "SERVER_NAME": "shop.example",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "shop.example",
        "HTTP_COOKIE": "cart=7",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "17",
        "wsgi.input": __import__("io").BytesIO(b'{"order": "A-17"}'),
    }
    request = bottle.BaseRequest(environ)

    data = get_data_from_request(request)

    assert data == {
        "request": {
            "url": "http://shop.example/checkout",
            "query_string": "step=2",
            "method": "POST",
            "headers": {
                "Host": "shop.example",
                "Cookie": "cart=7",
                "Content-Type": "application/json",
                "Content-Length": "17",
            },
            "env": {"SERVER_NAME": "shop.example", "SERVER_PORT": "80"},
            "cookies": {"cart": "7"},
            "data": {"order": "A-17"},
        }
    }
    assert request.json == {"order": "A-17"}  # still readable by the app


def test_capture_outside_the_wrapper_describes_the_bound_request(
    app: bottle.Bottle, client: InMemoryClient
) -> None:
    sentry = Sentry(app, client)

    @app.route("/direct")
    def direct() -> str:
        return sentry.captureMessage("direct") or ""

    webtest.TestApp(app).get("/direct?x=1")  # the bare app, not the wrapper

    assert only_event(client)["request"]["query_string"] == "x=1"


def test_an_error_in_the_app_served_without_the_wrapper_is_still_reported(
    client: InMemoryClient,
) -> None:
    """The plugin reports; the request comes from ``bottle.request``."""
    app = make_app()
    Sentry(app, client)

    webtest.TestApp(app).get("/fail/6?x=1", expect_errors=True)

    event = only_event(client)
    assert event["exception"]["values"][0]["value"] == "order 6 failed"
    assert event["request"]["query_string"] == "x=1"


def test_capture_with_no_request_bound_still_sends(
    app: bottle.Bottle, client: InMemoryClient
) -> None:
    sentry = Sentry(app, client)
    thread_result: List[Any] = []
    thread = threading.Thread(target=lambda: thread_result.append(sentry.captureMessage("idle")))
    thread.start()
    thread.join(10)

    assert thread_result == [only_event(client)["event_id"]]
    assert "request" not in client.events[0]
