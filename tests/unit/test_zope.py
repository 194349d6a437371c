"""``raven.contrib.zope``: publication-failure subscribers and 6.10's ``ZopeSentryHandler``.

Most tests here use Zope's own request and user classes in this process. The tests of
``TestARealZopeInstance`` start a real instance (``mkwsgiinstance``, ``make_wsgi_app``,
WebTest): starting Zope fills the global component registry, opens a ZODB and changes
process settings, so they run in a pytest process of their own, which
``test_a_real_zope_instance_in_its_own_process`` starts and checks.
"""

from __future__ import annotations

import io
import logging
import logging.config
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional
from unittest import mock

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # webob (under WebTest) imports cgi
    import webtest

from AccessControl.users import SimpleUser, nobody
from ZConfig import configureLoggers
from zExceptions import BadRequest, InternalError, NotFound, Redirect, Unauthorized
from zope.component import getGlobalSiteManager
from zope.component import handle as notify  # the registry's dispatch, as zope.event's would
from ZPublisher.HTTPRequest import HTTPRequest
from ZPublisher.HTTPResponse import HTTPResponse
from ZPublisher.pubevents import PubFailure, PubStart, PubSuccess

import raven.contrib.zope as raven_zope
from raven.contrib.zope import (
    PubFailureReporter,
    ZopeSentryHandler,
    get_http_info,
    get_user_info,
    register,
    unregister,
)
from raven.utils.testutils import InMemoryClient

IN_ZOPE_PROCESS = os.environ.get("RAVEN_TEST_ZOPE_PROCESS") == "1"
TESTS_DIR = Path(__file__).resolve().parents[1]


class PaymentDeclined(Exception):
    pass


def make_request(
    path: str = "/shop/checkout",
    query: str = "step=pay",
    body: bytes = b"",
    content_type: Optional[str] = None,
    **environ: str,
) -> HTTPRequest:
    """A Zope request as the publisher builds it, with its form parsed."""
    env: Dict[str, Any] = {
        "SERVER_NAME": "shop.example",
        "SERVER_PORT": "80",
        "REQUEST_METHOD": "POST" if body else "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_HOST": "shop.example",
        "REMOTE_ADDR": "10.0.0.7",
        "CONTENT_LENGTH": str(len(body)),
        **environ,
    }
    if content_type:
        env["CONTENT_TYPE"] = content_type
    request = HTTPRequest(io.BytesIO(body), env, HTTPResponse())
    request.processInputs()
    request.other["ACTUAL_URL"] = "http://shop.example" + path
    return request


def raised(exc: BaseException) -> Any:
    try:
        raise exc
    except BaseException:
        return sys.exc_info()


@pytest.fixture
def reporter(client: InMemoryClient) -> PubFailureReporter:
    return PubFailureReporter(client)


def only_event(client: InMemoryClient) -> Dict[str, Any]:
    assert len(client.events) == 1, client.events
    return client.events[0]


# -- what is reported ------------------------------------------------------------------------------


def test_the_request_is_described_with_its_form_and_without_the_environ() -> None:
    request = make_request(
        body=b"order=A-17&password=hunter2",
        content_type="application/x-www-form-urlencoded",
        HTTP_X_REQUEST_ID="r-1",
        HTTP_COOKIE="cart=7; __ac=YWRhOnNlY3JldA==",
        PATH="/usr/bin",  # CGI servers pass the process environment: never reported
    )

    info = get_http_info(request)

    assert info["url"] == "http://shop.example/shop/checkout"
    assert info["method"] == "POST"
    assert info["query_string"] == "step=pay"
    assert info["headers"]["X-Request-Id"] == "r-1"
    assert info["cookies"] == {"cart": "7", "__ac": "********"}  # Zope's login cookie
    assert info["env"] == {
        "REMOTE_ADDR": "10.0.0.7",
        "SERVER_NAME": "shop.example",
        "SERVER_PORT": "80",
    }
    # Zope merges the query string's fields into the form
    assert info["data"] == {"step": "pay", "order": "A-17", "password": "hunter2"}
    assert "PATH" not in str(info)


def test_a_json_body_is_parsed_and_large_bodies_are_left_out() -> None:
    small = make_request(body=b'{"order": "A-17"}', content_type="application/json")
    large = make_request(body=b'{"blob": "%s"}' % (b"x" * 20000), content_type="application/json")

    assert get_http_info(small)["data"] == {"order": "A-17"}
    assert "data" not in get_http_info(large)


def test_the_user_is_the_authenticated_zope_user() -> None:
    request = make_request()
    request["AUTHENTICATED_USER"] = SimpleUser("ada", "secret", ["Manager"], [])

    assert get_user_info(request) == {"ip_address": "10.0.0.7", "id": "ada", "username": "ada"}


def test_anonymous_is_only_an_address() -> None:
    request = make_request()
    request["AUTHENTICATED_USER"] = nobody

    assert get_user_info(request) == {"ip_address": "10.0.0.7"}


# -- the publication-failure reporter --------------------------------------------------------------


def test_a_failed_publication_is_reported_with_request_and_user(
    reporter: PubFailureReporter, client: InMemoryClient
) -> None:
    request = make_request()
    request["AUTHENTICATED_USER"] = SimpleUser("ada", "secret", ["Member"], [])

    event_id = reporter.on_failure(PubFailure(request, raised(PaymentDeclined("declined")), False))

    event = only_event(client)
    assert event["event_id"] == event_id
    assert event["exception"]["values"][0]["type"] == "PaymentDeclined"
    assert event["request"]["url"] == "http://shop.example/shop/checkout"
    assert event["user"]["id"] == "ada"
    assert request.response.getHeader("X-Sentry-ID") == event_id
    assert request["SENTRY_ID"] == event_id


@pytest.mark.parametrize(
    "exc",
    [NotFound("no such order"), Unauthorized("log in"), Redirect("/elsewhere"), BadRequest("x")],
    ids=lambda e: type(e).__name__,
)
def test_zopes_http_answers_below_500_are_not_reported(
    reporter: PubFailureReporter, client: InMemoryClient, exc: Exception
) -> None:
    reporter.on_failure(PubFailure(make_request(), raised(exc), False))

    assert client.events == []


def test_zopes_internal_error_is_reported(
    reporter: PubFailureReporter, client: InMemoryClient
) -> None:
    reporter.on_failure(PubFailure(make_request(), raised(InternalError("boom")), False))

    assert only_event(client)["exception"]["values"][0]["type"] == "InternalError"


def test_a_failure_zope_will_retry_is_not_reported(
    reporter: PubFailureReporter, client: InMemoryClient
) -> None:
    reporter.on_failure(PubFailure(make_request(), raised(PaymentDeclined("conflict")), True))

    assert client.events == []


def test_each_publication_starts_and_ends_with_an_empty_context(
    reporter: PubFailureReporter, client: InMemoryClient
) -> None:
    client.tags_context({"left": "over"})
    reporter.on_start(PubStart(make_request()))
    client.tags_context({"step": "pay"})
    reporter.on_failure(PubFailure(make_request(), raised(PaymentDeclined("x")), False))

    assert only_event(client)["tags"] == {"step": "pay"}
    assert dict(client.context) == {}


def test_register_subscribes_to_zopes_publication_events(client: InMemoryClient) -> None:
    reporter = register(client)
    try:
        request = make_request()
        notify(PubStart(request))
        client.tags_context({"step": "one"})
        notify(PubSuccess(request))
        notify(PubStart(request))
        notify(PubFailure(request, raised(PaymentDeclined("declined")), False))
    finally:
        unregister(reporter)

    assert only_event(client)["tags"] == {}
    notify(PubFailure(make_request(), raised(PaymentDeclined("after")), False))
    assert len(client.events) == 1
    handlers = [r.handler for r in getGlobalSiteManager().registeredHandlers()]
    assert reporter.on_failure not in handlers and reporter.on_start not in handlers


@pytest.mark.logs_sentry_errors
def test_a_failure_describing_the_request_still_reports(
    reporter: PubFailureReporter,
    client: InMemoryClient,
    monkeypatch: pytest.MonkeyPatch,
    sentry_errors: List[logging.LogRecord],
) -> None:
    def broken(request: Any, max_body_size: int = 0) -> Any:
        raise KeyError("broken")

    monkeypatch.setattr(raven_zope, "get_http_info", broken)

    reporter.on_failure(PubFailure(make_request(), raised(PaymentDeclined("x")), False))

    assert only_event(client)["exception"]["values"][0]["value"] == "x"
    assert any("Failed to record the Zope request" in r.getMessage() for r in sentry_errors)


def test_the_zcml_subscribers_use_a_client_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(raven_zope, "_default", None)
    with mock.patch.object(raven_zope, "Client", InMemoryClient):
        raven_zope.handle_pub_start(PubStart(make_request()))
        raven_zope.handle_pub_failure(
            PubFailure(make_request(), raised(PaymentDeclined("x")), False)
        )
        client = raven_zope._default_reporter().client

    assert isinstance(client, InMemoryClient)
    assert len(client.events) == 1


def test_configure_zcml_names_the_three_subscribers() -> None:
    zcml = (Path(raven_zope.__file__).parent / "configure.zcml").read_text()

    for name in ("handle_pub_start", "handle_pub_success", "handle_pub_failure"):
        assert "raven.contrib.zope.%s" % name in zcml


# -- the logging handler (6.10) --------------------------------------------------------------------


@pytest.fixture
def handler(client: InMemoryClient) -> ZopeSentryHandler:
    return ZopeSentryHandler(client)


def test_the_handler_defaults_to_error(handler: ZopeSentryHandler) -> None:
    assert handler.level == logging.ERROR


def test_a_record_logged_while_handling_a_request_carries_it(
    handler: ZopeSentryHandler, client: InMemoryClient
) -> None:
    log = logging.getLogger("Zope.SiteErrorLog")
    log.addHandler(handler)
    try:

        def publish(request: Any) -> None:
            try:
                raise PaymentDeclined("declined")
            except PaymentDeclined:
                log.error("publishing failed", exc_info=True)

        request = make_request()
        request["AUTHENTICATED_USER"] = SimpleUser("ada", "secret", ["Member"], [])
        publish(request)
    finally:
        log.removeHandler(handler)

    event = only_event(client)
    assert event["exception"]["values"][0]["type"] == "PaymentDeclined"
    assert event["request"]["url"] == "http://shop.example/shop/checkout"
    assert event["user"]["id"] == "ada"


def test_the_request_is_found_in_the_traceback_once_the_stack_has_unwound(
    handler: ZopeSentryHandler, client: InMemoryClient
) -> None:
    """A WSGI server logs the error after Zope's frames are gone; the traceback keeps them."""

    def publish(request: Any) -> None:
        raise PaymentDeclined("declined")

    try:
        publish(make_request(path="/deep/page"))
    except PaymentDeclined:
        exc_info = sys.exc_info()
    record = logging.LogRecord("waitress", logging.ERROR, __file__, 1, "boom", None, exc_info)

    handler.handle(record)

    assert only_event(client)["request"]["url"] == "http://shop.example/deep/page"


def test_the_handler_leaves_the_context_as_it_found_it(
    handler: ZopeSentryHandler, client: InMemoryClient
) -> None:
    client.http_context({"url": "http://app.example/own"})

    def publish(request: Any) -> None:
        handler.handle(logging.LogRecord("z", logging.ERROR, __file__, 1, "boom", None, None))

    publish(make_request())

    assert only_event(client)["request"]["url"] == "http://shop.example/shop/checkout"
    assert client.context["request"] == {"url": "http://app.example/own"}
    assert "user" not in client.context


def test_a_request_attribute_that_is_not_a_zope_request_is_ignored(
    handler: ZopeSentryHandler, client: InMemoryClient
) -> None:
    request = {"not": "a zope request"}  # a local named like it, as waitress has one

    logging.getLogger("x").addHandler(handler)
    try:
        logging.getLogger("x").error("plain %s", request["not"])
    finally:
        logging.getLogger("x").removeHandler(handler)

    assert "request" not in only_event(client)


def test_zope_ini_handler_section_builds_the_handler(tmp_path: Path) -> None:
    """Zope 4+ configures logging from zope.ini: a ``[handler_sentry]`` section works."""
    ini = tmp_path / "zope.ini"
    ini.write_text(
        "[loggers]\nkeys = root\n"
        "[handlers]\nkeys = sentry\n"
        "[formatters]\nkeys =\n"
        "[logger_root]\nlevel = INFO\nhandlers = sentry\n"
        "[handler_sentry]\n"
        "class = raven.contrib.zope.ZopeSentryHandler\n"
        "args = ('http://public@127.0.0.1:9/2',)\n"
        "level = ERROR\n"
    )
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        logging.config.fileConfig(str(ini), disable_existing_loggers=False)
        [handler] = root.handlers
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]

    assert isinstance(handler, ZopeSentryHandler)
    assert handler.level == logging.ERROR
    assert handler.client.remote.project == "2"


def test_the_zconfig_sentry_section_of_6_10_builds_the_handler() -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        with mock.patch("raven.handlers.logging.Client") as client_cls:
            configureLoggers(
                """
                <logger>
                  %import raven.contrib.zope
                  <sentry>
                    dsn http://public@127.0.0.1:9/2
                    release 4.2
                    level WARNING
                    project shop
                  </sentry>
                </logger>
                """
            )
        handler = root.handlers[-1]
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]

    assert isinstance(handler, ZopeSentryHandler)
    assert handler.level == logging.WARNING
    kwargs = client_cls.call_args.kwargs
    assert (kwargs["dsn"], kwargs["release"], kwargs["project"]) == (
        "http://public@127.0.0.1:9/2",
        "4.2",
        "shop",
    )


# -- a real instance -------------------------------------------------------------------------------

if not IN_ZOPE_PROCESS:

    def test_a_real_zope_instance_in_its_own_process() -> None:
        """Run ``TestARealZopeInstance`` in a pytest process of its own (see the docstring)."""
        env = dict(os.environ, RAVEN_TEST_ZOPE_PROCESS="1")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "%s::TestARealZopeInstance" % Path(__file__).relative_to(TESTS_DIR.parent),
                "-q",
                "-p",
                "no:cacheprovider",
            ],
            cwd=TESTS_DIR.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        assert " passed" in output and "skipped" not in output, output[-2000:]

else:
    sys.path.insert(0, str(TESTS_DIR))  # "servers", which the instance's ZCML names
    from servers.zope_instance import Conflict, create_instance, make_app

    @pytest.fixture(scope="module")
    def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
        return make_app(create_instance(tmp_path_factory.mktemp("zope") / "site"))

    @pytest.fixture
    def browser(site: Any, client: InMemoryClient) -> Iterator[webtest.TestApp]:
        reporter = register(client)
        try:
            yield webtest.TestApp(site)
        finally:
            unregister(reporter)

    ADMIN = {"Authorization": "Basic YWRtaW46YWRtaW4="}  # admin:admin, made by mkwsgiinstance

    class TestARealZopeInstance:
        def test_a_failing_view_is_reported_with_the_request(
            self, browser: webtest.TestApp, client: InMemoryClient
        ) -> None:
            browser.set_cookie("cart", "7")
            with pytest.raises(Exception, match="card declined for order A-17"):
                browser.post(
                    "/checkout?step=pay",
                    {"order": "A-17", "password": "hunter2"},
                    headers={"X-Request-Id": "r-1"},
                    extra_environ={"REMOTE_ADDR": "10.0.0.7"},
                )

            event = only_event(client)
            [value] = event["exception"]["values"]
            assert value["type"] == "PaymentDeclined"
            assert value["stacktrace"]["frames"][-1]["function"] == "__call__"
            req = event["request"]
            assert req["url"] == "http://localhost:80/checkout"
            assert req["method"] == "POST"
            assert req["query_string"] == "step=pay"
            assert req["headers"]["X-Request-Id"] == "r-1"
            assert req["data"]["order"] == "A-17"
            assert req["cookies"] == {"cart": "7"}
            assert event["user"] == {"ip_address": "10.0.0.7"}  # anonymous: the address only

        def test_the_logged_in_manager_is_the_user(
            self, browser: webtest.TestApp, client: InMemoryClient
        ) -> None:
            with pytest.raises(LookupError):
                browser.get("/admin-report", headers=ADMIN)

            assert only_event(client)["user"]["id"] == "admin"
            assert client.events[0]["user"]["username"] == "admin"

        def test_not_found_and_working_pages_are_not_reported(
            self, browser: webtest.TestApp, client: InMemoryClient
        ) -> None:
            assert browser.get("/fine").text == "fine"
            for url in ("/missing", "/no/such/page"):
                with pytest.raises(NotFound):
                    browser.get(url)

            assert client.events == []

        def test_a_conflict_is_reported_once_after_zopes_last_retry(
            self, browser: webtest.TestApp, client: InMemoryClient
        ) -> None:
            Conflict.attempts = 0
            with pytest.raises(Exception, match="conflict"):
                browser.get("/conflict")

            assert Conflict.attempts == 4  # the first try and Zope's three retries
            assert only_event(client)["exception"]["values"][0]["type"] == "ConflictError"

        def test_requests_do_not_share_context(
            self, browser: webtest.TestApp, client: InMemoryClient
        ) -> None:
            client.tags_context({"before": "start-up"})
            browser.get("/fine")
            with pytest.raises(LookupError):
                browser.get("/admin-report", headers=ADMIN)
            with pytest.raises(Exception, match="card declined"):
                browser.post("/checkout", {"order": "A-18"})

            first, second = client.events
            assert first["tags"] == {} and second["tags"] == {}
            assert first["user"]["id"] == "admin"
            assert "user" not in second  # the manager of the request before is not carried over
