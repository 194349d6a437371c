"""The Django middleware: current request and route, 404 reports, X-Sentry-ID, body caching."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List

import django
import pytest
from django.http import HttpResponse
from django.test import Client as Browser
from django.test import RequestFactory, override_settings

from raven.contrib.django.middleware import (
    DjangoRestFrameworkCompatMiddleware,
    MiddlewareMixin,
    Sentry404CatchMiddleware,
    SentryLogMiddleware,
    SentryMiddleware,
    SentryResponseErrorIdMiddleware,
    current_request,
    is_ignorable_404,
)
from raven.contrib.django.middleware.wsgi import Sentry as WSGISentry
from raven.contrib.django.models import client, get_client

Events = List[Dict[str, Any]]

CATCH_404 = "raven.contrib.django.middleware.Sentry404CatchMiddleware"
ERROR_ID = "raven.contrib.django.middleware.SentryResponseErrorIdMiddleware"
SENTRY = "raven.contrib.django.middleware.SentryMiddleware"
async_django = pytest.mark.skipif(
    django.VERSION < (3, 1), reason="async views and middleware need Django 3.1 or later"
)


def only(events: Events) -> Dict[str, Any]:
    assert len(events) == 1, [e.get("message") for e in events]
    return events[0]


# -- SentryMiddleware --------------------------------------------------------------------------


def test_a_message_captured_in_a_view_carries_the_request_and_route(events: Events) -> None:
    response = Browser().get("/message/?q=1", HTTP_X_TEST_USER="8")
    assert response.status_code == 200
    event = only(events)
    assert event["request"]["url"] == "http://testserver/message/"
    assert event["request"]["query_string"] == "q=1"
    assert event["user"]["username"] == "user8"
    assert event["transaction"] == "/message/"
    # the request is forgotten with the response, and so is the route
    assert current_request() is None
    assert client.transaction.peek() is None


def test_a_log_record_during_a_request_carries_it_through_the_django_handler(
    events: Events,
) -> None:
    from raven.contrib.django.handlers import SentryHandler

    handler = SentryHandler(level=logging.ERROR, tags={"source": "log"})
    logger = logging.getLogger("djangoproject.views")
    logger.addHandler(handler)
    try:
        assert Browser().get("/log/").status_code == 200
    finally:
        logger.removeHandler(handler)
    event = only(events)
    assert event["message"] == "something went wrong"
    assert event["request"]["url"] == "http://testserver/log/"
    assert event["tags"]["source"] == "log"
    assert event["logger"] == "djangoproject.views"
    assert event["extra"]["request"] == "<WSGIRequest: GET '/log/'>"


def test_without_the_middleware_errors_still_carry_request_and_route(events: Events) -> None:
    with override_settings(MIDDLEWARE=[]):
        try:
            Browser().get("/orders/3/pay/")
        except Exception:  # Django < 3.0 re-raises in the test client
            pass
    event = only(events)
    assert event["request"]["url"] == "http://testserver/orders/3/pay/"
    assert event["transaction"] == "/orders/{order_id}/pay/"


def test_the_middleware_can_be_built_bare_and_driven_by_hand(events: Events) -> None:
    middleware = SentryMiddleware()
    assert isinstance(middleware, MiddlewareMixin)
    assert SentryLogMiddleware is SentryMiddleware
    request = RequestFactory().get("/orders/5/pay/")
    from django.urls import resolve

    request.resolver_match = resolve(request.path_info)

    assert middleware.process_request(request) is None
    assert SentryMiddleware.thread.request is request
    assert middleware.process_view(request, None, (), {}) is None
    assert client.transaction.peek() == "/orders/{order_id}/pay/"
    client.captureMessage("by hand")
    response = HttpResponse("ok")
    assert middleware.process_response(request, response) is response

    assert only(events)["request"]["url"] == "http://testserver/orders/5/pay/"
    assert only(events)["transaction"] == "/orders/{order_id}/pay/"
    assert current_request() is None
    assert client.transaction.peek() is None


def test_a_bare_middleware_called_as_a_function_says_what_is_wrong() -> None:
    with pytest.raises(TypeError, match="without get_response"):
        SentryMiddleware()(RequestFactory().get("/"))


def test_the_request_and_route_are_forgotten_when_the_chain_raises() -> None:
    def explode(request: Any) -> Any:
        client.transaction.push("/inner/")
        raise RuntimeError("below the middleware")

    middleware = SentryMiddleware(explode)
    with pytest.raises(RuntimeError):
        middleware(RequestFactory().get("/"))
    assert current_request() is None


def test_the_thread_slot_reads_and_writes_the_current_request() -> None:
    request = RequestFactory().get("/")
    SentryMiddleware.thread.request = request
    assert current_request() is request
    del SentryMiddleware.thread.request
    assert SentryMiddleware.thread.request is None


# -- sync and async --------------------------------------------------------------------------------


def test_the_middleware_is_sync_and_async_capable() -> None:
    for cls in (
        SentryMiddleware,
        Sentry404CatchMiddleware,
        SentryResponseErrorIdMiddleware,
        DjangoRestFrameworkCompatMiddleware,
    ):
        assert cls.sync_capable and cls.async_capable
        assert cls(lambda request: HttpResponse()).async_mode is False


@async_django
def test_with_an_async_chain_the_middleware_is_a_coroutine_and_keeps_the_request() -> None:
    from asgiref.sync import iscoroutinefunction

    seen: List[Any] = []

    async def view(request: Any) -> HttpResponse:
        seen.append(current_request())
        await asyncio.sleep(0)
        return HttpResponse("ok")

    middleware = SentryMiddleware(view)
    assert iscoroutinefunction(middleware)
    assert iscoroutinefunction(middleware.process_view)
    request = RequestFactory().get("/ok/")
    response = asyncio.run(middleware(request))
    assert response.status_code == 200
    assert seen == [request]


@async_django
def test_under_asgi_the_404_report_is_made_off_the_event_loop(events: Events) -> None:
    loops: List[Any] = []

    async def missing(request: Any) -> HttpResponse:
        return HttpResponse(status=404)

    async def found(request: Any) -> HttpResponse:
        return HttpResponse("here")

    def capture(*args: Any, **kwargs: Any) -> Any:
        loops.append(asyncio._get_running_loop())
        return real_capture(*args, **kwargs)

    real_capture = get_client().captureMessage
    get_client().captureMessage = capture
    try:
        request = RequestFactory().get("/gone/")
        response = asyncio.run(Sentry404CatchMiddleware(missing)(request))
        assert asyncio.run(Sentry404CatchMiddleware(found)(RequestFactory().get("/"))).content
    finally:
        del get_client().captureMessage
    assert response.status_code == 404
    assert loops == [None]  # in a worker thread, where reading request.user may query
    assert only(events)["message"] == "Page Not Found: http://testserver/gone/"
    assert request.sentry["id"] == only(events)["event_id"]


# -- 404s and the event id -------------------------------------------------------------------------


def test_a_404_is_reported_as_a_message_with_the_event_id_header(events: Events) -> None:
    with override_settings(MIDDLEWARE=[ERROR_ID, SENTRY, CATCH_404]):
        response = Browser().get("/no-such-page/?x=1")
    assert response.status_code == 404
    event = only(events)
    assert event["message"] == "Page Not Found: http://testserver/no-such-page/"
    assert event["level"] == logging.INFO
    assert event["logger"] == "http404"
    assert event["request"]["method"] == "GET"
    assert event["request"]["query_string"] == "x=1"
    assert response["X-Sentry-ID"] == event["event_id"]


def test_ignorable_404s_are_not_reported(events: Events) -> None:
    import re

    with override_settings(
        MIDDLEWARE=[CATCH_404], IGNORABLE_404_URLS=[re.compile(r"^/favicon\.ico$")]
    ):
        assert Browser().get("/favicon.ico").status_code == 404
    assert events == []
    with override_settings(IGNORABLE_404_URLS=[re.compile(r"\.php$")]):
        assert is_ignorable_404("/wp-login.php")
        assert not is_ignorable_404("/login/")


def test_the_404_middleware_returns_the_response_when_nothing_was_captured(
    events: Events, monkeypatch: Any
) -> None:
    monkeypatch.setattr(get_client(), "captureMessage", lambda *args, **kwargs: None)
    request = RequestFactory().get("/missing/")
    response = HttpResponse(status=404)
    assert Sentry404CatchMiddleware().process_response(request, response) is response
    assert not hasattr(request, "sentry")


def test_other_responses_pass_the_404_middleware_untouched(events: Events) -> None:
    response = HttpResponse("fine")
    request = RequestFactory().get("/")
    assert Sentry404CatchMiddleware().process_response(request, response) is response
    assert SentryResponseErrorIdMiddleware().process_response(request, response) is response
    assert "X-Sentry-ID" not in response
    assert events == []


# -- body caching for stream readers ---------------------------------------------------------


def test_the_compat_middleware_keeps_a_small_json_body_for_the_report(events: Events) -> None:
    request = RequestFactory().post("/api/", '{"a": 1}', content_type="application/json")
    DjangoRestFrameworkCompatMiddleware().process_request(request)
    assert request.read() == b'{"a": 1}'  # the view streams it, as Django REST framework does
    client.captureMessage("api", request=request)
    assert only(events)["request"]["data"] == {"a": 1}


def test_the_compat_middleware_leaves_forms_and_big_bodies_alone() -> None:
    form = RequestFactory().post("/", {"a": "1"})
    DjangoRestFrameworkCompatMiddleware().process_request(form)
    assert "_body" not in form.__dict__
    big = RequestFactory().post("/", "x" * 50000, content_type="application/json")
    DjangoRestFrameworkCompatMiddleware().process_request(big)
    assert "_body" not in big.__dict__


# -- WSGI ------------------------------------------------------------------------------------------


def test_the_wsgi_middleware_reports_through_the_configured_client(events: Events) -> None:
    def application(environ: Any, start_response: Any) -> Any:
        raise OSError("the server is on fire")

    wrapped = WSGISentry(application)
    environ = RequestFactory().get("/wsgi/").environ
    with pytest.raises(OSError):
        wrapped(environ, lambda *args: None)
    event = only(events)
    assert event["exception"]["values"][0]["type"] == "OSError"
    assert wrapped.client == client
