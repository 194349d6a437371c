"""End to end: the gevent, eventlet and Twisted transports and the zerorpc middleware, each in a
child process of its own (tests/isolated), reporting to a real Bugsink.

Bugsink validates every event strictly and stores it as it arrived, so these show that what
the event-loop transports send (store JSON and envelopes) is accepted whole.
"""

from __future__ import annotations

import ast
import importlib.util
import time
import uuid
from typing import Any, Dict, List

import pytest

from isolated.runner import run_scenario

pytestmark = pytest.mark.e2e


def needs(*libraries: str) -> Any:
    missing = [name for name in libraries if importlib.util.find_spec(name) is None]
    return pytest.mark.skipif(bool(missing), reason="not installed: %s" % ", ".join(missing))


def with_scheme(dsn: str, transport: str, query: str = "") -> str:
    scheme, rest = dsn.split("://", 1)
    return "%s+%s://%s%s" % (transport, scheme, rest, "?" + query if query else "")


def plain(value: Any) -> Any:
    return ast.literal_eval(value) if isinstance(value, str) else value


@pytest.mark.parametrize(
    ("library", "endpoint"),
    [
        pytest.param("gevent", "store", marks=needs("gevent")),
        pytest.param("eventlet", "envelope", marks=needs("eventlet")),
    ],
)
def test_green_threads_report_to_bugsink_each_with_its_own_context(
    bugsink: Any, library: str, endpoint: str
) -> None:
    dsn = with_scheme(bugsink.dsn, library, "endpoint=%s" % endpoint)
    result = run_scenario(
        "green_scenario.py", {"library": library, "case": "burst", "dsn": dsn, "count": 8}
    )
    assert result["stats"] == {"delivered": 8, "dropped": {}}
    for event_id in result["ids"]:
        event = bugsink.wait_for_event(event_id)
        index = plain(event["extra"]["worker_index"])
        assert event["tags"]["worker"] == str(index)
        assert event["user"]["id"] == "user-%d" % index
        [exception] = event["exception"]["values"]
        assert (exception["type"], exception["value"]) == (
            "ValueError",
            "failure in worker %d" % index,
        )
        assert exception["stacktrace"]["frames"][-1]["function"] == "capture_with_own_context"


@needs("twisted")
def test_twisted_reports_to_bugsink_from_the_reactor_and_from_threads(bugsink: Any) -> None:
    dsn = with_scheme(bugsink.dsn, "twisted", "endpoint=envelope")
    result = run_scenario("twisted_scenario.py", {"case": "burst", "dsn": dsn, "count": 6})
    assert result["stats"] == {"delivered": 6, "dropped": {}}
    for event_id in result["ids"]:
        event = bugsink.wait_for_event(event_id)
        index = int(event["tags"]["index"])
        assert event["logentry"]["message"] == "twisted event %d" % index
        assert event["tags"]["where"] == ("thread" if index % 2 else "reactor")


@needs("zerorpc", "gevent")
def test_a_failing_zerorpc_method_is_stored_with_its_task_context(bugsink: Any) -> None:
    run = "run-%s-" % uuid.uuid4().hex[:8]
    dsn = with_scheme(bugsink.dsn, "gevent")
    arguments = {"dsn": dsn, "patch": True, "calls": 2, "run": run}
    result = run_scenario("zerorpc_scenario.py", arguments)
    failed = [call for call in result["calls"] if "remote_error" in call]
    assert len(failed) == 2  # the first call on each of the two servers
    assert result["stats"]["delivered"] == 2

    stored = stored_events_of_this_run(bugsink, run, len(failed))
    by_trace = {plain(event["extra"]["trace_id"]): event for event in stored}
    assert sorted(by_trace) == sorted(call["trace_id"] for call in failed)
    for call in failed:
        [exception] = by_trace[call["trace_id"]]["exception"]["values"]
        assert exception["value"] == "only 3 of %s left, 5 asked" % call["sku"]
        functions = [frame["function"] for frame in exception["stacktrace"]["frames"]]
        if call["sku"].startswith("hidden"):
            assert functions == ["reserve", "check_stock"]
        else:
            assert functions[0] == "_async_task"


def stored_events_of_this_run(bugsink: Any, run: str, count: int) -> List[Dict[str, Any]]:
    """The stored events whose trace id starts with ``run`` (their ids are the server's)."""
    deadline = time.monotonic() + 15
    while True:
        found = [
            event
            for event in bugsink.events()
            # extra values are sent as repr-strings, as raven 6.10 did
            if str((event.get("extra") or {}).get("trace_id", "")).startswith(repr(run)[:-1])
        ]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, found
            return found
        time.sleep(0.05)
