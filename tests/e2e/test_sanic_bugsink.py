"""End to end: a Sanic handler failing on a real server, as a real Bugsink stored the event."""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from typing import Any, Dict, Iterator, List

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # websockets.legacy (sanic-testing)
    from sanic import Sanic

    try:
        import sanic_testing  # noqa: F401 - Sanic 21+ imports it lazily for app.test_client
    except ImportError:  # Sanic 20.12 has its own test client
        pass

from raven import Client
from raven.contrib.sanic import Sentry
from raven.transport.http import HTTPTransport

pytestmark = pytest.mark.e2e

log = logging.getLogger("shop.checkout")


class PaymentDeclined(Exception):
    pass


@pytest.fixture(autouse=True)
def _asyncio_policy() -> Iterator[None]:
    """Sanic's test server switches the process to uvloop: give the old policy back."""
    policy = asyncio.get_event_loop_policy()
    test_mode = Sanic.test_mode
    Sanic.test_mode = True
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(policy)
        Sanic.test_mode = test_mode


def make_shop(client: Client) -> Sanic:
    app = Sanic("raven_e2e_shop")
    # sanic-testing 24.6 passes the loop to a listener; Sanic's own filter would print it
    warnings.filterwarnings(
        "ignore",
        message=r"\[DEPRECATION v26\.6\] Passing the loop argument",
        category=DeprecationWarning,
    )

    @app.post("/checkout/<cart_id:int>")
    async def checkout(request: Any, cart_id: int) -> Any:
        sentry.tags_context({"cart": str(cart_id)})
        log.warning("checkout for cart %d", cart_id)
        raise PaymentDeclined("card declined for order %s" % request.form.get("order"))

    sentry = Sentry(app, client=client)
    return app


def tags_of(event: Dict[str, Any]) -> Dict[str, str]:
    tags = event.get("tags") or {}
    return dict(tags) if isinstance(tags, dict) else {k: v for k, v in tags}


def crumb_messages(event: Dict[str, Any]) -> List[Any]:
    crumbs = event.get("breadcrumbs") or []
    values = crumbs["values"] if isinstance(crumbs, dict) else crumbs
    return [crumb["message"] for crumb in values]


def test_a_failing_handler_is_stored_with_its_request_scrubbed(bugsink):
    client = Client(dsn=bugsink.dsn, transport=HTTPTransport, install_sys_hook=False)
    app = make_shop(client)

    request, response = app.test_client.post(
        "/checkout/17?step=pay",
        data={"order": "A-17", "password": "hunter2"},
        headers={"X-Request-Id": "req-7", "Cookie": "sessionid=s3ss10n"},
    )

    assert response.status == 500
    event_id = response.headers["X-Sentry-ID"]
    event = bugsink.wait_for_event(event_id)

    [value] = event["exception"]["values"]
    assert value["type"] == "PaymentDeclined"
    assert value["value"] == "card declined for order A-17"
    assert value["stacktrace"]["frames"][-1]["function"] == "checkout"

    req = event["request"]
    assert req["url"] == "http://%s/checkout/17" % request.host
    assert req["method"] == "POST"
    assert req["query_string"] == "step=pay"
    assert req["headers"]["X-Request-Id"] == "req-7"
    assert req["data"] == {"order": "A-17", "password": "********"}
    assert req["env"]["REMOTE_ADDR"] == "127.0.0.1"
    assert event["user"]["ip_address"] == "127.0.0.1"
    assert tags_of(event)["cart"] == "17"
    assert event["transaction"] == "/checkout/<cart_id:int>"
    assert crumb_messages(event)[-1] == "checkout for cart 17"
    assert "hunter2" not in json.dumps(event)
    assert "s3ss10n" not in json.dumps(event)
