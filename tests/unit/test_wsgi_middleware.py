"""``raven.middleware.Sentry``: a WSGI request's failures, reported with that request only."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # webob imports cgi (3.11+)
    import webob
    import webtest

from raven import breadcrumbs
from raven.base import Client
from raven.exceptions import ConfigurationError
from raven.middleware import ClosingIterator, Sentry, common_exception_handling
from raven.utils.testutils import InMemoryClient
from raven.utils.wsgi import get_cookies, peek_body

StartResponse = Callable[..., Any]
log = logging.getLogger("tests.wsgi.views")
log.setLevel(logging.INFO)  # the views' info lines become breadcrumbs


def ok(start_response: StartResponse, body: bytes = b"ok") -> List[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def failing_app(environ: Dict[str, Any], start_response: StartResponse) -> Any:
    raise ValueError("hello world")


def echo_app(environ: Dict[str, Any], start_response: StartResponse) -> Any:
    """Answers with the body it read, so a test sees what the application got."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return ok(start_response, environ["wsgi.input"].read(length))


def crumb_messages(event: Dict[str, Any]) -> List[Any]:
    return [c["message"] for c in event.get("breadcrumbs", {}).get("values", [])]


def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
    """A server's start_response that accepts anything."""


def blank_environ(path: str = "/", **kwargs: Any) -> Dict[str, Any]:
    environ: Dict[str, Any] = webob.Request.blank(path, **kwargs).environ
    return environ


@pytest.fixture
def make_app(client: InMemoryClient) -> Callable[..., webtest.TestApp]:
    def make(app: Callable[..., Any], **kwargs: Any) -> webtest.TestApp:
        return webtest.TestApp(Sentry(app, client, **kwargs))

    return make


# -- the request interface --------------------------------------------------------------------


def test_the_event_carries_the_request_as_6_10_reported_it(client: InMemoryClient) -> None:
    middleware = Sentry(failing_app, client=client)

    with pytest.raises(ValueError):
        middleware(blank_environ("/an-error?foo=bar"), start_response)

    [event] = client.events
    assert event["exception"]["values"][-1]["type"] == "ValueError"
    assert event["message"] == "ValueError: hello world"
    http = event["request"]
    assert http["url"] == "http://localhost/an-error"
    assert http["query_string"] == "foo=bar"
    assert http["method"] == "GET"
    assert http["headers"]["Host"] == "localhost:80"
    assert http["env"] == {"SERVER_NAME": "localhost", "SERVER_PORT": "80"}


def test_headers_are_title_cased_with_content_type_and_length(make_app: Any, client: Any) -> None:
    app = make_app(failing_app)

    with pytest.raises(ValueError):
        app.post(
            "/submit",
            "payload",
            headers={"X-Request-Id": "r-1", "Accept": "text/plain"},
            content_type="text/plain",
            extra_environ={"REMOTE_ADDR": "10.0.0.7"},
        )

    http = client.events[-1]["request"]
    assert http["headers"]["X-Request-Id"] == "r-1"
    assert http["headers"]["Accept"] == "text/plain"
    assert http["headers"]["Content-Type"] == "text/plain"
    assert http["headers"]["Content-Length"] == "7"
    assert http["env"]["REMOTE_ADDR"] == "10.0.0.7"
    assert "data" not in http  # a text/plain body is not read


def test_cookies_are_reported_by_name_and_secret_ones_scrubbed(make_app: Any, client: Any) -> None:
    app = make_app(failing_app)

    with pytest.raises(ValueError):
        app.get("/", headers={"Cookie": "theme=dark; sessionid=s3cr3t; lang=en"})

    http = client.events[-1]["request"]
    assert http["cookies"] == {"theme": "dark", "sessionid": "********", "lang": "en"}
    assert "s3cr3t" not in json.dumps(http)


def test_no_cookie_header_means_no_cookies_key(make_app: Any, client: Any) -> None:
    with pytest.raises(ValueError):
        make_app(failing_app).get("/")

    assert "cookies" not in client.events[-1]["request"]


def test_get_cookies_is_lenient_and_keeps_the_first_of_repeated_names() -> None:
    environ = {"HTTP_COOKIE": 'a=1; broken; =nameless; b="quoted"; a=2; c=x=y'}

    assert get_cookies(environ) == {"a": "1", "b": "quoted", "c": "x=y"}
    assert get_cookies({}) == {}


# -- the request body ---------------------------------------------------------------------------


def test_a_form_body_is_reported_parsed_with_its_password_scrubbed(
    make_app: Any, client: Any
) -> None:
    def app(environ: Dict[str, Any], start_response: StartResponse) -> Any:
        echo_app(environ, start_response)
        raise ValueError("after reading the form")

    with pytest.raises(ValueError):
        make_app(app).post("/login", {"user": "ada", "password": "hunter2", "tag": ["a", "b"]})

    data = client.events[-1]["request"]["data"]
    assert data == {"user": "ada", "password": "********", "tag": ["a", "b"]}


def test_the_application_still_reads_the_whole_body(make_app: Any) -> None:
    app = make_app(echo_app)

    response = app.post("/login", {"user": "ada", "password": "hunter2"})

    assert response.body == b"user=ada&password=hunter2"


def test_the_application_can_read_the_body_twice_no_more_than_before(make_app: Any) -> None:
    def app(environ: Dict[str, Any], start_response: StartResponse) -> Any:
        first = environ["wsgi.input"].read()
        second = environ["wsgi.input"].read()
        return ok(start_response, b"%r|%r" % (first, second))

    assert make_app(app).post("/", {"a": "1"}).body == b"b'a=1'|b''"


def test_a_json_body_is_reported_parsed_and_scrubbed(make_app: Any, client: Any) -> None:
    def app(environ: Dict[str, Any], start_response: StartResponse) -> Any:
        body = json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        raise ValueError(body["order"])

    with pytest.raises(ValueError):
        make_app(app).post_json("/api", {"order": 7, "card": {"password": "x", "n": 2}})

    assert client.events[-1]["request"]["data"] == {
        "order": 7,
        "card": {"password": "********", "n": 2},
    }


def test_a_vendor_json_type_counts_as_json(make_app: Any, client: Any) -> None:
    with pytest.raises(ValueError):
        make_app(failing_app).post(
            "/", b'{"a": [1, 2]}', content_type="application/vnd.api+json; charset=utf-8"
        )

    assert client.events[-1]["request"]["data"] == {"a": [1, 2]}


def test_a_body_that_is_not_json_after_all_is_reported_as_text(make_app: Any, client: Any) -> None:
    with pytest.raises(ValueError):
        make_app(failing_app).post("/", b"{not json", content_type="application/json")

    assert client.events[-1]["request"]["data"] == "{not json"


def test_a_form_in_another_charset_is_decoded_with_it(make_app: Any, client: Any) -> None:
    body = "name=Jos%E9".encode("ascii")

    with pytest.raises(ValueError):
        make_app(failing_app).post(
            "/", body, content_type="application/x-www-form-urlencoded; charset=latin-1"
        )

    assert client.events[-1]["request"]["data"] == {"name": "José"}


@pytest.mark.parametrize(
    ("content_type", "headers"),
    [
        pytest.param("application/octet-stream", {}, id="binary"),
        pytest.param("application/json", {"Transfer-Encoding": "chunked"}, id="chunked"),
        pytest.param("application/json", {"Expect": "100-continue"}, id="expect-continue"),
    ],
)
def test_bodies_that_are_unsafe_or_uninteresting_are_not_read(
    make_app: Any, client: Any, content_type: str, headers: Dict[str, str]
) -> None:
    body = b'{"a": 1}'
    seen = []

    def app(environ: Dict[str, Any], start_response: StartResponse) -> Any:
        seen.append(environ["wsgi.input"].read(len(body)))
        raise ValueError

    with pytest.raises(ValueError):
        make_app(app).post("/", body, content_type=content_type, headers=headers)

    assert "data" not in client.events[-1]["request"]
    assert seen == [body]


def test_a_multipart_body_is_not_read(make_app: Any, client: Any) -> None:
    def app(environ: Dict[str, Any], start_response: StartResponse) -> Any:
        form = webob.Request(environ).POST
        raise ValueError(form["upload"].value)

    with pytest.raises(ValueError, match="file content"):
        make_app(app).post("/", {"a": "1"}, upload_files=[("upload", "a.txt", b"file content")])

    assert "data" not in client.events[-1]["request"]


def test_a_body_over_the_limit_is_left_in_the_stream(make_app: Any, client: Any) -> None:
    app = make_app(echo_app, max_body_size=10)
    fields = {"a": "x" * 20}

    assert app.post("/", fields).body == b"a=" + b"x" * 20
    with pytest.raises(ValueError):
        make_app(failing_app, max_body_size=10).post("/", fields)

    assert "data" not in client.events[-1]["request"]


def test_max_body_size_zero_never_reads_the_body(client: InMemoryClient) -> None:
    environ = blank_environ("/", method="POST", POST={"a": "1"})
    stream = environ["wsgi.input"]

    with pytest.raises(ValueError):
        Sentry(failing_app, client, max_body_size=0)(environ, start_response)

    assert environ["wsgi.input"] is stream
    assert "data" not in client.events[-1]["request"]


@pytest.mark.parametrize("size", [-1, 1.5, "10"])
def test_a_bad_max_body_size_fails_at_construction(client: InMemoryClient, size: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_body_size"):
        Sentry(failing_app, client, max_body_size=size)


class Stream:
    """A ``wsgi.input`` that hands out ``data`` and then, if given, fails."""

    def __init__(self, data: bytes, error: Optional[Exception] = None) -> None:
        self._data = io.BytesIO(data)
        self._error = error
        self.requested: List[int] = []

    def read(self, size: int = -1) -> bytes:
        self.requested.append(size)
        chunk = self._data.read(min(size, 3))  # short reads, as sockets give
        if not chunk and self._error is not None:
            raise self._error
        return chunk


def test_peek_body_reads_exactly_content_length_even_in_short_reads() -> None:
    stream = Stream(b"a=1&b=2NEXT REQUEST")
    environ = {"wsgi.input": stream, "CONTENT_LENGTH": "7"}

    assert peek_body(environ, 100) == b"a=1&b=2"

    assert stream.requested == [7, 4, 1]  # each read asks only for what is still missing
    assert stream._data.read() == b"NEXT REQUEST"  # nothing past the body was taken
    assert environ["wsgi.input"].read() == b"a=1&b=2"


@pytest.mark.parametrize("length", ["", "0", "-3", "+3", "3.0", "abc", "\u00b2", "\u0663", None])
def test_peek_body_needs_a_plain_positive_content_length(length: Any) -> None:
    stream = Stream(b"abc")
    environ = {"wsgi.input": stream, "CONTENT_LENGTH": length}

    assert peek_body(environ, 100) is None
    assert environ["wsgi.input"] is stream and stream.requested == []


def test_a_short_body_is_replayed_as_short_as_it_came() -> None:
    environ = {"wsgi.input": Stream(b"a=1"), "CONTENT_LENGTH": "10"}

    assert peek_body(environ, 100) == b"a=1"
    assert environ["wsgi.input"].read(10) == b"a=1"


def test_a_failed_body_read_fails_the_application_the_same_way() -> None:
    error = ConnectionResetError("client went away")
    environ = {"wsgi.input": Stream(b"a=1&b", error), "CONTENT_LENGTH": "9"}

    assert peek_body(environ, 100) is None

    replay = environ["wsgi.input"]
    assert replay.read(3) == b"a=1"  # what did arrive can be read
    with pytest.raises(ConnectionResetError):
        replay.read(9)  # but never passed off as the whole body
    with pytest.raises(ConnectionResetError):
        replay.readline()
    with pytest.raises(ConnectionResetError):
        list(replay)


def test_a_failed_body_read_is_not_reported_and_the_app_sees_the_error(
    make_app: Any, client: Any
) -> None:
    def app(environ: Dict[str, Any], start_response: StartResponse) -> Any:
        environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        return ok(start_response)

    environ = blank_environ("/", method="POST", content_type="application/json")
    environ["wsgi.input"] = Stream(b"{", ConnectionResetError("gone"))
    environ["CONTENT_LENGTH"] = "5"

    with pytest.raises(ConnectionResetError):
        Sentry(app, client)(environ, start_response)

    [event] = client.events  # the application's own failure, not a raven one
    assert event["exception"]["values"][-1]["type"] == "ConnectionResetError"
    assert "data" not in event["request"]


# -- what is captured ---------------------------------------------------------------------------


def test_an_exception_while_iterating_is_captured_and_reraised(make_app: Any, client: Any) -> None:
    def app(environ: Dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first chunk"
        raise KeyError("mid-stream")

    with pytest.raises(KeyError):
        make_app(app).get("/stream?page=2")

    [event] = client.events
    assert event["exception"]["values"][-1]["type"] == "KeyError"
    assert event["request"]["query_string"] == "page=2"


def test_a_failing_close_is_captured_and_reraised(client: InMemoryClient) -> None:
    class Response:
        def __iter__(self) -> Iterator[bytes]:
            return iter([b"a", b"b"])

        def close(self) -> None:
            raise OSError("close failed")

    middleware = Sentry(lambda environ, start_response: Response(), client)
    response = middleware(blank_environ("/"), start_response)

    with pytest.raises(OSError):
        list(response)  # exhausting it closes it

    [event] = client.events
    assert event["exception"]["values"][-1]["value"] == "close failed"
    assert event["request"]["url"] == "http://localhost/"
    response.close()  # the server's own close is then a no-op
    assert len(client.events) == 1


class Tracked:
    """An application iterable that counts its ``close()`` calls."""

    def __init__(self, items: List[bytes], error: Optional[BaseException] = None) -> None:
        self._items = iter(items)
        self._error = error
        self.closed = 0

    def __iter__(self) -> Tracked:
        return self

    def __next__(self) -> bytes:
        for item in self._items:
            return item
        if self._error is not None:
            raise self._error
        raise StopIteration

    def close(self) -> None:
        self.closed += 1


def test_close_is_passed_on_once_after_exhaustion(client: InMemoryClient) -> None:
    tracked = Tracked([b"a"])
    response = Sentry(lambda environ, start_response: tracked, client)(
        blank_environ(), start_response
    )

    assert list(response) == [b"a"]
    response.close()

    assert tracked.closed == 1


def test_close_is_passed_on_when_the_server_stops_early(client: InMemoryClient) -> None:
    tracked = Tracked([b"a", b"b", b"c"])
    response = Sentry(lambda environ, start_response: tracked, client)(
        blank_environ(), start_response
    )

    assert next(response) == b"a"
    response.close()

    assert tracked.closed == 1
    assert client.events == []


def test_after_an_iteration_error_the_server_close_reaches_the_app(client: InMemoryClient) -> None:
    tracked = Tracked([b"a"], error=ValueError("boom"))
    response = Sentry(lambda environ, start_response: tracked, client)(
        blank_environ(), start_response
    )

    with pytest.raises(ValueError):
        list(response)
    response.close()

    assert tracked.closed == 1
    assert len(client.events) == 1


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(SystemExit(1), id="exit-1"),
        pytest.param(SystemExit("fatal: config missing"), id="exit-message"),
        pytest.param(KeyboardInterrupt(), id="keyboard-interrupt"),
        pytest.param(RuntimeError("x"), id="exception"),
    ],
)
@pytest.mark.parametrize("phase", ["call", "iteration", "close"])
def test_failures_are_captured_in_every_phase(
    client: InMemoryClient, error: BaseException, phase: str
) -> None:
    response = run_failing(client, error, phase)

    assert len(client.events) == 1
    assert client.events[0]["exception"]["values"][-1]["type"] == type(error).__name__
    assert response is None or response.closed


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(SystemExit(0), id="exit-0"),
        pytest.param(SystemExit(), id="exit-none"),
        pytest.param(StopIteration(), id="stop-iteration"),
        pytest.param(GeneratorExit(), id="generator-exit"),
    ],
)
@pytest.mark.parametrize("phase", ["call", "iteration", "close"])
def test_endings_that_are_not_failures_pass_unreported(
    client: InMemoryClient, error: BaseException, phase: str
) -> None:
    run_failing(client, error, phase)

    assert client.events == []


def run_failing(client: InMemoryClient, error: BaseException, phase: str) -> Any:
    """Raise ``error`` from the application in ``phase``; return the response, if any."""

    class Response:
        def __iter__(self) -> Any:
            return self

        def __next__(self) -> bytes:
            if phase == "iteration":
                raise error
            raise StopIteration

        def close(self) -> None:
            if phase == "close":
                raise error

    def app(environ: Dict[str, Any], start_response: StartResponse) -> Any:
        if phase == "call":
            raise error
        return Response()

    # a StopIteration ends iteration (close() runs when the iterable is exhausted)
    ends_normally = phase in ("iteration", "close") and isinstance(error, StopIteration)
    response = None
    with contextlib.nullcontext() if ends_normally else pytest.raises(type(error)):
        response = Sentry(app, client)(blank_environ(), start_response)
        try:
            list(response)
        finally:
            response.close()
    return response


def test_common_exception_handling_reports_through_the_middleware(
    client: InMemoryClient,
) -> None:
    middleware = Sentry(failing_app, client)

    with pytest.raises(ValueError), common_exception_handling({}, middleware):
        raise ValueError("inside")
    with pytest.raises(StopIteration), common_exception_handling({}, middleware):
        raise StopIteration

    assert [e["message"] for e in client.events] == ["ValueError: inside"]


def test_handle_exception_returns_the_event_id(client: InMemoryClient) -> None:
    middleware = Sentry(failing_app, client)
    try:
        raise ValueError("x")
    except ValueError:
        event_id = middleware.handle_exception({})

    assert event_id == client.events[-1]["event_id"]


def test_without_a_client_one_is_built_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTRY_DSN", "http://public:secret@127.0.0.1:9/42")

    middleware = Sentry(failing_app)

    assert type(middleware.client) is Client
    assert middleware.client.remote.project == "42"


def test_a_subclass_may_supply_the_client_as_a_property(client: InMemoryClient) -> None:
    class LazyClientSentry(Sentry):  # raven.contrib.django.middleware.wsgi's shape
        def __init__(self, application: Any) -> None:
            self.application = application

        @property
        def client(self) -> InMemoryClient:  # type: ignore[override]
            return client

    app = webtest.TestApp(LazyClientSentry(echo_app))

    assert app.post("/", {"a": "1"}).body == b"a=1"
    with pytest.raises(ValueError):
        webtest.TestApp(LazyClientSentry(failing_app)).get("/")
    assert len(client.events) == 1


def test_the_response_length_is_the_applications(client: InMemoryClient) -> None:
    listed = Sentry(lambda e, s: [b"one chunk"], client)(blank_environ(), start_response)
    generated = Sentry(lambda e, s: iter([b"x"]), client)(blank_environ(), start_response)

    assert isinstance(listed, ClosingIterator)
    assert len(listed) == 1  # lets a server compute Content-Length, as without the middleware
    with pytest.raises(TypeError):
        len(generated)
    assert generated  # and a response is never false
    assert list(generated) == [b"x"]


# -- a failure of raven's own ---------------------------------------------------------------


@pytest.mark.logs_sentry_errors
def test_a_request_raven_cannot_describe_is_still_served(
    client: InMemoryClient, sentry_errors: List[logging.LogRecord]
) -> None:
    class Broken(Sentry):
        def get_http_context(self, environ: Dict[str, Any]) -> Dict[str, Any]:
            raise RuntimeError("raven bug")

    assert webtest.TestApp(Broken(echo_app, client)).post("/", {"a": "1"}).body == b"a=1"
    assert [r.getMessage() for r in sentry_errors] == [
        "Failed to record the request for error reports"
    ]


def test_with_raise_send_errors_raven_failures_surface(make_client: Any) -> None:
    class Broken(Sentry):
        def get_http_context(self, environ: Dict[str, Any]) -> Dict[str, Any]:
            raise RuntimeError("raven bug")

    client = make_client(raise_send_errors=True)

    with pytest.raises(RuntimeError, match="raven bug"):
        webtest.TestApp(Broken(echo_app, client)).get("/")


# -- one request's context, and no other's ---------------------------------------------------


def profile_app(client: InMemoryClient) -> Callable[..., Any]:
    """Sets user, tag and a breadcrumb from the query (``?who=…``), then fails if asked to."""

    def app(environ: Dict[str, Any], start_response: StartResponse) -> Any:
        who = webob.Request(environ).params["who"]
        client.user_context({"id": who})
        client.tags_context({"who": who})
        client.transaction.push("/profile/" + who)
        log.info("loading %s", who)
        if "fail" in environ["QUERY_STRING"]:
            raise ValueError(who)
        return ok(start_response)

    return app


def test_the_context_is_empty_after_the_request(client: InMemoryClient) -> None:
    app = webtest.TestApp(Sentry(profile_app(client), client))

    app.get("/?who=ada")

    assert dict(client.context) == {}
    assert client.context.breadcrumbs.get_buffer() == []
    assert len(client.transaction) == 0


def test_the_context_is_empty_after_a_request_that_failed(client: InMemoryClient) -> None:
    app = webtest.TestApp(Sentry(profile_app(client), client))

    with pytest.raises(ValueError):
        app.get("/?who=ada&fail")

    assert dict(client.context) == {}
    assert len(client.transaction) == 0


def test_leftovers_from_before_the_request_are_not_reported(client: InMemoryClient) -> None:
    client.user_context({"id": "startup-script"})
    client.tags_context({"phase": "boot"})
    client.transaction.push("startup")
    log.info("starting up")
    breadcrumbs.record(message="loaded settings")
    stacks = []

    def app(environ: Dict[str, Any], start_response: StartResponse) -> Any:
        stacks.append(list(client.transaction))
        return profile_app(client)(environ, start_response)

    with pytest.raises(ValueError):
        webtest.TestApp(Sentry(app, client)).get("/?who=ada&fail")

    event = client.events[-1]
    assert event["user"] == {"id": "ada"}
    assert "phase" not in event.get("tags", {})
    assert crumb_messages(event) == ["loading ada"]
    assert stacks == [[]]


def test_sequential_requests_each_report_only_their_own(client: InMemoryClient) -> None:
    app = webtest.TestApp(Sentry(profile_app(client), client))

    for n in range(30):
        query = "/?who=u%d" % n + ("&fail" if n % 3 == 0 else "")
        if n % 3 == 0:
            with pytest.raises(ValueError):
                app.get(query)
        else:
            app.get(query)
        log.info("between requests %d", n)  # e.g. an access log line

    assert len(client.events) == 10
    for event in client.events:
        who = event["exception"]["values"][-1]["value"]
        assert event["user"] == {"id": who}
        assert event["tags"]["who"] == who
        assert event["transaction"] == "/profile/" + who
        assert crumb_messages(event) == ["loading %s" % who]


def test_concurrent_requests_in_threads_never_see_each_other(client: InMemoryClient) -> None:
    threads = 8
    rounds = 5
    inside = threading.Barrier(threads, timeout=30)

    def app(environ: Dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        who = webob.Request(environ).params["who"]
        client.user_context({"id": who})
        client.tags_context({"who": who})
        breadcrumbs.record(message="called " + who)
        start_response("200 OK", [("Content-Type", "text/plain")])
        inside.wait()  # every thread is inside a request now
        log.info("streaming %s", who)
        yield who.encode()
        inside.wait()
        if who.endswith("-fail"):
            raise ValueError(who)

    errors: List[BaseException] = []

    def serve(worker: int) -> None:
        test_app = webtest.TestApp(Sentry(app, client))
        try:
            for r in range(rounds):
                who = "w%d-r%d" % (worker, r) + ("-fail" if worker % 2 else "")
                if worker % 2:
                    with pytest.raises(ValueError):
                        test_app.get("/", {"who": who})
                else:
                    assert test_app.get("/", {"who": who}).body == who.encode()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            inside.abort()

    workers = [threading.Thread(target=serve, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert not any(worker.is_alive() for worker in workers)
    assert errors == []
    assert len(client.events) == threads // 2 * rounds
    for event in client.events:
        who = event["exception"]["values"][-1]["value"]
        assert event["user"] == {"id": who}
        assert event["tags"]["who"] == who
        assert crumb_messages(event) == ["called " + who, "streaming " + who]
        assert event["request"]["query_string"] == "who=" + who


def test_the_context_can_be_read_by_the_app_while_it_streams(client: InMemoryClient) -> None:
    def app(environ: Dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield client.context["request"]["url"].encode()

    assert webtest.TestApp(Sentry(app, client)).get("/here").body == b"http://localhost/here"


def test_a_response_the_server_never_closed_leaks_nothing_into_the_next(
    client: InMemoryClient,
) -> None:
    middleware = Sentry(profile_app(client), client)
    abandoned = middleware(blank_environ("/?who=grace"), start_response)
    assert abandoned  # never iterated, never closed (a server bug, raven#923's setting)

    with pytest.raises(ValueError):
        middleware(blank_environ("/?who=ada&fail"), start_response)

    event = client.events[-1]
    assert event["user"] == {"id": "ada"}
    assert crumb_messages(event) == ["loading ada"]
    assert event["request"]["query_string"] == "who=ada&fail"


def test_an_application_returning_no_iterable_is_reported(client: InMemoryClient) -> None:
    middleware = Sentry(lambda environ, start_response: None, client)

    with pytest.raises(TypeError):
        middleware(blank_environ(), start_response)

    assert client.events[-1]["exception"]["values"][-1]["type"] == "TypeError"
    assert dict(client.context) == {}
