"""Every built-in transport, over both protocols, delivers to a real Bugsink.

Bugsink stores each event as it arrived, so the assertions see the fields after the whole
trip: build, encode (store JSON or envelope), HTTP through the transport, the server's decode.
"""

from __future__ import annotations

from typing import Any

import pytest

from raven import Client
from raven.transport.http import HTTPTransport
from raven.transport.requests import RequestsHTTPTransport
from raven.transport.threaded import ThreadedHTTPTransport
from raven.transport.threaded_requests import ThreadedRequestsHTTPTransport

pytestmark = pytest.mark.e2e

TRANSPORTS = [
    HTTPTransport,
    ThreadedHTTPTransport,
    RequestsHTTPTransport,
    ThreadedRequestsHTTPTransport,
]


def explode(order_id: int) -> None:
    step = "charge"
    raise RuntimeError("payment failed for order %d at %s" % (order_id, step))


@pytest.mark.parametrize("endpoint", ["store", "envelope"])
@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda cls: cls.__name__)
def test_an_event_sent_by_each_transport_is_stored_as_sent(
    bugsink: Any, transport: type, endpoint: str
) -> None:
    client = Client(
        bugsink.dsn,
        transport=transport,
        endpoint=endpoint,
        install_sys_hook=False,
        hook_libraries=[],
        release="9.9.9",
        tags={"transport": transport.__name__},
    )
    client.user_context({"id": "u-7"})
    try:
        explode(77)
    except RuntimeError:
        event_id = client.captureException(extra={"endpoint": endpoint})
    report = client.close(timeout=10)

    assert report.delivered == 1, report
    event = bugsink.wait_for_event(event_id)
    [value] = event["exception"]["values"]
    assert value["type"] == "RuntimeError"
    assert value["value"] == "payment failed for order 77 at charge"
    crash = value["stacktrace"]["frames"][-1]
    assert crash["function"] == "explode"
    assert str(crash["vars"]["order_id"]) == "77"  # locals travel as reprs, as in 6.10
    assert event["release"] == "9.9.9"
    assert event["tags"]["transport"] == transport.__name__
    assert event["user"]["id"] == "u-7"
    assert endpoint in event["extra"]["endpoint"]  # extra values are reprs, as in 6.10


def test_auto_endpoint_uses_envelopes_on_a_server_that_has_them(bugsink: Any) -> None:
    client = Client(bugsink.dsn, endpoint="auto", install_sys_hook=False, hook_libraries=[])
    event_id = client.captureMessage("auto endpoint")
    client.close(timeout=10)

    logentry = bugsink.wait_for_event(event_id)["logentry"]
    assert (logentry.get("formatted") or logentry["message"]) == "auto endpoint"
    assert client.stats.delivered == 1
