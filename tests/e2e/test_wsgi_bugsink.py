"""End to end: a request failing under ``raven.middleware.Sentry``, as a real Bugsink stored it."""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any, Dict, List

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # webob imports cgi (3.11+)
    import webob
    import webtest

from raven import Client
from raven.middleware import Sentry
from raven.transport.http import HTTPTransport

pytestmark = pytest.mark.e2e

log = logging.getLogger("shop.checkout")


class PaymentDeclined(Exception):
    pass


def checkout(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
    request = webob.Request(environ)
    user = request.POST["user"]
    log.warning("checkout for %s", user)
    if request.path_info.endswith("/fail"):
        raise PaymentDeclined("card declined for %s" % user)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"paid"]


def crumb_messages(event: Dict[str, Any]) -> List[Any]:
    crumbs = event.get("breadcrumbs") or []
    values = crumbs["values"] if isinstance(crumbs, dict) else crumbs
    return [crumb["message"] for crumb in values]


def test_a_failed_post_is_stored_with_its_request_scrubbed_and_only_its_breadcrumbs(bugsink):
    client = Client(dsn=bugsink.dsn, transport=HTTPTransport, install_sys_hook=False)
    app = webtest.TestApp(Sentry(checkout, client))
    log.warning("shop starting")  # start-up noise, before any request
    assert app.post("/checkout/ok", {"user": "grace", "password": "other"}).body == b"paid"

    app.set_cookie("sessionid", "s3ss10n-t0k3n")
    app.set_cookie("theme", "dark")
    with pytest.raises(PaymentDeclined):
        app.post(
            "/checkout/fail?step=2&coupon=SPRING",
            {"user": "ada", "password": "hunter2", "qty": "3"},
            headers={"X-Request-Id": "req-42", "User-Agent": "e2e-test/1.0"},
        )
    event_id = client.last_event_id
    assert event_id, "the middleware did not capture the failure"

    event = bugsink.wait_for_event(event_id)

    [value] = event["exception"]["values"]
    assert value["type"] == "PaymentDeclined"
    assert value["value"] == "card declined for ada"
    assert value["stacktrace"]["frames"][-1]["function"] == "checkout"

    request = event["request"]
    assert request["url"] == "http://localhost/checkout/fail"
    assert request["method"] == "POST"
    assert request["query_string"] == "step=2&coupon=SPRING"
    headers = request["headers"]
    assert headers["X-Request-Id"] == "req-42"
    assert headers["User-Agent"] == "e2e-test/1.0"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["Host"] == "localhost:80"
    assert request["cookies"] == {"sessionid": "********", "theme": "dark"}
    assert request["data"] == {"user": "ada", "password": "********", "qty": "3"}
    assert request["env"]["SERVER_NAME"] == "localhost"

    stored = json.dumps(event)
    assert "hunter2" not in stored
    assert "s3ss10n-t0k3n" not in stored
    assert crumb_messages(event) == ["checkout for ada"]
