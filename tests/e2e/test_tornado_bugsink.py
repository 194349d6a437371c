"""End to end: a Tornado 6 handler failing for a logged-in user, as a real Bugsink stored it."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Dict, Optional

import pytest
from tornado import testing, web

from raven.contrib.tornado import AsyncSentryClient, SentryMixin
from raven.transport.tornado import TornadoHTTPTransport, flush

pytestmark = pytest.mark.e2e


class PaymentDeclined(Exception):
    pass


class CheckoutHandler(SentryMixin, web.RequestHandler):
    def get_current_user(self) -> Optional[str]:
        return self.get_cookie("user")

    async def post(self) -> None:
        client = self.get_sentry_client()
        client.tags_context({"shop": "eu"})
        client.captureBreadcrumb(message="charging order %s" % self.get_argument("order"))
        raise PaymentDeclined("card declined for order %s" % self.get_argument("order"))


class NoteHandler(SentryMixin, web.RequestHandler):
    async def get(self) -> None:
        event_id, delivered = self.captureMessage("stock is low", level="warning")
        self.write({"event_id": event_id, "delivered": await delivered})


@pytest.fixture(scope="class")
def bugsink_for_class(request: pytest.FixtureRequest, bugsink: Any) -> None:
    request.cls.bugsink = bugsink


@pytest.mark.usefixtures("bugsink_for_class")
class TornadoBugsinkTestCase(testing.AsyncHTTPTestCase):
    bugsink: Any

    def runTest(self) -> None:
        """pytest builds each case under this name first; Tornado < 6.4 needs it to exist."""

    def get_app(self) -> web.Application:
        self.client = AsyncSentryClient(
            self.bugsink.dsn, install_sys_hook=False, install_logging_hook=False
        )
        app = web.Application([(r"/checkout", CheckoutHandler), (r"/note", NoteHandler)])
        app.sentry_client = self.client  # type: ignore[attr-defined]
        return app

    def get_async_test_timeout(self) -> float:
        return 30  # the handler awaits Bugsink's answer, slow on a loaded machine

    def tearDown(self) -> None:
        self.client.close(10)
        super().tearDown()

    def stored(self, match: Callable[[Dict[str, Any]], bool]) -> Dict[str, Any]:
        deadline = time.monotonic() + 20
        while True:
            found = [event for event in self.bugsink.events() if match(event)]
            if found or time.monotonic() > deadline:
                [event] = found
                return event
            time.sleep(0.05)

    def test_an_uncaught_exception_is_stored_with_request_user_and_scrubbed_form(self) -> None:
        response = self.fetch(
            "/checkout?step=pay",
            method="POST",
            body="order=A-17&password=hunter2",
            headers={"Cookie": "user=ada", "X-Request-Id": "req-7"},
        )
        assert response.code == 500
        report = self.io_loop.run_sync(lambda: flush(self.client, timeout=20))
        assert report.delivered == 1 and report.pending == 0
        assert isinstance(self.client.remote.get_transport(), TornadoHTTPTransport)

        event = self.stored(lambda e: e.get("tags", {}).get("shop") == "eu")
        [value] = event["exception"]["values"]
        assert value["type"] == "PaymentDeclined"
        assert value["value"] == "card declined for order A-17"
        assert value["stacktrace"]["frames"][-1]["function"] == "post"
        req = event["request"]
        assert req["url"] == self.get_url("/checkout?step=pay")
        assert req["method"] == "POST"
        assert req["query_string"] == "step=pay"
        assert req["headers"]["X-Request-Id"] == "req-7"
        assert req["data"] == {"order": "A-17", "password": "********"}
        assert req["cookies"] == {"user": "ada"}
        # 6.10's user shape; on the wire, keys the schema does not name go under data
        assert event["user"] == {"ip_address": "127.0.0.1", "data": {"is_authenticated": True}}
        assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["charging order A-17"]
        assert "hunter2" not in json.dumps(event)

    def test_a_message_future_resolves_once_bugsink_took_the_event(self) -> None:
        response = self.fetch("/note")
        body = json.loads(response.body)
        assert body["delivered"] is True
        event = self.bugsink.wait_for_event(body["event_id"])
        assert event["level"] == "warning"
        assert event["logentry"]["message"] == "stock is low"
