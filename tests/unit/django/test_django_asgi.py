"""Django under ASGI: concurrent requests on one event loop keep their reports apart.

raven 6.10 kept the context and the current request in thread-locals; an ASGI server runs
every request on the same thread, so one request's user, tags and breadcrumbs ended up in
another's report. Here each request is an asyncio task with its own context.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Dict, List, Tuple

import django
import pytest

from raven.contrib.django.models import client

pytestmark = pytest.mark.skipif(
    django.VERSION < (3, 1), reason="async views and the ASGI handler's async path need Django 3.1"
)

Events = List[Dict[str, Any]]


def scope(path: str, user: int) -> Dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"x-test-user", str(user).encode())],
        "client": ("127.0.0.1", 40000 + user),
        "server": ("testserver", 80),
    }


async def call(app: Any, path: str, user: int) -> Tuple[int, Dict[bytes, bytes]]:
    """One request through the ASGI application, as a server would make it."""
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]
    never = asyncio.get_running_loop().create_future()  # no disconnect while it runs
    sent: List[Dict[str, Any]] = []

    async def receive() -> Dict[str, Any]:
        if incoming:
            return incoming.pop()
        return await never  # type: ignore[no-any-return]

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    await app(scope(path, user), receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], {name.lower(): value for name, value in start["headers"]}


def by_number(events: Events) -> Dict[int, Dict[str, Any]]:
    return {int(e["request"]["url"].rstrip("/").rsplit("/", 1)[1]): e for e in events}


def crumbs(event: Dict[str, Any]) -> List[str]:
    return [c["message"] for c in (event.get("breadcrumbs") or {}).get("values", [])]


def test_fifty_concurrent_failing_requests_each_report_only_their_own_user_and_tags(
    events: Events,
) -> None:
    from django.core.asgi import get_asgi_application

    app = get_asgi_application()
    numbers = range(1, 51)

    async def main() -> List[Tuple[int, Dict[bytes, bytes]]]:
        return await asyncio.gather(*(call(app, "/async/fail/%d/" % n, n) for n in numbers))

    responses = asyncio.run(main())

    assert [status for status, _ in responses] == [500] * 50
    assert len(events) == 50
    reports = by_number(events)
    assert sorted(reports) == list(numbers)
    for n, event in reports.items():
        assert event["user"] == {
            "ip_address": "127.0.0.1",
            "id": n,
            "email": "user%d@example.com" % n,
            "username": "user%d" % n,
        }
        assert event["tags"]["request_number"] == str(n)
        assert event["extra"]["number"] == str(n)
        assert event["exception"]["values"][-1]["value"] == "async request %d failed" % n
        assert event["transaction"] == "/async/fail/{number}/"
        assert crumbs(event) == ["handling request %d" % n]
        # nothing of any other request anywhere in the event
        text = json.dumps(event, default=str)
        mentioned = re.findall(r"(?:request |user|/async/fail/)(\d+)\b", text)
        assert set(mentioned) == {str(n)}
    # each response names its own event
    ids = {headers[b"x-sentry-id"].decode() for _, headers in responses}
    assert ids == {e["event_id"] for e in events}


def test_an_async_view_capturing_a_message_gets_its_own_request(events: Events) -> None:
    from django.core.asgi import get_asgi_application

    app = get_asgi_application()

    async def main() -> List[Tuple[int, Dict[bytes, bytes]]]:
        return await asyncio.gather(*(call(app, "/async/message/", n) for n in range(1, 21)))

    responses = asyncio.run(main())
    assert [status for status, _ in responses] == [200] * 20
    users = sorted(e["user"]["id"] for e in events)
    assert users == list(range(1, 21))
    for event in events:
        assert event["request"]["url"] == "http://testserver/async/message/"
        assert event["transaction"] == "/async/message/"
        assert event["tags"]["site"] == "example.com"
    assert client.transaction.peek() is None


def test_in_an_async_view_a_user_not_loaded_yet_is_left_out_not_queried(events: Events) -> None:
    from django.test import AsyncClient

    async def main() -> Any:
        return await AsyncClient().get("/async/message/")

    response = asyncio.run(main())
    assert response.status_code == 200
    [event] = events
    # the lazy user would need a query on the event loop: only the address is reported
    assert event["user"] == {"ip_address": "127.0.0.1"}


def test_a_sync_view_under_asgi_reports_its_request_user_and_route(events: Events) -> None:
    from django.core.asgi import get_asgi_application

    app = get_asgi_application()

    async def main() -> List[Tuple[int, Dict[bytes, bytes]]]:
        return await asyncio.gather(*(call(app, "/orders/%d/pay/" % n, n) for n in (4, 5)))

    responses = asyncio.run(main())
    assert [status for status, _ in responses] == [500, 500]
    reports = {e["user"]["id"]: e for e in events}
    assert sorted(reports) == [4, 5]
    for n, event in reports.items():
        assert event["request"]["url"] == "http://testserver/orders/%d/pay/" % n
        assert event["transaction"] == "/orders/{order_id}/pay/"
        assert event["exception"]["values"][-1]["value"] == "card declined for order %d" % n
