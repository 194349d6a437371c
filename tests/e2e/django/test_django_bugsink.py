"""End to end: Django views failing under WSGI and ASGI, as a real Bugsink stored the events."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Tuple

import django
import pytest
from django.contrib.auth.models import User
from django.test import Client as Browser

pytestmark = pytest.mark.e2e

needs_async = pytest.mark.skipif(
    django.VERSION < (3, 1), reason="async views and the ASGI handler's async path need Django 3.1"
)


class _Failed:
    """What Django < 3.0's test client gives instead of a 500 response: it re-raises."""

    status_code = 500
    content = b""

    def __init__(self, event_id: str) -> None:
        self.headers = {"X-Sentry-ID": event_id}

    def __getitem__(self, name: str) -> str:
        return self.headers[name]


class _RaisingBrowser(Browser):  # type: ignore[misc]
    def request(self, **request: Any) -> Any:
        try:
            return super().request(**request)
        except Exception:
            from raven.contrib.django.models import client

            return _Failed(client.last_event_id)


def browser() -> Browser:
    if django.VERSION >= (3, 0):
        return Browser(raise_request_exception=False)
    return _RaisingBrowser()


def event_id_of(response: Any) -> str:
    assert response.status_code == 500, response.content[:300]
    return str(response["X-Sentry-ID"])


def test_a_failing_view_is_stored_with_its_request_and_route(reported_to: Any) -> None:
    response = browser().get("/orders/17/pay/?step=confirm", HTTP_X_REQUEST_ID="req-7")

    event = reported_to.wait_for_event(event_id_of(response))

    [value] = event["exception"]["values"]
    assert value["type"] == "PaymentDeclined"
    assert value["value"] == "card declined for order 17"
    assert value["stacktrace"]["frames"][-1]["function"] == "pay"
    request = event["request"]
    assert request["url"] == "http://testserver/orders/17/pay/"
    assert request["method"] == "GET"
    assert request["query_string"] == "step=confirm"
    assert request["headers"]["X-Request-Id"] == "req-7"
    assert event["transaction"] == "/orders/{order_id}/pay/"  # no trailing Z
    assert event["release"] == "shop@1.0"
    assert event["tags"]["site"] == "example.com"


def test_a_template_error_is_stored_with_the_template_lines(reported_to: Any) -> None:
    response = browser().get("/template-error/")

    event = reported_to.wait_for_event(event_id_of(response))

    assert event["culprit"] == "error.html"
    template = event["contexts"]["template"]
    assert template["filename"] == "error.html"
    assert template["lineno"] == 4
    assert template["context_line"] == "<p>{{ thing.explode }}</p>\n"
    assert template["pre_context"][-1] == "<h1>Order</h1>\n"
    assert template["post_context"][0] == "<p>footer</p>\n"
    assert event["exception"]["values"][-1]["value"] == "the template asked for something broken"


def test_a_logged_in_user_is_stored_with_the_event(reported_to: Any) -> None:
    user = User.objects.create_user("ada-e2e", "ada@example.com", "correct horse")
    user_id = user.pk
    try:
        b = browser()
        assert b.login(username="ada-e2e", password="correct horse")
        response = b.get("/boom/")
        event = reported_to.wait_for_event(event_id_of(response))
    finally:
        user.delete()

    assert event["user"]["id"] == str(user_id)
    assert event["user"]["username"] == "ada-e2e"
    assert event["user"]["email"] == "ada@example.com"
    assert event["user"]["ip_address"] == "127.0.0.1"
    assert "sessionid" in event["request"]["cookies"]


def test_a_posted_password_is_scrubbed_before_it_leaves(reported_to: Any) -> None:
    response = browser().post("/echo/?read=post&fail=1", {"username": "ada", "password": "hunter2"})

    event = reported_to.wait_for_event(event_id_of(response))

    assert event["request"]["method"] == "POST"
    assert event["request"]["data"] == {"username": "ada", "password": "********"}
    assert "hunter2" not in json.dumps(event)


def test_a_form_login_keeps_the_password_out_of_the_sql_and_the_request(reported_to: Any) -> None:
    response = browser().post(
        "/echo/?read=none&fail=1",
        "username=ada&password=s3cret-pw",
        content_type="application/x-www-form-urlencoded",
    )
    event = reported_to.wait_for_event(event_id_of(response))
    assert event["request"]["data"]["password"] == "********"
    assert "s3cret-pw" not in json.dumps(event)


@needs_async
def test_an_async_view_under_asgi_is_stored_with_its_user_and_tags(reported_to: Any) -> None:
    from django.test import AsyncClient

    # AsyncClient takes headers= from Django 4.2; before, extra keywords were the headers
    header: Dict[str, Any] = (
        {"headers": {"X-Test-User": "7"}} if django.VERSION >= (4, 2) else {"x-test-user": "7"}
    )

    async def main() -> Any:
        return await AsyncClient(raise_request_exception=False).get("/async/fail/7/", **header)

    response = asyncio.run(main())

    event = reported_to.wait_for_event(event_id_of(response))
    assert event["exception"]["values"][-1]["value"] == "async request 7 failed"
    assert event["user"]["id"] == "7"
    assert event["user"]["username"] == "user7"
    assert event["tags"]["request_number"] == "7"
    assert event["transaction"] == "/async/fail/{number}/"
    assert event["request"]["url"] == "http://testserver/async/fail/7/"


@needs_async
def test_concurrent_asgi_requests_are_stored_each_with_only_their_own_user(
    reported_to: Any,
) -> None:
    from django.core.asgi import get_asgi_application

    app = get_asgi_application()

    async def call(number: int) -> Tuple[int, str]:
        path = "/async/fail/%d/" % number
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"x-test-user", str(number).encode())],
            "client": ("127.0.0.1", 41000 + number),
            "server": ("testserver", 80),
        }
        incoming = [{"type": "http.request", "body": b"", "more_body": False}]
        never = asyncio.get_running_loop().create_future()
        sent: List[Dict[str, Any]] = []

        async def receive() -> Any:
            return incoming.pop() if incoming else await never

        async def send(message: Dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        [start] = [m for m in sent if m["type"] == "http.response.start"]
        headers = {k.lower(): v for k, v in start["headers"]}
        return number, headers[b"x-sentry-id"].decode()

    async def main() -> List[Tuple[int, str]]:
        return await asyncio.gather(*(call(n) for n in range(11, 17)))

    for number, event_id in asyncio.run(main()):
        event = reported_to.wait_for_event(event_id)
        assert event["user"]["id"] == str(number)
        assert event["tags"]["request_number"] == str(number)
        assert event["request"]["url"] == "http://testserver/async/fail/%d/" % number
        crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
        assert crumbs == ["handling request %d" % number]
