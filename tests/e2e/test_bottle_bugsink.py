"""End to end: a Bottle handler failing under raven.contrib.bottle.Sentry, as Bugsink stored it."""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any, Dict, List

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # webob and Bottle 0.12 import cgi
    import bottle
    import webtest

from raven import Client
from raven.contrib.bottle import Sentry
from raven.transport.http import HTTPTransport

pytestmark = pytest.mark.e2e

log = logging.getLogger("shop.checkout")


class PaymentDeclined(Exception):
    pass


def make_shop() -> bottle.Bottle:
    app = bottle.Bottle()

    @app.post("/checkout/<cart_id:int>")
    def checkout(cart_id: int) -> str:
        log.warning("checkout for cart %d", cart_id)
        raise PaymentDeclined("card declined for order %s" % bottle.request.forms.get("order"))

    return app


def crumb_messages(event: Dict[str, Any]) -> List[Any]:
    crumbs = event.get("breadcrumbs") or []
    values = crumbs["values"] if isinstance(crumbs, dict) else crumbs
    return [crumb["message"] for crumb in values]


def test_a_failing_handler_is_stored_with_its_request_scrubbed(bugsink):
    client = Client(dsn=bugsink.dsn, transport=HTTPTransport, install_sys_hook=False)
    browser = webtest.TestApp(Sentry(make_shop(), client))
    browser.set_cookie("sessionid", "s3ss10n")

    response = browser.post(
        "/checkout/17?step=pay",
        {"order": "A-17", "password": "hunter2"},
        headers={"X-Request-Id": "req-7"},
        expect_errors=True,
    )

    assert response.status_int == 500  # Bottle's own error page
    event_id = response.headers["X-Sentry-ID"]
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
    assert crumb_messages(event)[-1] == "checkout for cart 17"
    assert "hunter2" not in json.dumps(event)
    assert "s3ss10n" not in json.dumps(event)
