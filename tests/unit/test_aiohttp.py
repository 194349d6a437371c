"""``raven.contrib.aiohttp`` on a real aiohttp server (``TestServer`` on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from raven.contrib.aiohttp import sentry_middleware, setup
from raven.exceptions import ConfigurationError
from raven.utils.testutils import InMemoryClient

log = logging.getLogger("shop.handlers")


class OrderFailed(Exception):
    pass


def make_app(client: InMemoryClient, with_setup: bool = True) -> web.Application:
    app = (
        web.Application()
        if with_setup
        else web.Application(middlewares=[sentry_middleware(client)])
    )
    if with_setup:
        setup(app, client)

    async def fail_order(request: web.Request) -> web.Response:
        form = await request.post()
        raise OrderFailed("order %s failed (%s)" % (request.match_info["order_id"], form["sku"]))

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"json": await request.json()})

    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def upstream(request: web.Request) -> web.Response:
        raise web.HTTPBadGateway(text="payments are down")

    async def report(request: web.Request) -> web.Response:
        return web.Response(text=client.captureMessage("looked at the basket") or "")

    async def tagged(request: web.Request) -> web.Response:
        shopper = request.headers["X-Shopper"]
        client.user_context({"id": shopper})
        client.tags_context({"shopper": shopper})
        for step in range(3):
            log.warning("%s step %d", shopper, step)
            await asyncio.sleep(0)
        raise OrderFailed("checkout failed for " + shopper)

    app.router.add_post("/orders/{order_id}", fail_order)
    app.router.add_post("/echo", echo)
    app.router.add_get("/missing", missing)
    app.router.add_get("/upstream", upstream)
    app.router.add_get("/report", report)
    app.router.add_get("/checkout", tagged)
    return app


Scenario = Callable[[TestClient], Awaitable[Any]]


def serve(app: web.Application, scenario: Scenario) -> Any:
    async def main() -> Any:
        async with TestClient(TestServer(app, host="127.0.0.1")) as browser:
            return await scenario(browser)

    return asyncio.run(main())


def test_a_failing_handler_is_reported_with_its_request_and_route(client):
    async def scenario(browser: TestClient) -> Tuple[int, Dict[str, str]]:
        response = await browser.post(
            "/orders/17?step=pay",
            data={"sku": "A-7", "password": "hunter2"},
            headers={"X-Request-Id": "req-1", "Cookie": "session=abc"},
        )
        return response.status, dict(response.headers)

    status, headers = serve(make_app(client), scenario)

    assert status == 500
    [event] = client.events
    assert headers["X-Sentry-ID"] == event["event_id"]
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("OrderFailed", "order 17 failed (A-7)")
    assert event["transaction"] == "/orders/{order_id}"
    request = event["request"]
    assert request["method"] == "POST"
    assert request["url"].startswith("http://127.0.0.1:")
    assert request["url"].endswith("/orders/17")
    assert request["query_string"] == "step=pay"
    assert request["headers"]["X-Request-Id"] == "req-1"
    assert request["cookies"] == {"session": "abc"}
    assert request["data"] == {"sku": "A-7", "password": "********"}
    assert request["env"]["REMOTE_ADDR"] == "127.0.0.1"
    assert request["env"]["SERVER_NAME"] == "127.0.0.1"


def test_the_handler_still_reads_a_body_that_was_reported(client):
    async def scenario(browser: TestClient) -> Any:
        response = await browser.post("/echo", json={"sku": "B-2"})
        return await response.json()

    assert serve(make_app(client), scenario) == {"json": {"sku": "B-2"}}
    assert client.events == []


def test_http_exceptions_below_500_are_not_reported(client):
    async def scenario(browser: TestClient) -> Tuple[int, Any]:
        response = await browser.get("/missing")
        return response.status, response.headers.get("X-Sentry-ID")

    assert serve(make_app(client), scenario) == (404, None)
    assert client.events == []


def test_http_exceptions_from_500_up_are_reported_with_the_id_in_their_response(client):
    async def scenario(browser: TestClient) -> Tuple[int, Any, str]:
        response = await browser.get("/upstream")
        return response.status, response.headers.get("X-Sentry-ID"), await response.text()

    status, event_id, text = serve(make_app(client, with_setup=False), scenario)

    [event] = client.events
    assert (status, text) == (502, "payments are down")
    assert event_id == event["event_id"]
    assert event["exception"]["values"][0]["type"] == "HTTPBadGateway"


def test_without_setup_the_500_aiohttp_writes_has_no_event_id(client):
    async def scenario(browser: TestClient) -> Tuple[int, Any]:
        response = await browser.post("/orders/3", data={"sku": "C"})
        return response.status, response.headers.get("X-Sentry-ID")

    assert serve(make_app(client, with_setup=False), scenario) == (500, None)
    assert len(client.events) == 1


def test_an_event_the_handler_captured_is_named_in_its_response(client):
    async def scenario(browser: TestClient) -> Tuple[str, Any]:
        response = await browser.get("/report")
        return await response.text(), response.headers.get("X-Sentry-ID")

    body, header = serve(make_app(client), scenario)

    [event] = client.events
    assert body == header == event["event_id"]


def test_concurrent_requests_each_report_only_their_own_user_tags_and_breadcrumbs(client):
    client.tags_context({"leftover": "start-up"})

    async def scenario(browser: TestClient) -> List[int]:
        responses = await asyncio.gather(
            *(browser.get("/checkout", headers={"X-Shopper": "s%02d" % i}) for i in range(20))
        )
        return [r.status for r in responses]

    assert serve(make_app(client), scenario) == [500] * 20

    assert len(client.events) == 20
    for event in client.events:
        shopper = event["request"]["headers"]["X-Shopper"]
        assert event["user"] == {"id": shopper}
        assert event["tags"] == {"shopper": shopper}
        crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
        assert crumbs == ["%s step %d" % (shopper, step) for step in range(3)]


def test_a_real_client_session_sees_the_header_too(client):
    async def main() -> Tuple[int, Any]:
        server = TestServer(make_app(client), host="127.0.0.1")
        await server.start_server()
        try:
            async with (
                ClientSession() as session,
                session.post(server.make_url("/orders/9"), data={"sku": "D"}) as response,
            ):
                return response.status, response.headers.get("X-Sentry-ID")
        finally:
            await server.close()

    status, event_id = asyncio.run(main())

    assert status == 500
    assert event_id == client.events[0]["event_id"]


def test_a_bad_max_body_size_fails_at_configuration_time(client):
    with pytest.raises(ConfigurationError, match="max_body_size"):
        sentry_middleware(client, max_body_size="10k")  # type: ignore[arg-type]
