"""``raven.contrib.flask.Sentry`` on a real Flask 3 app: what a failing request reports."""

from __future__ import annotations

import importlib
import importlib.metadata
import io
import json
import logging
import sys
import threading
from typing import Any, Dict, Iterator, List, Optional

import flask
import flask_login
import pytest
from flask import Flask, abort, g, request

import raven.contrib.flask as raven_flask
from raven.base import Client
from raven.contrib.flask import Sentry, logging_configured, make_client
from raven.middleware import Sentry as SentryMiddleware
from raven.utils.testutils import InMemoryClient

FLASK_VERSION = tuple(int(p) for p in importlib.metadata.version("flask").split(".")[:2])
WERKZEUG_VERSION = tuple(int(p) for p in importlib.metadata.version("werkzeug").split(".")[:2])


class User(flask_login.UserMixin):
    def __init__(self, user_id: str, email: str) -> None:
        self.id = user_id
        self.email = email


USERS = {"7": User("7", "ada@example.com"), "8": User("8", "grace@example.com")}


def make_app(**config: Any) -> Flask:
    """A small shop app: views that fail, echo what they read, log in users and capture."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test-secret", **config)

    @app.route("/fail/<int:order_id>", methods=["GET", "POST"])
    def fail(order_id: int) -> str:
        raise ValueError("order %d failed" % order_id)

    @app.route("/missing")
    def missing() -> str:
        abort(404)

    @app.route("/echo", methods=["POST"])
    def echo() -> Any:
        return flask.jsonify(
            form=request.form.to_dict(flat=False),
            files=sorted(request.files),
            json=request.get_json(silent=True),
            raw=request.get_data(as_text=True),
        )

    @app.route("/message")
    def message() -> Any:
        event_id = app.extensions["sentry"].captureMessage("hello from a view")
        return flask.jsonify(event_id=event_id, g=g.sentry_event_id)

    @app.route("/tag/<value>")
    def tag(value: str) -> str:
        app.extensions["sentry"].tags_context({"step": value})
        if value == "fail":
            raise RuntimeError("tagged failure")
        return "ok"

    return app


def add_login(app: Flask) -> flask_login.LoginManager:
    """Flask-Login with users taken from the ``X-User`` header (no session round-trips)."""
    manager = flask_login.LoginManager(app)

    @manager.request_loader
    def load_from_header(req: Any) -> Optional[User]:
        return USERS.get(req.headers.get("X-User", ""))

    return manager


def set_cookie(test_client: Any, name: str, value: str) -> None:
    """Werkzeug 2.3 dropped the leading ``server_name`` argument of the test client's set_cookie."""
    if WERKZEUG_VERSION >= (2, 3):
        test_client.set_cookie(name, value)
    else:
        test_client.set_cookie("localhost", name, value)


@pytest.fixture
def app() -> Flask:
    return make_app()


@pytest.fixture
def sentry(app: Flask, client: InMemoryClient) -> Sentry:
    return Sentry(app, client=client)


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """Give the root logger (and the excluded loggers) back their handlers after the test."""
    names = ["", "x", "raven", "gunicorn", "south", "sentry.errors", "django.request", "dill"]
    saved = {
        n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate) for n in names
    }
    yield
    for name, (handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def only_event(client: InMemoryClient) -> Dict[str, Any]:
    assert len(client.events) == 1, client.events
    return client.events[0]


# -- failures in views -------------------------------------------------------------------------


def test_an_error_in_a_view_is_reported_once_with_the_request(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    response = app.test_client().get("/fail/42?coupon=SPRING", headers={"X-Request-Id": "r-1"})

    assert response.status_code == 500
    event = only_event(client)
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "order 42 failed")
    assert event["request"]["url"] == "http://localhost/fail/42"
    assert event["request"]["method"] == "GET"
    assert event["request"]["query_string"] == "coupon=SPRING"
    assert event["request"]["headers"]["X-Request-Id"] == "r-1"
    assert event["request"]["env"]["SERVER_NAME"] == "localhost"
    assert event["transaction"] == "/fail/<int:order_id>"
    assert event["user"] == {"ip_address": "127.0.0.1"}


def test_the_event_id_is_sent_back_in_the_x_sentry_id_header(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    response = app.test_client().get("/fail/1")

    assert response.headers["X-Sentry-ID"] == only_event(client)["event_id"]
    assert sentry.last_event_id == client.events[0]["event_id"]


def test_an_error_propagated_in_testing_mode_is_reported_once_not_again_by_the_middleware(
    client: InMemoryClient,
) -> None:
    app = make_app(TESTING=True)
    Sentry(app, client=client, wrap_wsgi=True)
    assert isinstance(app.wsgi_app, SentryMiddleware)

    with pytest.raises(ValueError, match="order 3 failed"):
        app.test_client().get("/fail/3")

    assert only_event(client)["request"]["url"] == "http://localhost/fail/3"


def test_http_exceptions_are_responses_not_errors(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    assert app.test_client().get("/missing").status_code == 404
    assert app.test_client().get("/no-such-page").status_code == 404
    assert client.events == []


def test_an_exception_handled_by_an_error_handler_is_not_reported(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    app.register_error_handler(ValueError, lambda exc: ("handled", 400))

    assert app.test_client().get("/fail/5").status_code == 400
    assert client.events == []


def test_register_signal_false_leaves_view_errors_to_the_wsgi_middleware(
    client: InMemoryClient,
) -> None:
    app = make_app(TESTING=True)
    Sentry(app, client=client, register_signal=False, wrap_wsgi=True)

    with pytest.raises(ValueError):
        app.test_client().get("/fail/9")
    # caught by the middleware instead: the request is still attached
    assert only_event(client)["request"]["url"] == "http://localhost/fail/9"

    app2 = make_app()
    Sentry(app2, client=client, register_signal=False, wrap_wsgi=False)
    assert app2.test_client().get("/fail/9").status_code == 500
    assert len(client.events) == 1  # Flask turned it into a 500 page; nothing saw it


def test_ignored_exceptions_from_the_legacy_setting_are_not_reported(
    make_client: Any,
) -> None:
    app = make_app(RAVEN_IGNORE_EXCEPTIONS=["ValueError"])
    sentry = Sentry(app, client_cls=InMemoryClient)
    assert isinstance(sentry.client, InMemoryClient)

    assert app.test_client().get("/fail/1").status_code == 500
    assert app.test_client().get("/tag/fail").status_code == 500
    [event] = sentry.client.events
    assert event["exception"]["values"][0]["type"] == "RuntimeError"


# -- request data --------------------------------------------------------------------------------


def test_a_posted_form_is_reported_with_the_password_scrubbed(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    app.test_client().post("/fail/2", data={"user": "ada", "password": "hunter2", "qty": "3"})

    data = only_event(client)["request"]["data"]
    assert data == {"user": "ada", "password": "********", "qty": "3"}


def test_a_posted_json_body_is_reported_parsed_and_scrubbed(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    app.test_client().post("/fail/2", json={"card": {"number": "4111", "password": "x"}})

    assert only_event(client)["request"]["data"] == {
        "card": {"number": "4111", "password": "********"}
    }


def test_a_malformed_json_body_is_reported_as_text(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    app.test_client().post("/fail/2", data="{not json", content_type="application/json")

    assert only_event(client)["request"]["data"] == "{not json"


def test_the_view_still_reads_the_body_raven_read(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    c = app.test_client()
    form = c.post("/echo", data={"a": ["1", "2"], "b": "x"}).get_json()
    assert form["form"] == {"a": ["1", "2"], "b": ["x"]}
    assert form["raw"] == "a=1&a=2&b=x"

    body = c.post("/echo", json={"k": [1, 2]}).get_json()
    assert body["json"] == {"k": [1, 2]}
    assert json.loads(body["raw"]) == {"k": [1, 2]}

    upload = c.post(
        "/echo",
        data={"note": "hi", "file": (io.BytesIO(b"content"), "f.txt")},
        content_type="multipart/form-data",
    ).get_json()
    assert upload["form"] == {"note": ["hi"]}
    assert upload["files"] == ["file"]


def test_a_body_larger_than_max_body_size_is_left_out_and_left_unread(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    big = "x" * (Sentry.max_body_size + 1)
    echoed = app.test_client().post("/echo", data={"blob": big}).get_json()
    assert echoed["form"] == {"blob": [big]}

    app.test_client().post("/fail/1", data={"blob": big})
    assert "data" not in only_event(client)["request"]


def test_a_binary_upload_is_left_out(app: Flask, sentry: Sentry, client: InMemoryClient) -> None:
    app.test_client().post("/fail/1", data=b"\x00\x01", content_type="application/octet-stream")

    assert "data" not in only_event(client)["request"]


def test_cookies_are_reported_with_secrets_scrubbed(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    c = app.test_client()
    set_cookie(c, "theme", "dark")
    set_cookie(c, "sessionid", "s3cret")
    c.get("/fail/1")

    assert only_event(client)["request"]["cookies"] == {"theme": "dark", "sessionid": "********"}


# -- users ----------------------------------------------------------------------------------------


def test_the_logged_in_flask_login_user_is_reported_by_id(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    add_login(app)
    app.test_client().get("/fail/1", headers={"X-User": "7"})

    assert only_event(client)["user"] == {"ip_address": "127.0.0.1", "id": "7"}


def test_sentry_user_attrs_add_the_named_user_attributes(client: InMemoryClient) -> None:
    app = make_app(SENTRY_USER_ATTRS=["email", "no_such_attribute"])
    add_login(app)
    Sentry(app, client=client)
    app.test_client().get("/fail/1", headers={"X-User": "8"})

    assert only_event(client)["user"] == {
        "ip_address": "127.0.0.1",
        "id": "8",
        "email": "grace@example.com",
    }


def test_an_anonymous_user_and_an_app_without_flask_login_give_only_the_address(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    app.test_client().get("/fail/1", environ_base={"REMOTE_ADDR": "10.0.0.5"})
    with_login = make_app()
    add_login(with_login)
    Sentry(with_login, client=client)
    with_login.test_client().get("/fail/1", headers={"X-Forwarded-For": "203.0.113.9"})

    assert [e["user"] for e in client.events] == [
        {"ip_address": "10.0.0.5"},
        {"ip_address": "203.0.113.9"},
    ]


@pytest.mark.logs_sentry_errors
def test_a_failing_user_loader_is_logged_and_the_request_still_served(
    app: Flask, sentry: Sentry, client: InMemoryClient, sentry_errors: List[logging.LogRecord]
) -> None:
    manager = flask_login.LoginManager(app)

    @manager.request_loader
    def broken(req: Any) -> None:
        raise ConnectionError("user database down")

    response = app.test_client().get("/fail/1")

    assert response.status_code == 500
    assert only_event(client)["request"]["url"] == "http://localhost/fail/1"
    assert "user" not in client.events[0] or "id" not in client.events[0]["user"]
    assert any("Flask user" in r.getMessage() for r in sentry_errors)


# -- per-request context -------------------------------------------------------------------------


def test_each_request_starts_with_a_clean_context(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    client.tags_context({"leftover": "start-up"})
    add_login(app)
    c = app.test_client()
    c.get("/tag/first", headers={"X-User": "7"})  # tags and user set, no event
    c.get("/fail/1")

    event = only_event(client)
    assert "leftover" not in event.get("tags", {})
    assert "step" not in event.get("tags", {})
    assert "id" not in event["user"]
    assert client.context.get("tags") is None, "the context outlived the request"
    assert client.transaction.peek() is None


def test_tags_set_in_the_view_are_on_its_event(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    app.test_client().get("/tag/fail")

    assert only_event(client)["tags"]["step"] == "fail"


def test_concurrent_requests_report_their_own_request_and_user(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    add_login(app)
    barrier = threading.Barrier(2, timeout=10)

    @app.route("/slow/<name>")
    def slow(name: str) -> str:
        barrier.wait()  # both requests are inside their view at once
        raise KeyError(name)

    def call(name: str, user: str) -> None:
        app.test_client().get("/slow/" + name, headers={"X-User": user})

    threads = [threading.Thread(target=call, args=a) for a in (("ada", "7"), ("grace", "8"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)

    seen = {(e["request"]["url"], e["user"]["id"]) for e in client.events}
    assert seen == {("http://localhost/slow/ada", "7"), ("http://localhost/slow/grace", "8")}


def test_capture_message_in_a_view_sets_last_event_id_on_g_and_the_header(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    response = app.test_client().get("/message")

    event_id = only_event(client)["event_id"]
    assert response.get_json() == {"event_id": event_id, "g": event_id}
    assert response.headers["X-Sentry-ID"] == event_id


def test_last_event_id_is_reset_for_each_request(
    app: Flask, sentry: Sentry, client: InMemoryClient
) -> None:
    c = app.test_client()
    c.get("/message")
    response = c.get("/tag/ok")

    assert "X-Sentry-ID" not in response.headers
    with app.test_request_context("/"):
        app.preprocess_request()
        assert sentry.last_event_id is None


def test_capture_helpers_outside_a_request_keep_the_id_on_the_instance(
    sentry: Sentry, client: InMemoryClient
) -> None:
    try:
        raise OSError("disk full")
    except OSError:
        event_id = sentry.captureException()
    assert event_id == client.events[-1]["event_id"]
    assert sentry.last_event_id == event_id
    sentry.user_context({"id": "42"})
    sentry.extra_context({"job": "nightly"})
    assert sentry.captureMessage("after the job") == sentry.last_event_id
    assert client.events[-1]["user"] == {"id": "42"}
    assert "job" in client.events[-1]["extra"]


def test_handle_exception_accepts_exc_info(sentry: Sentry, client: InMemoryClient) -> None:
    try:
        raise LookupError("by hand")
    except LookupError:
        sentry.handle_exception(exc_info=sys.exc_info())
    assert client.events[-1]["exception"]["values"][0]["value"] == "by hand"


# -- configuration --------------------------------------------------------------------------------


def test_a_client_that_is_not_a_client_is_refused() -> None:
    with pytest.raises(TypeError, match="instance of Client"):
        Sentry(client="https://public@example.com/1")  # type: ignore[arg-type]


def test_the_client_is_built_from_the_app_config() -> None:
    app = make_app(
        SENTRY_CONFIG={"dsn": "https://public:secret@sentry.example.com/9", "release": "1.2"},
        SENTRY_INCLUDE_PATHS=["shop"],
    )
    client = make_client(Client, app)
    assert client.remote.project == "9"
    assert client.release == "1.2"
    assert set(client.include_paths) == {"shop", __name__}


def test_init_app_with_an_application_factory_and_overrides(client: InMemoryClient) -> None:
    sentry = Sentry(client=client, wrap_wsgi=True)
    app = make_app()
    sentry.init_app(app, wrap_wsgi=False, register_signal=True)

    assert app.extensions["sentry"] is sentry
    assert not isinstance(app.wsgi_app, SentryMiddleware)
    assert app.test_client().get("/fail/1").status_code == 500
    assert len(client.events) == 1


def test_wrap_wsgi_defaults_to_off_in_debug_mode(client: InMemoryClient) -> None:
    debug_app = make_app()
    debug_app.debug = True
    Sentry(debug_app, client=client)
    app = make_app()
    Sentry(app, client=client)

    assert not isinstance(debug_app.wsgi_app, SentryMiddleware)
    assert isinstance(app.wsgi_app, SentryMiddleware)


def test_logging_option_reports_log_records_and_announces_itself(
    app: Flask, client: InMemoryClient, root_handlers: None
) -> None:
    announced: List[Dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        announced.append(kwargs)

    logging_configured.connect(receiver, weak=False)
    try:
        Sentry(app, client=client, logging=True, level=logging.WARNING, logging_exclusions=["x"])
    finally:
        logging_configured.disconnect(receiver)

    logging.getLogger("shop.orders").warning("stock low for %s", "tea")
    logging.getLogger("shop.orders").info("below the level")

    assert [e["message"] for e in client.events] == ["stock low for tea"]
    assert announced == [{"sentry_handler": raven_flask.SentryHandler, "exclude": ["x"]}]


def test_with_logging_on_flask_s_own_error_log_line_does_not_report_the_error_again(
    client: InMemoryClient, root_handlers: None
) -> None:
    app = make_app()
    Sentry(app, client=client, logging=True, level=logging.ERROR)

    assert app.test_client().get("/fail/4").status_code == 500
    assert only_event(client)["exception"]["values"][0]["value"] == "order 4 failed"


@pytest.mark.logs_sentry_errors
def test_capture_before_init_app_is_logged_not_raised(
    sentry_errors: List[logging.LogRecord],
) -> None:
    sentry = Sentry()
    assert sentry.captureMessage("too early") is None
    assert sentry.captureException() is None
    assert any("before init_app" in r.getMessage() for r in sentry_errors)


def test_importing_without_flask_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flask", None)
    monkeypatch.delitem(sys.modules, "raven.contrib.flask")
    with pytest.raises(ImportError, match=r"raven\[flask\]"):
        importlib.import_module("raven.contrib.flask")
    assert flask.__name__ == "flask"
