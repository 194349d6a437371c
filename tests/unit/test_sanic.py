"""``raven.contrib.sanic.Sentry`` on a real Sanic app, driven by sanic-testing's clients.

Sanic's test client runs the app on a real server on 127.0.0.1 for each request, and switches
the process-wide asyncio policy to uvloop while doing so; the ``_asyncio_policy`` fixture puts
the policy found before each test back, so later tests in this process run on asyncio's own
loop as before. ``Sanic.test_mode`` (which lets several apps exist in one process) is restored
the same way.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import warnings
from typing import Any, Dict, Iterator, List, Tuple

import pytest

with warnings.catch_warnings():
    # what Sanic's own imports deprecate: websockets.legacy (sanic-testing 24.6), and on the
    # oldest releases websockets.handshake and cgi (httpx 0.15)
    warnings.simplefilter("ignore", DeprecationWarning)
    from sanic import Sanic, response
    from sanic.exceptions import NotFound, SanicException, ServiceUnavailable

    try:
        import sanic_testing  # noqa: F401 - Sanic 21+ imports it lazily for app.test_client
    except ImportError:  # Sanic 20.12 has its own test client
        pass

import raven.contrib.sanic as raven_sanic
from raven.base import Client
from raven.contrib.sanic import Sentry, logging_configured, make_client
from raven.handlers.logging import SentryHandler
from raven.utils.testutils import InMemoryClient

_names = itertools.count()


@pytest.fixture(autouse=True)
def _asyncio_policy() -> Iterator[None]:
    """Give the process back the asyncio policy (and Sanic's test mode) the test found."""
    policy = asyncio.get_event_loop_policy()
    test_mode = Sanic.test_mode
    Sanic.test_mode = True  # several apps per process, and no signal handlers
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(policy)
        Sanic.test_mode = test_mode


def quiet_sanic_testing() -> None:
    """Silence sanic-testing 24.6's own deprecation (it passes the loop to a listener).

    Creating an app puts Sanic's "once" filter for its deprecations first in the filter
    list, ahead of pytest's; this one goes in front of it, for this test only.
    """
    warnings.filterwarnings(
        "ignore",
        message=r"\[DEPRECATION v26\.6\] Passing the loop argument",
        category=DeprecationWarning,
    )


def sentry_of(app: Sanic) -> Sentry:
    """The extension: ``app.ctx.sentry`` (Sanic 20.12 has no ``app.ctx``: ``app.extensions``)."""
    ctx = getattr(app, "ctx", None)
    return ctx.sentry if ctx is not None else app.extensions["sentry"]  # type: ignore[attr-defined]


def make_app() -> Sanic:
    """A small shop app: handlers that fail, tag, capture, and fail with Sanic's HTTP errors."""
    app = Sanic("raven_shop_%d" % next(_names))
    quiet_sanic_testing()

    @app.route("/fail/<order_id:int>", methods=["GET", "POST"])
    async def fail(request: Any, order_id: int) -> Any:
        raise ValueError("order %d failed" % order_id)

    @app.route("/tag/<value>")
    async def tag(request: Any, value: str) -> Any:
        sentry_of(app).tags_context({"step": value})
        if value == "fail":
            raise RuntimeError("tagged failure")
        return response.text("ok")

    @app.route("/message")
    async def message(request: Any) -> Any:
        event_id = sentry_of(app).captureMessage("hello from a handler")
        return response.json({"event_id": event_id, "ctx": request.ctx.sentry_event_id})

    @app.route("/missing")
    async def missing(request: Any) -> Any:
        raise NotFound("no such order")

    @app.route("/unavailable")
    async def unavailable(request: Any) -> Any:
        raise ServiceUnavailable("payments are down")

    @app.route("/echo", methods=["POST"])
    async def echo(request: Any) -> Any:
        return response.json({"body": request.body.decode(), "form": dict(request.form)})

    return app


@pytest.fixture
def app() -> Sanic:
    return make_app()


@pytest.fixture
def sentry(app: Sanic, client: InMemoryClient) -> Sentry:
    return Sentry(app, client=client)


def get(app: Sanic, url: str, **kwargs: Any) -> Tuple[Any, Any]:
    return app.test_client.get(url, **kwargs)


def only_event(client: InMemoryClient) -> Dict[str, Any]:
    assert len(client.events) == 1, client.events
    return client.events[0]


# -- failures in handlers -----------------------------------------------------------------------


def test_an_error_in_a_handler_is_reported_once_with_the_request(
    app: Sanic, sentry: Sentry, client: InMemoryClient
) -> None:
    request, resp = get(
        app, "/fail/42?coupon=SPRING", headers={"X-Request-Id": "r-1", "Cookie": "cart=7"}
    )

    assert resp.status == 500
    event = only_event(client)
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "order 42 failed")
    assert value["stacktrace"]["frames"][-1]["function"] == "fail"
    req = event["request"]
    assert req["url"] == "http://%s/fail/42" % request.host  # 127.0.0.1:<port>
    assert req["method"] == "GET"
    assert req["query_string"] == "coupon=SPRING"
    assert req["headers"]["X-Request-Id"] == "r-1"
    assert req["cookies"] == {"cart": "7"}
    assert req["env"]["REMOTE_ADDR"] == "127.0.0.1"
    assert event["user"] == {"ip_address": "127.0.0.1"}
    assert event["transaction"] == "/fail/<order_id:int>"


def test_sanic_still_renders_its_own_error_response(
    app: Sanic, sentry: Sentry, client: InMemoryClient
) -> None:
    _, resp = get(app, "/fail/1")

    assert resp.status == 500
    assert "Internal Server Error" in resp.text
    assert "order 1 failed" not in resp.text  # not in debug mode: no traceback page


def test_the_event_id_is_sent_back_in_the_x_sentry_id_header(
    app: Sanic, sentry: Sentry, client: InMemoryClient
) -> None:
    request, resp = get(app, "/fail/1")

    event_id = only_event(client)["event_id"]
    assert resp.headers["X-Sentry-ID"] == event_id
    assert request.ctx.sentry_event_id == event_id
    assert sentry.last_event_id == event_id  # outside a request: the last one captured


def test_a_form_body_is_reported_and_scrubbed(
    app: Sanic, sentry: Sentry, client: InMemoryClient
) -> None:
    app.test_client.post("/fail/3", data={"order": "A-17", "password": "hunter2"})

    assert only_event(client)["request"]["data"] == {"order": "A-17", "password": "********"}


def test_a_json_body_is_reported_parsed_so_its_keys_are_scrubbed(
    app: Sanic, sentry: Sentry, client: InMemoryClient
) -> None:
    app.test_client.post("/fail/3", json={"order": "A-17", "password": "hunter2"})

    assert only_event(client)["request"]["data"] == {"order": "A-17", "password": "********"}


def test_a_malformed_json_body_is_reported_as_text(
    app: Sanic, sentry: Sentry, client: InMemoryClient
) -> None:
    app.test_client.post(
        "/fail/3", content=b'{"order": ', headers={"Content-Type": "application/json"}
    )

    assert only_event(client)["request"]["data"] == '{"order": '


def test_large_and_binary_bodies_are_left_out(
    app: Sanic, sentry: Sentry, client: InMemoryClient
) -> None:
    app.test_client.post("/fail/1", data={"blob": "x" * (sentry.max_body_size + 1)})
    app.test_client.post(
        "/fail/2", content=b"\x00\x01", headers={"Content-Type": "application/octet-stream"}
    )

    assert [e["request"].get("data") for e in client.events] == [None, None]


def test_reading_the_body_leaves_it_to_the_handler(
    app: Sanic, sentry: Sentry, client: InMemoryClient
) -> None:
    _, resp = app.test_client.post("/echo", data={"order": "A-17"})

    assert resp.json == {"body": "order=A-17", "form": {"order": ["A-17"]}}


def test_http_errors_below_500_are_not_reported(
    app: Sanic, sentry: Sentry, client: InMemoryClient
) -> None:
    statuses = [get(app, url)[1].status for url in ("/missing", "/no/such/route")]

    assert statuses == [404, 404]
    assert client.events == []


def test_http_errors_of_500_and_above_are_reported(
    app: Sanic, sentry: Sentry, client: InMemoryClient
) -> None:
    _, resp = get(app, "/unavailable")

    assert resp.status == 503
    [value] = only_event(client)["exception"]["values"]
    assert value["type"] == "ServiceUnavailable"


@pytest.mark.parametrize("registered", ["before", "after"])
def test_an_exception_the_app_handles_itself_is_not_reported(
    client: InMemoryClient, registered: str
) -> None:
    app = make_app()
    if registered == "after":
        Sentry(app, client=client)

    @app.exception(ValueError)
    def declined(request: Any, exception: Exception) -> Any:
        return response.text("declined", status=402)

    if registered == "before":
        Sentry(app, client=client)
    _, resp = get(app, "/fail/1")

    assert (resp.status, resp.text) == (402, "declined")
    assert client.events == []


def test_the_apps_own_catch_all_handler_still_answers_after_the_report(
    client: InMemoryClient,
) -> None:
    app = make_app()

    @app.exception(Exception)
    def sorry(request: Any, exception: Exception) -> Any:
        return response.text("sorry: %s" % exception, status=500)

    Sentry(app, client=client)
    _, resp = get(app, "/fail/9")

    assert resp.text == "sorry: order 9 failed"
    assert resp.headers["X-Sentry-ID"] == only_event(client)["event_id"]


# -- per-request state ----------------------------------------------------------------------------


def test_the_context_is_cleared_after_each_request(
    app: Sanic, sentry: Sentry, client: InMemoryClient
) -> None:
    assert get(app, "/tag/first")[1].status == 200
    get(app, "/tag/fail")

    assert only_event(client)["tags"] == {"step": "fail"}


def test_last_event_id_is_per_request(app: Sanic, sentry: Sentry, client: InMemoryClient) -> None:
    _, with_message = get(app, "/message")
    _, without = get(app, "/tag/ok")

    event_id = only_event(client)["event_id"]
    assert with_message.json == {"event_id": event_id, "ctx": event_id}
    assert with_message.headers["X-Sentry-ID"] == event_id
    assert "X-Sentry-ID" not in without.headers


def test_concurrent_requests_keep_their_context_apart(client: InMemoryClient) -> None:
    """Two requests interleaved on one event loop: each event carries only its own tags."""
    app = make_app()
    both_tagged = asyncio.Event()
    arrived: List[str] = []

    @app.route("/slow/<name>")
    async def slow(request: Any, name: str) -> Any:
        sentry_of(app).tags_context({"who": name})
        arrived.append(name)
        if len(arrived) == 2:
            both_tagged.set()
        await asyncio.wait_for(both_tagged.wait(), 10)
        if name == "ada":
            raise RuntimeError("ada's request failed")
        return response.text("ok")

    sentry = Sentry(app, client=client)

    async def run() -> List[Any]:
        return await asyncio.gather(
            app.asgi_client.get("/slow/ada"), app.asgi_client.get("/slow/grace")
        )

    (_, failed), (_, served) = asyncio.run(run())

    assert (failed.status, served.status) == (500, 200)
    event = only_event(client)
    assert event["tags"] == {"who": "ada"}
    assert event["request"]["url"].endswith("/slow/ada")
    assert failed.headers["X-Sentry-ID"] == event["event_id"]
    assert "X-Sentry-ID" not in served.headers
    assert sentry.client is client


# -- never hurting the app ------------------------------------------------------------------------


@pytest.mark.logs_sentry_errors
def test_a_failure_while_recording_the_request_does_not_reach_the_app(
    app: Sanic,
    sentry: Sentry,
    client: InMemoryClient,
    monkeypatch: pytest.MonkeyPatch,
    sentry_errors: List[logging.LogRecord],
) -> None:
    def broken(request: Any) -> Any:
        raise KeyError("broken")

    monkeypatch.setattr(sentry, "get_http_info", broken)

    assert get(app, "/tag/ok")[1].status == 200
    _, resp = get(app, "/fail/5")

    assert resp.status == 500
    [value] = only_event(client)["exception"]["values"]
    assert value["value"] == "order 5 failed"
    assert any("Failed to record the Sanic request" in r.getMessage() for r in sentry_errors)


@pytest.mark.logs_sentry_errors
def test_a_failing_client_does_not_change_the_response(
    app: Sanic, sentry: Sentry, client: InMemoryClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("transport exploded")

    monkeypatch.setattr(client, "captureException", broken)

    _, resp = get(app, "/fail/5")

    assert resp.status == 500
    assert "Internal Server Error" in resp.text


# -- set-up ---------------------------------------------------------------------------------------


def test_the_extension_is_on_app_ctx(app: Sanic, sentry: Sentry) -> None:
    if not hasattr(app, "ctx"):
        pytest.skip("Sanic 20.12 has no app.ctx")
    assert app.ctx.sentry is sentry


def test_a_client_that_is_not_a_client_is_refused(app: Sanic) -> None:
    with pytest.raises(TypeError, match="instance of Client"):
        Sentry(app, client=object())  # type: ignore[arg-type]


def test_the_client_is_built_from_the_app_config(app: Sanic) -> None:
    app.config.SENTRY_DSN = "http://public@127.0.0.1:9/3"
    app.config.SENTRY_INCLUDE_PATHS = ["shop"]
    app.config.SENTRY_RELEASE = "1.2.3"

    client = make_client(InMemoryClient, app)

    assert client.remote.project == "3"
    assert client.release == "1.2.3"
    assert client.include_paths == {"shop", app.name}


def test_a_dsn_argument_builds_the_client(app: Sanic) -> None:
    sentry = Sentry(app, client_cls=InMemoryClient, dsn="http://public@127.0.0.1:9/5")

    assert isinstance(sentry.client, InMemoryClient)
    assert sentry.client.remote.project == "5"


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """Give the root logger and the excluded loggers back their handlers after the test."""
    names = ["", *raven_sanic.DEFAULT_LOGGING_EXCLUSIONS]
    saved = {
        n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate) for n in names
    }
    yield
    for name, (handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def test_logging_sends_records_and_keeps_sanics_own_loggers_out(
    app: Sanic, client: InMemoryClient, root_handlers: None
) -> None:
    received: List[Dict[str, Any]] = []

    def on_configured(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    logging_configured.connect(on_configured, weak=False)
    try:
        Sentry(app, client=client, logging=True, level=logging.WARNING)
    finally:
        logging_configured.disconnect(on_configured)

    [handler] = [h for h in logging.getLogger().handlers if isinstance(h, SentryHandler)]
    assert handler.level == logging.WARNING
    assert received[0]["sentry_handler"] is SentryHandler
    assert set(received[0]["exclude"]) >= {"sanic.error", "sanic.access", "sanic.root"}
    error_logger = logging.getLogger("sanic.error")
    assert error_logger.propagate is False
    # Sanic's loggers print already: no second stream handler doubling their lines
    assert sum(isinstance(h, logging.StreamHandler) for h in error_logger.handlers) == 1

    logging.getLogger("shop.payments").warning("card declined")
    get(app, "/fail/1")  # sanic.error logs this one: it must not come back as a second event

    messages = [e.get("message") for e in client.events]
    assert messages[0] == "card declined"
    assert len(client.events) == 2
    assert client.events[1]["exception"]["values"][0]["value"] == "order 1 failed"


def test_root_in_the_exclusions_leaves_the_root_logger_alone(
    app: Sanic, client: InMemoryClient, root_handlers: None
) -> None:
    """6.10's default exclusions named 'root', which is the root logger on Python 3.9+."""
    root = logging.getLogger()
    before = list(root.handlers)

    Sentry(app, client=client, logging=True, logging_exclusions=("root", "sanic.access"))

    added = [h for h in root.handlers if h not in before]
    assert [type(h) for h in added] == [SentryHandler]
    assert root.propagate is True


@pytest.mark.logs_sentry_errors
def test_helpers_without_a_client_log_instead_of_raising(
    app: Sanic, sentry_errors: List[logging.LogRecord]
) -> None:
    sentry = Sentry.__new__(Sentry)
    sentry.client = None
    sentry._last_event_id = None

    results = [sentry.captureMessage("x"), sentry.captureException(), sentry.tags_context({})]

    assert results == [None, None, None]
    assert len(sentry_errors) == 3


def test_only_sanic_errors_below_500_are_answers() -> None:
    assert raven_sanic._is_failure(ValueError("x"))
    assert raven_sanic._is_failure(SanicException("x"))  # no status: a 500
    assert raven_sanic._is_failure(ServiceUnavailable("x"))
    assert not raven_sanic._is_failure(NotFound("x"))


def test_a_real_client_object_is_accepted(app: Sanic) -> None:
    client = Client(install_sys_hook=False, hook_libraries=[])

    assert Sentry(app, client=client).client is client
