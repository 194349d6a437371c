"""``raven.contrib.pyramid``: the tween in a real Pyramid app, driven through WebTest."""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any, Dict, Iterator, List, Optional

import pytest

with warnings.catch_warnings():
    # webob imports the deprecated cgi module (3.11+); Pyramid imports pkg_resources
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", UserWarning)
    import webtest
    from pyramid.config import Configurator
    from pyramid.httpexceptions import (
        HTTPFound,
        HTTPInternalServerError,
        HTTPNotFound,
        HTTPServiceUnavailable,
    )
    from pyramid.response import Response

import raven.contrib.pyramid as raven_pyramid
from raven.contrib.pyramid import SentryTween, client_from_settings, get_client
from raven.exceptions import ConfigurationError
from raven.utils.testutils import InMemoryClient


class PaymentDeclined(Exception):
    pass


class ValidationFailed(Exception):
    pass


class HeaderSecurity:
    """The user id comes from the ``X-User`` header; Pyramid 2 security policy and 1.x
    authentication policy in one (only the methods each version calls)."""

    def identity(self, request: Any) -> Optional[str]:
        return request.headers.get("X-User")

    def authenticated_userid(self, request: Any) -> Optional[str]:
        return request.headers.get("X-User")

    def unauthenticated_userid(self, request: Any) -> Optional[str]:
        return request.headers.get("X-User")

    def effective_principals(self, request: Any) -> List[str]:
        return ["system.Everyone"]

    def permits(self, request: Any, context: Any, permission: str) -> bool:
        return True

    def remember(self, request: Any, userid: str, **kw: Any) -> List[Any]:
        return []

    def forget(self, request: Any, **kw: Any) -> List[Any]:
        return []


def fail(request: Any) -> Any:
    raise PaymentDeclined("order %s declined" % request.matchdict["order_id"])


def echo(request: Any) -> Any:
    return Response(json_body={"order": request.POST.get("order"), "raw": request.text})


def invalid(request: Any) -> Any:
    raise ValidationFailed("quantity must be positive")


def tag(request: Any) -> Any:
    request.registry.sentry_client.tags_context({"step": request.matchdict["value"]})
    if request.matchdict["value"] == "fail":
        raise RuntimeError("tagged failure")
    return Response("ok")


def make_app(
    client: Optional[InMemoryClient] = None,
    settings: Optional[Dict[str, Any]] = None,
    error_page: bool = False,
) -> webtest.TestApp:
    with Configurator(settings=settings or {}) as config:
        if client is not None:
            config.registry.sentry_client = client
        if hasattr(config, "set_security_policy"):
            config.set_security_policy(HeaderSecurity())
        else:  # Pyramid 1.x
            from pyramid.authorization import ACLAuthorizationPolicy

            config.set_authentication_policy(HeaderSecurity())
            config.set_authorization_policy(ACLAuthorizationPolicy())
        config.include("raven.contrib.pyramid")
        routes = {
            "fail": ("/fail/{order_id}", fail),
            "echo": ("/echo", echo),
            "invalid": ("/invalid", invalid),
            "tag": ("/tag/{value}", tag),
            "missing": ("/missing", lambda request: HTTPNotFound()),
            "gone": ("/gone", _raise(HTTPNotFound("no such order"))),
            "moved": ("/moved", _raise(HTTPFound(location="/elsewhere"))),
            "broken": ("/broken", _raise(HTTPInternalServerError())),
            "down": ("/down", _raise(HTTPServiceUnavailable())),
        }
        for name, (pattern, view) in routes.items():
            config.add_route(name, pattern)
            config.add_view(view, route_name=name)
        config.add_view(
            lambda exc, request: Response("invalid: %s" % exc, status=400),
            context=ValidationFailed,
        )
        if error_page:
            config.add_view(lambda exc, request: Response("sorry", status=500), context=Exception)
        app = config.make_wsgi_app()
    return webtest.TestApp(app)


def _raise(exc: Exception) -> Any:
    def view(request: Any) -> Any:
        raise exc

    return view


def only_event(client: InMemoryClient) -> Dict[str, Any]:
    assert len(client.events) == 1, client.events
    return client.events[0]


# -- failures --------------------------------------------------------------------------------------


def test_an_exception_escaping_the_views_is_reported_with_request_and_user(
    client: InMemoryClient,
) -> None:
    browser = make_app(client)
    browser.set_cookie("cart", "7")

    with pytest.raises(PaymentDeclined) as raised:
        browser.get(
            "/fail/42?coupon=SPRING",
            headers={"X-Request-Id": "r-1", "X-User": "ada"},
            extra_environ={"REMOTE_ADDR": "10.0.0.7"},
        )

    event = only_event(client)
    # without the HTTPNotFound Pyramid raised internally when it found no exception view...
    [value] = event["exception"]["values"]
    # ...which the exception itself still carries for the server's own log
    assert isinstance(raised.value.__context__, HTTPNotFound)
    assert raised.value.__suppress_context__ is False
    assert (value["type"], value["value"]) == ("PaymentDeclined", "order 42 declined")
    assert value["stacktrace"]["frames"][-1]["function"] == "fail"
    req = event["request"]
    assert req["url"] == "http://localhost/fail/42"
    assert req["method"] == "GET"
    assert req["query_string"] == "coupon=SPRING"
    assert req["headers"]["X-Request-Id"] == "r-1"
    assert req["cookies"] == {"cart": "7"}
    assert req["env"]["REMOTE_ADDR"] == "10.0.0.7"
    assert event["user"] == {"ip_address": "10.0.0.7", "id": "ada"}
    assert event["transaction"] == "/fail/{order_id}"


def test_an_exception_an_error_page_turned_into_a_500_is_reported(
    client: InMemoryClient,
) -> None:
    browser = make_app(client, error_page=True)

    response = browser.get("/fail/1", expect_errors=True)

    assert (response.status_int, response.text) == (500, "sorry")
    event = only_event(client)
    assert event["exception"]["values"][0]["type"] == "PaymentDeclined"
    assert response.headers["X-Sentry-ID"] == event["event_id"]


def test_an_exception_an_exception_view_answers_below_500_is_not_reported(
    client: InMemoryClient,
) -> None:
    response = make_app(client).get("/invalid", expect_errors=True)

    assert (response.status_int, response.text) == (400, "invalid: quantity must be positive")
    assert client.events == []


def test_http_exceptions_below_500_are_responses_not_reports(client: InMemoryClient) -> None:
    browser = make_app(client, error_page=True)

    statuses = [
        browser.get(url, expect_errors=True).status_int
        for url in ("/missing", "/gone", "/moved", "/no/such/route")
    ]

    assert statuses == [404, 404, 302, 404]
    assert client.events == []


def test_http_exceptions_of_500_and_above_are_reported(client: InMemoryClient) -> None:
    browser = make_app(client)

    statuses = [browser.get(url, expect_errors=True).status_int for url in ("/broken", "/down")]

    assert statuses == [500, 503]
    types = [e["exception"]["values"][0]["type"] for e in client.events]
    assert types == ["HTTPInternalServerError", "HTTPServiceUnavailable"]


def test_a_posted_form_is_reported_scrubbed_and_the_view_still_reads_it(
    client: InMemoryClient,
) -> None:
    browser = make_app(client)

    with pytest.raises(PaymentDeclined):
        browser.post("/fail/1", {"order": "A-17", "password": "hunter2"})
    echoed = browser.post("/echo", {"order": "A-18"})

    assert only_event(client)["request"]["data"] == {"order": "A-17", "password": "********"}
    assert echoed.json == {"order": "A-18", "raw": "order=A-18"}


def test_a_json_body_is_reported_parsed(client: InMemoryClient) -> None:
    with pytest.raises(PaymentDeclined):
        make_app(client).post_json("/fail/1", {"order": "A-17", "password": "hunter2"})

    assert only_event(client)["request"]["data"] == {"order": "A-17", "password": "********"}


def test_large_bodies_are_left_out(client: InMemoryClient) -> None:
    with pytest.raises(PaymentDeclined):
        make_app(client).post("/fail/1", {"blob": "x" * 20000})

    assert "data" not in only_event(client)["request"]


# -- per-request context ---------------------------------------------------------------------------


def test_the_context_is_cleared_between_requests(client: InMemoryClient) -> None:
    browser = make_app(client)

    browser.get("/tag/first")
    with pytest.raises(RuntimeError):
        browser.get("/tag/fail", headers={"X-User": "grace"})

    event = only_event(client)
    assert event["tags"] == {"step": "fail"}
    assert event["user"]["id"] == "grace"


def test_threads_serving_at_the_same_time_keep_their_context_apart(
    client: InMemoryClient,
) -> None:
    both_tagged = threading.Barrier(2, timeout=10)

    def order(request: Any) -> Any:
        name = request.matchdict["name"]
        client.tags_context({"who": name})
        both_tagged.wait()
        if name == "ada":
            raise RuntimeError("ada's order failed")
        return Response("ok")

    with Configurator() as config:
        config.registry.sentry_client = client
        config.include("raven.contrib.pyramid")
        config.add_route("order", "/order/{name}")
        config.add_view(order, route_name="order")
        config.add_view(lambda exc, request: Response("sorry", status=500), context=Exception)
        browser = webtest.TestApp(config.make_wsgi_app())
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


# -- never hurting the app -------------------------------------------------------------------------


@pytest.mark.logs_sentry_errors
def test_a_failing_user_lookup_still_reports_the_exception(
    client: InMemoryClient,
    monkeypatch: pytest.MonkeyPatch,
    sentry_errors: List[logging.LogRecord],
) -> None:
    def broken(self: Any, request: Any) -> Any:
        raise LookupError("user database is down")

    monkeypatch.setattr(SentryTween, "get_user_info", broken)

    with pytest.raises(PaymentDeclined):
        make_app(client).get("/fail/3")

    assert only_event(client)["exception"]["values"][0]["type"] == "PaymentDeclined"
    assert any("Failed to record the Pyramid user" in r.getMessage() for r in sentry_errors)


@pytest.mark.logs_sentry_errors
def test_a_failure_describing_the_request_does_not_reach_the_view(
    client: InMemoryClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, request: Any) -> Any:
        raise KeyError("broken")

    monkeypatch.setattr(SentryTween, "get_http_info", broken)

    assert make_app(client).post("/echo", {"order": "A-1"}).json["order"] == "A-1"


# -- configuration ---------------------------------------------------------------------------------


def test_the_client_is_built_from_the_sentry_settings() -> None:
    client = client_from_settings(
        {
            "sentry.dsn": "http://public@127.0.0.1:9/3",
            "sentry.release": "1.4.2",
            "sentry.include_paths": "myshop\n  mylib",
            "sentry.auto_log_stacks": "false",
            "sentry.client_class": "raven.utils.testutils.InMemoryClient",
            "sentry.install_sys_hook": "false",
            "pyramid.reload_templates": "true",
        }
    )

    assert isinstance(client, InMemoryClient)
    assert client.remote.project == "3"
    assert client.release == "1.4.2"
    assert client.include_paths == {"myshop", "mylib"}
    assert client.auto_log_stacks is False


def test_a_bad_setting_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="auto_log_stacks"):
        make_app(settings={"sentry.auto_log_stacks": "maybe"})


def test_the_tween_uses_the_client_from_the_settings() -> None:
    browser = make_app(
        settings={
            "sentry.client_class": "raven.utils.testutils.InMemoryClient",
            "sentry.install_sys_hook": "false",
        }
    )
    client = get_client(browser.app.registry)

    with pytest.raises(PaymentDeclined):
        browser.get("/fail/1")

    assert isinstance(client, InMemoryClient)
    assert len(client.events) == 1


def test_add_tween_by_dotted_name_works_like_include(client: InMemoryClient) -> None:
    with Configurator() as config:
        config.registry.sentry_client = client
        config.add_tween("raven.contrib.pyramid.sentry_tween_factory", over=raven_pyramid.EXCVIEW)
        config.add_route("fail", "/fail/{order_id}")
        config.add_view(fail, route_name="fail")
        config.add_view(lambda exc, request: Response("sorry", status=500), context=Exception)
        browser = webtest.TestApp(config.make_wsgi_app())

    assert browser.get("/fail/5", expect_errors=True).status_int == 500
    assert only_event(client)["exception"]["values"][0]["value"] == "order 5 declined"


def test_excview_is_pyramids_own_name() -> None:
    from pyramid.tweens import EXCVIEW

    assert raven_pyramid.EXCVIEW == EXCVIEW


@pytest.fixture(autouse=True)
def _no_stray_handlers() -> Iterator[None]:
    """Pyramid's Configurator does not touch logging; keep it that way for these tests."""
    before = list(logging.getLogger().handlers)
    yield
    assert logging.getLogger().handlers == before
