"""``raven.contrib.asgi.SentryAsgiMiddleware`` around real Starlette and FastAPI apps, and raw ASGI.

Starlette's ``TestClient`` drives the apps; the concurrency test runs requests side by side on
one event loop through httpx's ``ASGITransport``. ``httpx2`` (installed for the tests) keeps the
TestClient from warning that plain httpx is deprecated for it.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any, Dict, List
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from raven.contrib.asgi import SentryAsgiMiddleware
from raven.exceptions import ConfigurationError
from raven.utils.testutils import InMemoryClient

with warnings.catch_warnings():
    # Starlette asks for httpx2 for its TestClient (the test extra installs it); without it,
    # the TestClient still works on httpx but warns once, at import
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

log = logging.getLogger("shop.views")


class OrderFailed(Exception):
    pass


async def fail_order(request: Request) -> PlainTextResponse:
    raise OrderFailed("order %s failed" % request.path_params["order_id"])


async def fail_with_json(request: Request) -> PlainTextResponse:
    body = await request.json()
    raise OrderFailed("could not place %s" % body["sku"])


async def echo(request: Request) -> JSONResponse:
    raw = (await request.body()).decode("latin-1")
    is_form = request.headers.get("content-type", "").startswith("application/x-www-form")
    return JSONResponse({"raw": raw, "form": dict(parse_qsl(raw)) if is_form else {}})


def sync_fail(request: Request) -> PlainTextResponse:
    raise KeyError("stock")


async def report_itself(request: Request) -> PlainTextResponse:
    client = request.app.state.raven
    event_id = client.captureMessage("looked at the basket")
    return PlainTextResponse(event_id)


async def tag_and_fail(request: Request) -> PlainTextResponse:
    client = request.app.state.raven
    client.tags_context({"step": request.query_params["step"]})
    log.warning("paying for %s", request.query_params["step"])
    raise OrderFailed("tagged failure")


async def socket_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("echo " + await websocket.receive_text())
    await websocket.close()


def make_app(client: InMemoryClient) -> Starlette:
    shop = Starlette(routes=[Route("/orders/{order_id:int}", fail_order, methods=["GET", "POST"])])
    app = Starlette(
        routes=[
            Route("/json", fail_with_json, methods=["POST"]),
            Route("/echo", echo, methods=["POST"]),
            Route("/sync", sync_fail),
            Route("/report", report_itself),
            Route("/tag", tag_and_fail),
            WebSocketRoute("/ws", socket_echo),
            Mount("/shop", shop),
        ]
    )
    app.state.raven = client
    return app


@pytest.fixture
def browser(client: InMemoryClient) -> TestClient:
    return TestClient(SentryAsgiMiddleware(make_app(client), client=client))


def test_a_failing_view_is_reported_with_its_request_and_route(client, browser):
    with pytest.raises(OrderFailed):
        browser.get(
            "/shop/orders/17?step=pay&lang=en",
            headers={"X-Request-Id": "req-1", "Cookie": "session=abc; theme=dark"},
        )

    [event] = client.events
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("OrderFailed", "order 17 failed")
    assert event["transaction"] == "/shop/orders/{order_id}"
    request = event["request"]
    assert request["url"] == "http://testserver/shop/orders/17"
    assert request["method"] == "GET"
    assert request["query_string"] == "step=pay&lang=en"
    assert request["headers"]["X-Request-Id"] == "req-1"
    assert request["headers"]["Host"] == "testserver"
    assert request["cookies"] == {"session": "abc", "theme": "dark"}
    assert request["env"] == {
        "REMOTE_ADDR": "testclient",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
    }
    assert "data" not in request


def test_the_error_response_carries_the_event_id(client):
    browser = TestClient(
        SentryAsgiMiddleware(make_app(client), client=client), raise_server_exceptions=False
    )

    response = browser.get("/shop/orders/3")

    assert response.status_code == 500
    [event] = client.events
    assert response.headers["X-Sentry-ID"] == event["event_id"]


def test_a_sync_view_run_in_the_thread_pool_is_reported_once(client):
    browser = TestClient(
        SentryAsgiMiddleware(make_app(client), client=client), raise_server_exceptions=False
    )

    response = browser.get("/sync")

    [event] = client.events
    assert event["exception"]["values"][0]["type"] == "KeyError"
    assert event["transaction"] == "/sync"
    assert response.headers["X-Sentry-ID"] == event["event_id"]


def test_a_small_json_body_is_reported_and_the_app_still_reads_it(client, browser):
    with pytest.raises(OrderFailed, match="could not place A-7"):
        browser.post("/json", json={"sku": "A-7", "password": "hunter2"})

    [event] = client.events
    assert event["request"]["data"] == {"sku": "A-7", "password": "********"}
    assert event["request"]["headers"]["Content-Type"] == "application/json"


def test_a_form_body_is_replayed_to_the_app_unchanged(client, browser):
    response = browser.post("/echo", data={"order": "A-17", "qty": "2"})

    assert response.json() == {"raw": "order=A-17&qty=2", "form": {"order": "A-17", "qty": "2"}}
    assert client.events == []


def test_bodies_that_are_too_large_or_not_form_or_json_are_left_to_the_app(client):
    app = make_app(client)
    browser = TestClient(SentryAsgiMiddleware(app, client=client, max_body_size=8))

    big = browser.post("/echo", data={"order": "A-17-and-more"})
    text = browser.post("/echo", content=b"plain", headers={"Content-Type": "text/plain"})

    assert big.json()["form"] == {"order": "A-17-and-more"}
    assert text.json()["raw"] == "plain"


def test_body_messages_read_for_the_report_are_replayed_in_order():
    seen: List[Dict[str, Any]] = []
    client = InMemoryClient(install_sys_hook=False, hook_libraries=[])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        raise OrderFailed("after reading")

    incoming = [
        {"type": "http.request", "body": b'{"sku": ', "more_body": True},
        {"type": "http.request", "body": b'"B-2"}', "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        pass

    scope = http_scope(headers=[(b"content-type", b"application/json"), (b"content-length", b"14")])
    with pytest.raises(OrderFailed):
        asyncio.run(SentryAsgiMiddleware(app, client=client)(scope, receive, send))

    assert [m.get("body") for m in seen] == [b'{"sku": ', b'"B-2"}']
    assert client.events[0]["request"]["data"] == {"sku": "B-2"}


def test_a_client_that_went_away_mid_body_is_replayed_as_such():
    seen: List[Dict[str, Any]] = []
    client = InMemoryClient(install_sys_hook=False, hook_libraries=[])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())
        seen.append(await receive())
        raise OrderFailed("client left")

    incoming = [
        {"type": "http.request", "body": b"order=", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        pass

    scope = http_scope(
        headers=[(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"9")]
    )
    with pytest.raises(OrderFailed):
        asyncio.run(SentryAsgiMiddleware(app, client=client)(scope, receive, send))

    assert [m["type"] for m in seen] == ["http.request", "http.disconnect"]
    assert "data" not in client.events[0]["request"]  # half a body is not reported


def test_a_failing_receive_reaches_the_app_after_what_did_arrive():
    client = InMemoryClient(install_sys_hook=False, hook_libraries=[])
    seen: List[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())
        try:
            await receive()
        except ConnectionResetError as exc:
            seen.append(exc)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    calls = iter(
        [{"type": "http.request", "body": b"{", "more_body": True}, ConnectionResetError("gone")]
    )

    async def receive() -> Dict[str, Any]:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    sent: List[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = http_scope(headers=[(b"content-type", b"application/json"), (b"content-length", b"2")])
    asyncio.run(SentryAsgiMiddleware(app, client=client)(scope, receive, send))

    assert seen[0]["body"] == b"{"
    assert isinstance(seen[1], ConnectionResetError)
    assert sent[0]["status"] == 200


def test_http_exceptions_are_responses_not_errors(client):
    api = FastAPI()

    @api.get("/items/{item_id}")
    async def read_item(item_id: int) -> Dict[str, int]:
        raise HTTPException(status_code=404, detail="no such item")

    response = TestClient(SentryAsgiMiddleware(api, client=client)).get("/items/4")

    assert response.status_code == 404
    assert client.events == []
    assert "X-Sentry-ID" not in response.headers


def test_fastapi_add_middleware_reports_with_the_route_template(client):
    api = FastAPI()
    api.add_middleware(SentryAsgiMiddleware, client=client)

    @api.post("/items/{item_id}/buy")
    async def buy(item_id: int, payload: Dict[str, Any]) -> Dict[str, Any]:
        raise OrderFailed("cannot buy %d x%d" % (item_id, payload["qty"]))

    response = TestClient(api, raise_server_exceptions=False).post("/items/5/buy", json={"qty": 3})

    assert response.status_code == 500
    [event] = client.events
    assert event["exception"]["values"][0]["value"] == "cannot buy 5 x3"
    assert event["transaction"] == "/items/{item_id}/buy"
    assert event["request"]["data"] == {"qty": 3}


def test_an_event_the_view_captured_is_named_in_its_response(client, browser):
    response = browser.get("/report")

    [event] = client.events
    assert response.status_code == 200
    assert response.text == event["event_id"]
    assert response.headers["X-Sentry-ID"] == event["event_id"]


def test_each_request_starts_with_a_fresh_context(client, browser):
    client.tags_context({"leftover": "start-up"})

    for step in ("cart", "pay"):
        with pytest.raises(OrderFailed):
            browser.get("/tag?step=" + step)

    first, second = client.events
    assert first["tags"]["step"] == "cart"
    assert "leftover" not in first["tags"]
    assert second["tags"]["step"] == "pay"
    crumbs = [c["message"] for c in second["breadcrumbs"]["values"]]
    assert crumbs == ["paying for pay"]


def test_websocket_and_lifespan_scopes_pass_through_untouched(client):
    calls: List[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append((scope, receive, send))

    async def receive() -> Dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        pass

    middleware = SentryAsgiMiddleware(app, client=client)
    for scope in ({"type": "lifespan"}, {"type": "websocket", "path": "/ws", "headers": []}):
        asyncio.run(middleware(scope, receive, send))

    assert [(s["type"], r, w) for s, r, w in calls] == [
        ("lifespan", receive, send),
        ("websocket", receive, send),
    ]


def test_a_websocket_still_works_through_the_middleware(client, browser):
    with browser.websocket_connect("/ws") as socket:
        socket.send_text("hi")
        assert socket.receive_text() == "echo hi"
    assert client.events == []


def test_a_bad_max_body_size_fails_at_configuration_time(client):
    with pytest.raises(ConfigurationError, match="max_body_size"):
        SentryAsgiMiddleware(make_app(client), client=client, max_body_size=-1)


@pytest.mark.logs_sentry_errors
def test_a_malformed_scope_is_logged_and_the_app_still_runs(client, sentry_errors):
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: List[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = http_scope(headers=[("content-type", "not bytes")])
    asyncio.run(SentryAsgiMiddleware(app, client=client)(scope, receive, send))

    assert sent[0]["status"] == 204
    assert any("ASGI request" in r.getMessage() for r in sentry_errors)


def test_fifty_concurrent_requests_each_report_only_their_own_user_and_tags():
    client = InMemoryClient(install_sys_hook=False, hook_libraries=[])

    async def checkout(request: Request) -> PlainTextResponse:
        shopper = request.headers["X-Shopper"]
        client.user_context({"id": shopper})
        client.tags_context({"shopper": shopper})
        for step in range(3):
            log.warning("%s step %d", shopper, step)
            await asyncio.sleep(0)  # let the other requests run in between
        client.tags_context({"basket": "basket-" + shopper})
        raise OrderFailed("checkout failed for " + shopper)

    app = SentryAsgiMiddleware(Starlette(routes=[Route("/checkout", checkout)]), client=client)

    async def shop() -> List[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as browser:
            return await asyncio.gather(
                *(browser.get("/checkout", headers={"X-Shopper": "s%02d" % i}) for i in range(50))
            )

    responses = asyncio.run(shop())

    assert [r.status_code for r in responses] == [500] * 50
    assert len(client.events) == 50
    by_shopper = {}
    for event in client.events:
        shopper = event["request"]["headers"]["X-Shopper"]
        by_shopper[shopper] = event
        assert event["user"] == {"id": shopper}
        assert event["tags"] == {"shopper": shopper, "basket": "basket-" + shopper}
        assert event["exception"]["values"][0]["value"] == "checkout failed for " + shopper
        crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
        assert crumbs == ["%s step %d" % (shopper, step) for step in range(3)]
    assert sorted(by_shopper) == ["s%02d" % i for i in range(50)]
    ids = {r.headers["X-Sentry-ID"]: r for r in responses}
    assert set(ids) == {e["event_id"] for e in client.events}


def http_scope(headers: List[Any]) -> Dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/raw",
        "raw_path": b"/raw",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
