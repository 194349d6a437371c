"""End to end: a web.py handler failing in a ``SentryApplication``, as a real Bugsink stored it."""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any, Dict, Iterator, List

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # web.py before 0.70 imports cgi
    import web

from raven import Client
from raven.contrib.webpy import SentryApplication
from raven.transport.http import HTTPTransport

pytestmark = pytest.mark.e2e

log = logging.getLogger("shop.checkout")


class PaymentDeclined(Exception):
    pass


class checkout:
    def POST(self, cart_id: str) -> str:
        log.warning("checkout for cart %s", cart_id)
        raise PaymentDeclined("card declined for order %s" % web.input().order)


@pytest.fixture(autouse=True)
def _production_mode() -> Iterator[None]:
    debug = web.config.get("debug")
    web.config.debug = False
    yield
    web.config.debug = debug


def crumb_messages(event: Dict[str, Any]) -> List[Any]:
    crumbs = event.get("breadcrumbs") or []
    values = crumbs["values"] if isinstance(crumbs, dict) else crumbs
    return [crumb["message"] for crumb in values]


def test_a_failing_handler_is_stored_with_its_request_scrubbed(bugsink):
    client = Client(dsn=bugsink.dsn, transport=HTTPTransport, install_sys_hook=False)
    app = SentryApplication(
        client, mapping=("/checkout/(\\d+)", "checkout"), fvars=globals(), autoreload=False
    )

    response = app.request(
        "/checkout/17?step=pay",
        method="POST",
        data={"order": "A-17", "password": "hunter2"},
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Request-Id": "req-7",
            "Cookie": "sessionid=s3ss10n",
        },
    )

    assert response.status.startswith("500")
    event = bugsink.wait_for_event(client.last_event_id)

    [value] = event["exception"]["values"]
    assert value["type"] == "PaymentDeclined"
    assert value["value"] == "card declined for order A-17"
    assert value["stacktrace"]["frames"][-1]["function"] == "POST"

    req = event["request"]
    assert req["url"] == "http://0.0.0.0:8080/checkout/17"
    assert req["method"] == "POST"
    assert req["query_string"] == "step=pay"
    assert req["headers"]["X-Request-Id"] == "req-7"
    assert req["data"] == {"order": "A-17", "password": "********"}
    assert crumb_messages(event)[-1] == "checkout for cart 17"
    assert "hunter2" not in json.dumps(event)
    assert "s3ss10n" not in json.dumps(event)
