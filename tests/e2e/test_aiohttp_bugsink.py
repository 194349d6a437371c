"""End to end: an aiohttp handler failing on a real server, as a real Bugsink stored the event."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Dict, Tuple

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from raven import Client
from raven.contrib.aiohttp import setup

pytestmark = pytest.mark.e2e

log = logging.getLogger("shop.aiohttp")


class StockMissing(Exception):
    pass


def make_app(client: Client) -> web.Application:
    app = web.Application()
    setup(app, client)

    async def reserve(request: web.Request) -> web.Response:
        sku = (await request.post())["sku"]  # (a form kept in a local would show in its repr)
        client.user_context({"id": request.headers["X-Customer"]})
        log.warning("reserving %s", sku)
        raise StockMissing("no stock for %s" % sku)

    app.router.add_post("/warehouses/{warehouse}/reserve", reserve)
    return app


def test_a_failing_handler_is_stored_with_its_request_and_route(bugsink):
    # the default transport: events go out from raven's worker thread, not the event loop
    client = Client(dsn=bugsink.dsn, install_sys_hook=False)

    async def main() -> Tuple[int, Dict[str, Any]]:
        async with TestClient(TestServer(make_app(client), host="127.0.0.1")) as browser:
            response = await browser.post(
                "/warehouses/berlin/reserve?urgent=1",
                data={"sku": "A-7", "api_key": "k-123"},
                headers={"X-Customer": "grace"},
            )
            return response.status, dict(response.headers)

    status, headers = asyncio.run(main())
    try:
        assert status == 500
        event = bugsink.wait_for_event(headers["X-Sentry-ID"])
    finally:
        client.close(5)

    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("StockMissing", "no stock for A-7")
    assert event["transaction"] == "/warehouses/{warehouse}/reserve"
    req = event["request"]
    assert req["method"] == "POST"
    assert req["url"].endswith("/warehouses/berlin/reserve")
    assert req["query_string"] == "urgent=1"
    assert req["data"] == {"sku": "A-7", "api_key": "********"}
    assert req["env"]["REMOTE_ADDR"] == "127.0.0.1"
    assert event["user"]["id"] == "grace"
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["reserving A-7"]
    assert "k-123" not in json.dumps(event)
