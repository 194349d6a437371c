"""End to end: a FastAPI view failing behind ``SentryAsgiMiddleware``, as Bugsink stored it."""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any, Dict

import pytest
from fastapi import Depends, FastAPI, Request

from raven import Client
from raven.contrib.asgi import SentryAsgiMiddleware
from raven.transport.http import HTTPTransport

with warnings.catch_warnings():
    # Starlette asks for httpx2 for its TestClient (the test extra installs it); without it,
    # the TestClient still works on httpx but warns once, at import
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.e2e

log = logging.getLogger("shop.api")


class PaymentDeclined(Exception):
    pass


def make_api(client: Client) -> FastAPI:
    api = FastAPI()

    # async: context set in a sync dependency (run in the thread pool) would stay in that
    # thread's copy of the request's context, out of reach of the middleware's report
    async def current_customer(request: Request) -> str:
        customer = request.headers["X-Customer"]
        client.user_context({"id": customer, "email": customer + "@example.com"})
        return customer

    @api.post("/carts/{cart_id}/checkout")
    async def checkout(
        cart_id: int, payload: Dict[str, Any], customer: str = Depends(current_customer)
    ) -> Dict[str, Any]:
        client.tags_context({"cart": str(cart_id)})
        log.warning("checkout of cart %d for %s", cart_id, customer)
        raise PaymentDeclined("card declined for cart %d" % cart_id)

    return api


def test_a_failing_fastapi_view_is_stored_with_request_user_and_route(bugsink):
    client = Client(dsn=bugsink.dsn, transport=HTTPTransport, install_sys_hook=False)
    browser = TestClient(
        SentryAsgiMiddleware(make_api(client), client=client), raise_server_exceptions=False
    )

    response = browser.post(
        "/carts/41/checkout?coupon=SPRING",
        json={"card": "4111", "password": "hunter2"},
        headers={"X-Customer": "ada", "X-Request-Id": "req-asgi-1"},
    )

    assert response.status_code == 500
    event = bugsink.wait_for_event(response.headers["X-Sentry-ID"])

    [value] = event["exception"]["values"]
    assert value["type"] == "PaymentDeclined"
    assert value["value"] == "card declined for cart 41"
    assert value["stacktrace"]["frames"][-1]["function"] == "checkout"
    assert event["transaction"] == "/carts/{cart_id}/checkout"
    req = event["request"]
    assert req["url"] == "http://testserver/carts/41/checkout"
    assert req["method"] == "POST"
    assert req["query_string"] == "coupon=SPRING"
    assert req["headers"]["X-Request-Id"] == "req-asgi-1"
    assert req["data"] == {"card": "4111", "password": "********"}
    assert event["user"]["id"] == "ada"
    assert event["user"]["email"] == "ada@example.com"
    assert event["tags"]["cart"] == "41"
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["checkout of cart 41 for ada"]
    # (FastAPI's own frames hold the raw body in their locals; the request itself is scrubbed)
    assert "hunter2" not in json.dumps(req)
