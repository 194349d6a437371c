"""End to end: a Pyramid view failing under the raven tween, as a real Bugsink stored the event."""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any, Dict, List

import pytest

with warnings.catch_warnings():
    # webob imports the deprecated cgi module (3.11+); Pyramid imports pkg_resources
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", UserWarning)
    import webtest
    from pyramid.config import Configurator
    from pyramid.response import Response

from raven.contrib.pyramid import get_client

pytestmark = pytest.mark.e2e

log = logging.getLogger("shop.checkout")


class PaymentDeclined(Exception):
    pass


def checkout(request: Any) -> Any:
    log.warning("checkout for cart %s", request.matchdict["cart_id"])
    raise PaymentDeclined("card declined for order %s" % request.POST["order"])


def sorry(exc: Exception, request: Any) -> Any:
    return Response("sorry, something went wrong", status=500)


def crumb_messages(event: Dict[str, Any]) -> List[Any]:
    crumbs = event.get("breadcrumbs") or []
    values = crumbs["values"] if isinstance(crumbs, dict) else crumbs
    return [crumb["message"] for crumb in values]


def test_a_failing_view_is_stored_with_its_request_scrubbed(bugsink):
    settings = {
        "sentry.dsn": bugsink.dsn,
        "sentry.transport": "raven.transport.http.HTTPTransport",
        "sentry.install_sys_hook": "false",
        "pyramid.includes": "raven.contrib.pyramid",
    }
    with Configurator(settings=settings) as config:
        config.add_route("checkout", "/checkout/{cart_id}")
        config.add_view(checkout, route_name="checkout", request_method="POST")
        config.add_view(sorry, context=Exception)
        browser = webtest.TestApp(config.make_wsgi_app())
    browser.set_cookie("sessionid", "s3ss10n")

    response = browser.post(
        "/checkout/17?step=pay",
        {"order": "A-17", "password": "hunter2"},
        headers={"X-Request-Id": "req-7"},
        expect_errors=True,
    )

    assert (response.status_int, response.text) == (500, "sorry, something went wrong")
    event_id = response.headers["X-Sentry-ID"]
    assert get_client(browser.app.registry).last_event_id == event_id
    event = bugsink.wait_for_event(event_id)

    [value] = event["exception"]["values"]
    assert value["type"] == "PaymentDeclined"
    assert value["value"] == "card declined for order A-17"
    assert value["stacktrace"]["frames"][-1]["function"] == "checkout"

    req = event["request"]
    assert req["url"] == "http://localhost/checkout/17"
    assert req["method"] == "POST"
    assert req["query_string"] == "step=pay"
    assert req["headers"]["X-Request-Id"] == "req-7"
    assert req["data"] == {"order": "A-17", "password": "********"}
    assert event["transaction"] == "/checkout/{cart_id}"
    assert crumb_messages(event)[-1] == "checkout for cart 17"
    assert "hunter2" not in json.dumps(event)
    assert "s3ss10n" not in json.dumps(event)
