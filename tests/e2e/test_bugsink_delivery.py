"""End to end: raven 6.10's client API against a real Bugsink, asserting on what Bugsink stored.

Bugsink keeps each event's JSON as the client sent it, so these tests see the payload after the
whole pipeline (build, processors, serializer, encode, HTTP, the server's decoding and digest).
The server ingests synchronously: once a blocking send has returned, the event is stored.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

import pytest

from raven import Client
from raven.transport.http import HTTPTransport
from raven.transport.threaded import ThreadedHTTPTransport

pytestmark = pytest.mark.e2e


def make_client(dsn: str, **options: Any) -> Client:
    options.setdefault("install_sys_hook", False)  # keep the test process's excepthook alone
    return Client(dsn=dsn, **options)


def divide(numerator: int, denominator: int) -> float:
    label = "ratio"
    sizes = [3, 1, 4]
    return numerator / denominator + len(label) + len(sizes)


def tags_of(event: Dict[str, Any]) -> Dict[str, str]:
    """Tags as a dict, whether they were sent as a dict or as [key, value] pairs."""
    tags = event.get("tags") or {}
    return dict(tags) if isinstance(tags, dict) else {k: v for k, v in tags}


def frames_of(exception_value: Dict[str, Any]) -> List[Dict[str, Any]]:
    return exception_value["stacktrace"]["frames"]


def breadcrumbs_of(event: Dict[str, Any]) -> List[Dict[str, Any]]:
    crumbs = event.get("breadcrumbs") or []
    return crumbs["values"] if isinstance(crumbs, dict) else crumbs


def test_exception_with_frames_locals_and_context(bugsink):
    client = make_client(
        bugsink.dsn,
        transport=HTTPTransport,
        release="1.2.3",
        environment="staging",
        tags={"team": "payments"},
        context={"build": "e2e"},
    )
    client.tags_context({"region": "eu-1"})
    client.extra_context({"order_id": 1234})
    client.user_context({"id": "u-42", "email": "ada@example.org"})
    try:
        divide(10, 0)
    except ZeroDivisionError:
        event_id = client.captureException(tags={"attempt": "2"}, extra={"note": "retry"})
    assert event_id, "captureException returned no event id"

    event = bugsink.wait_for_event(event_id)

    [value] = event["exception"]["values"]
    assert value["type"] == "ZeroDivisionError"
    assert value["value"] == "division by zero"
    assert value["module"] == "builtins"
    frames = frames_of(value)
    functions = [frame["function"] for frame in frames]
    assert functions[-2:] == ["test_exception_with_frames_locals_and_context", "divide"]
    crash = frames[-1]
    assert crash["module"] == __name__
    assert crash["filename"].endswith("test_bugsink_delivery.py")
    assert crash["lineno"] > 0
    assert "numerator / denominator" in crash["context_line"]
    assert crash["pre_context"] and crash["post_context"] is not None
    local_vars = crash["vars"]
    assert str(local_vars["numerator"]) == "10"
    assert str(local_vars["denominator"]) == "0"
    assert "ratio" in local_vars["label"]
    assert "4" in str(local_vars["sizes"])

    assert event["event_id"] == event_id
    assert event["platform"] == "python"
    assert event["release"] == "1.2.3"
    assert event["environment"] == "staging"
    # on the wire, 6.10's numeric level and bare message take their schema form
    assert event["level"] == "error"
    assert event["logentry"]["formatted"] == "ZeroDivisionError: division by zero"
    assert event["sdk"]["name"] == "raven-python"
    assert event["server_name"]
    tags = tags_of(event)
    assert tags["team"] == "payments"
    assert tags["region"] == "eu-1"
    assert tags["attempt"] == "2"
    assert str(event["extra"]["order_id"]) == "1234"
    assert "retry" in event["extra"]["note"]
    assert "e2e" in event["extra"]["build"]
    assert event["user"]["id"] == "u-42"
    assert event["user"]["email"] == "ada@example.org"

    [issue] = [i for i in bugsink.issues() if i["value"] == "division by zero"]
    assert issue["title"] == "ZeroDivisionError: division by zero"
    assert issue["last_frame_function"] == "divide"
    assert issue["event_count"] >= 1


def test_message_with_params_and_level(bugsink):
    client = make_client(bugsink.dsn, transport=HTTPTransport)

    event_id = client.captureMessage(
        "hello %s", params=("world",), level="warning", tags={"kind": "greeting"}
    )

    event = bugsink.wait_for_event(event_id)
    interface = event["logentry"]
    assert interface["message"] == "hello %s"
    assert [p.strip("'\"") for p in interface["params"]] == ["world"]
    # formatted from the raw params (6.10 left it empty: Bugsink then titled the template)
    assert interface["formatted"] == "hello world"
    assert event["level"] == "warning"
    assert tags_of(event)["kind"] == "greeting"
    assert "exception" not in event
    titles = [issue["title"] for issue in bugsink.issues()]
    assert any("hello world" in title for title in titles), titles


def test_logging_breadcrumbs_travel_with_the_event(bugsink):
    client = make_client(bugsink.dsn, transport=HTTPTransport)
    logging.getLogger("demo").warning("cache miss for %s", "user:42")

    try:
        {}["missing"]
    except KeyError:
        event_id = client.captureException()

    event = bugsink.wait_for_event(event_id)
    assert event["exception"]["values"][-1]["type"] == "KeyError"
    crumbs = [c for c in breadcrumbs_of(event) if c.get("category") == "demo"]
    assert crumbs, "no 'demo' breadcrumb in %r" % breadcrumbs_of(event)
    crumb = crumbs[-1]
    assert crumb["message"] == "cache miss for user:42"
    assert crumb["level"] == "warning"
    assert crumb["timestamp"]


def test_default_threaded_transport_delivers_after_flush(bugsink):
    client = make_client(bugsink.dsn)
    transport = client.remote.get_transport()
    assert isinstance(transport, ThreadedHTTPTransport)

    ids = [client.captureMessage("queued message %d" % n, level="info") for n in range(3)]
    try:
        raise ValueError("from the worker thread")
    except ValueError:
        ids.append(client.captureException())
    assert transport.flush(5) is not False

    stored = {event_id: bugsink.wait_for_event(event_id, timeout=5) for event_id in ids}
    assert [stored[i]["logentry"]["message"] for i in ids[:3]] == [
        "queued message %d" % n for n in range(3)
    ]
    assert stored[ids[3]]["exception"]["values"][-1]["value"] == "from the worker thread"
    assert all(stored[i]["level"] == "info" for i in ids[:3])
