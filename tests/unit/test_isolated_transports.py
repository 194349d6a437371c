"""The gevent, eventlet and Twisted transports and the zerorpc middleware with their real
libraries, each scenario in a child process of its own (tests/isolated/*_scenario.py), against
the loopback sink running here.

gevent and eventlet monkey-patch the whole process, zerorpc brings gevent, and a Twisted
reactor runs once per process: none of them is imported into this one.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from isolated.runner import run_scenario
from servers.sink import Sink

GREEN = ["gevent", "eventlet"]
BOUND_OPTION = {"gevent": "maximum_outstanding_requests", "eventlet": "pool_size"}


def needs(*libraries: str) -> Any:
    missing = [name for name in libraries if importlib.util.find_spec(name) is None]
    return pytest.mark.skipif(bool(missing), reason="not installed: %s" % ", ".join(missing))


green_libraries = pytest.mark.parametrize(
    "library", [pytest.param(name, marks=needs(name)) for name in GREEN]
)
twisted_installed = needs("twisted", "OpenSSL", "service_identity")


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as server:
        yield server


@pytest.fixture
def sink_down() -> Iterator[Sink]:
    """A sink whose port is taken but refuses connections until :func:`bring_up`."""
    server = Sink()
    server.start_later(3600)
    try:
        yield server
    finally:
        server.stop()


def bring_up(server: Sink) -> None:
    server.stop()
    server.start()  # same port


def green(
    library: str,
    case: str,
    sink: Sink,
    query: str = "",
    on_signal: Optional[Dict[str, Callable[[], None]]] = None,
    **args: Any,
) -> Dict[str, Any]:
    dsn = sink.dsn(scheme=library + "+http", query=query)
    arguments = {"library": library, "case": case, "dsn": dsn, "port": sink.port, **args}
    return run_scenario("green_scenario.py", arguments, on_signal)


def twisted(
    case: str,
    sink: Sink,
    on_signal: Optional[Dict[str, Callable[[], None]]] = None,
    **args: Any,
) -> Dict[str, Any]:
    arguments = {"case": case, "dsn": sink.dsn(scheme="twisted+http"), **args}
    return run_scenario("twisted_scenario.py", arguments, on_signal)


def by_id(events: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    return {str(event["event_id"]): event for event in events}


def plain(value: Any) -> Any:
    """An ``extra`` value as sent (6.10 sends them as repr-strings) back as a Python value."""
    return ast.literal_eval(value) if isinstance(value, str) else value


def message(event: Dict[str, Any]) -> Any:
    logentry = event.get("logentry") or {}
    return logentry.get("formatted") or logentry.get("message") or event.get("message")


def assert_each_event_has_its_own_context(ids: List[str], sink: Sink, also: int = 0) -> None:
    """Every event of ``ids`` arrived, once, with the context of the green thread that
    captured it (and ``also`` other events, no more)."""
    received = by_id(sink.wait_for_events(len(ids) + also, timeout=30))
    assert len(sink.events) == len(ids) + also  # none twice
    assert set(ids) <= set(received)
    for event_id in ids:
        event = received[event_id]
        index = plain(event["extra"]["worker_index"])
        assert event["tags"]["worker"] == str(index)
        assert event["user"]["id"] == "user-%d" % index
        assert event["exception"]["values"][-1]["value"] == "failure in worker %d" % index


# -- gevent and eventlet -----------------------------------------------------------------------


@green_libraries
def test_events_from_many_green_threads_arrive_each_with_its_own_context(
    library: str, sink: Sink
) -> None:
    query = "%s=7" % BOUND_OPTION[library]  # fewer in flight than events: the rest wait
    result = green(library, "burst", sink, query=query, count=120)
    assert result["socket_patched"]
    assert result["in_flight_bound"] == 7
    assert_each_event_has_its_own_context(result["ids"], sink)
    assert result["stats"] == {"delivered": 120, "dropped": {}}
    assert result["flush_pending"] == 0


@green_libraries
def test_without_monkey_patching_the_sends_still_complete(library: str, sink: Sink) -> None:
    result = green(library, "burst", sink, count=30, patch=False)
    assert not result["socket_patched"]
    assert_each_event_has_its_own_context(result["ids"], sink)
    assert result["stats"] == {"delivered": 30, "dropped": {}}
    assert result["flush_pending"] == 0  # flush() saw them finish: it did not stop the hub


@green_libraries
def test_events_captured_while_the_server_is_down_are_kept_and_delivered_later(
    library: str, sink_down: Sink
) -> None:
    result = green(
        library,
        "outage",
        sink_down,
        count=12,
        on_signal={"server-down-seen": lambda: bring_up(sink_down)},
    )
    assert result["failing"]
    assert result["settled_while_down"] == 0  # kept for a retry: neither sent nor dropped
    assert result["settled"]
    assert_each_event_has_its_own_context(result["ids"], sink_down, also=1)
    assert result["after"] in by_id(sink_down.events)
    assert result["stats"] == {"delivered": 13, "dropped": {}}
    assert "Sentry is unreachable" in result["stderr"]


@green_libraries
@pytest.mark.parametrize("patch", [True, False], ids=["patched", "unpatched"])
def test_events_pending_when_the_program_ends_are_sent_by_the_exit_hook(
    library: str, patch: bool, sink: Sink
) -> None:
    result = green(library, "exit", sink, count=20, patch=patch)
    received = by_id(sink.wait_for_events(20, timeout=5))  # the child has exited already
    assert sorted(received) == sorted(result["ids"])


@green_libraries
def test_nothing_is_sent_inside_a_429_window(library: str, sink: Sink) -> None:
    sink.respond(429, {"Retry-After": "2"}, times=1)
    result = green(library, "ratelimit", sink, count=5, retry_after=2)
    assert result["first_settled"] and result["settled"]
    assert result["held_settled"] == 6  # the 429'd event and the five held back: all counted
    answered = [request.status for request in sink.requests]
    assert answered == [429, 200]  # the first event, then only the one after the window
    assert list(by_id(sink.events)) == [result["after"]]
    assert result["stats"] == {"delivered": 1, "dropped": {"ratelimit_backoff": 6}}


@green_libraries
def test_the_transport_alone_bounds_sends_and_refuses_past_its_backlog(
    library: str, sink: Sink
) -> None:
    sink.slow(0.05)
    url = sink.url + "/api/1/store/"
    result = green(library, "bound", sink, url=url, bound=1, count=15)
    # one in flight and ten waiting (ten times the bound); the rest refused at once
    assert result["refused_at_once"] == [11, 12, 13, 14]
    assert result["outstanding"] == 11
    assert result["outstanding_after"] == 0
    expected = {str(i): "delivered" for i in range(11)}
    expected.update({str(i): "OverflowError" for i in range(11, 15)})
    assert result["outcomes"] == expected
    messages = [message(event) for event in sink.events]
    assert messages == ["bounded %d" % i for i in range(11)]  # in order


@green_libraries
def test_an_unreachable_server_reaches_the_error_callback_as_a_network_error(
    library: str, sink_down: Sink
) -> None:
    url = "http://127.0.0.1:%d/api/1/store/" % sink_down.port
    result = green(library, "unreachable", sink_down, url=url)
    [[name, module]] = result["outcome"]
    assert module.startswith("urllib3")  # the delivery retries those
    assert name == "NewConnectionError"


@green_libraries
def test_transport_options_from_the_dsn_are_checked_when_the_client_is_built(
    library: str, sink: Sink
) -> None:
    option = BOUND_OPTION[library]
    good = "%s=5&timeout=2&shutdown_timeout=3&verify_ssl=0" % option
    queries = [good, "%s=0" % option, "%s=lots" % option, "shutdown_timeout=soon"]
    result = green(library, "config", sink, queries=queries)
    outcomes = result["outcomes"]
    assert outcomes[good] == {
        "in_flight_bound": 5,
        "timeout": 2.0,
        "shutdown_timeout": 3.0,
        "verify_ssl": False,
    }
    assert "at least 1" in outcomes["%s=0" % option]["error"]
    assert "whole number" in outcomes["%s=lots" % option]["error"]
    assert "shutdown_timeout" in outcomes["shutdown_timeout=soon"]["error"]


# -- Twisted -----------------------------------------------------------------------------------


@twisted_installed
def test_events_from_the_reactor_and_from_threads_all_arrive(sink: Sink) -> None:
    result = twisted("burst", sink, count=60)
    received = by_id(sink.wait_for_events(60, timeout=30))
    assert sorted(received) == sorted(result["ids"])
    for event in received.values():
        index = int(event["tags"]["index"])
        assert message(event) == "twisted event %d" % index
        assert event["tags"]["where"] == ("thread" if index % 2 else "reactor")
    assert result["stats"] == {"delivered": 60, "dropped": {}}
    assert result["flush_pending"] == 0
    assert result["close_pending"] == 0 and result["pool_released"]


@twisted_installed
def test_twisted_events_captured_while_the_server_is_down_are_delivered_later(
    sink_down: Sink,
) -> None:
    result = twisted(
        "outage", sink_down, count=8, on_signal={"server-down-seen": lambda: bring_up(sink_down)}
    )
    assert result["failing"]
    assert result["settled_while_down"] == 0
    assert result["settled"]
    received = by_id(sink_down.events)
    assert set(result["ids"]) | {result["after"]} == set(received)
    assert result["stats"] == {"delivered": 9, "dropped": {}}
    assert "ConnectionRefusedError" in result["stderr"]  # reported as a network error


@twisted_installed
def test_twisted_sends_nothing_inside_a_429_window(sink: Sink) -> None:
    sink.respond(429, {"Retry-After": "2"}, times=1)
    result = twisted("ratelimit", sink, count=5, retry_after=2)
    assert result["held_settled"] == 6
    assert [request.status for request in sink.requests] == [429, 200]
    assert list(by_id(sink.events)) == [result["after"]]
    assert result["stats"] == {"delivered": 1, "dropped": {"ratelimit_backoff": 6}}


@twisted_installed
def test_twisted_refusals_reach_the_delivery_rules_with_their_status(sink: Sink) -> None:
    sink.respond(500, body=b"database down", times=2)
    result = twisted("sequence", sink, count=1)
    # a 5xx is an APIError the delivery retries (after a back-off) until it is accepted
    assert [request.status for request in sink.requests] == [500, 500, 200]
    assert list(by_id(sink.events)) == result["ids"]
    sink.reset()
    sink.respond(403, {"Content-Type": "text/plain"}, body=b"project disabled", times=1)
    result = twisted("sequence", sink, count=2)
    assert [request.status for request in sink.requests] == [403, 200]
    assert list(by_id(sink.events)) == result["ids"][1:]
    assert result["stats"] == {"delivered": 1, "dropped": {"send_error": 1}}
    assert "HTTP 403: project disabled" in result["stderr"]


@twisted_installed
def test_twisted_https_checks_the_certificate_unless_told_not_to(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with Sink(tls=ca.issue_cert("127.0.0.1")) as server:
        options = [
            {"ca_certs": str(ca_file)},  # our CA: verified
            {"verify_ssl": "0"},  # not verified
            {},  # certifi's bundle: this CA is unknown there
        ]
        result = twisted("direct", server, url=server.url + "/api/1/store/", options=options)
        trusted, unverified, untrusted = result["outcomes"]
        assert trusted == {"delivered": True, "status": 200}
        assert unverified == {"delivered": True, "status": 200}
        assert untrusted["delivered"] is False
        assert untrusted["error"] == "ConnectionError"  # the delivery retries those
        assert re.search("certificate verify failed|SSL", untrusted["message"])
        assert [message(event) for event in server.events] == ["direct 0", "direct 1"]


@twisted_installed
def test_twisted_unreachable_server_is_a_network_error(sink_down: Sink) -> None:
    url = "http://127.0.0.1:%d/api/1/store/" % sink_down.port
    result = twisted("direct", sink_down, url=url, options=[{"timeout": 2}])
    [outcome] = result["outcomes"]
    assert outcome["delivered"] is False
    assert outcome["error"] == "ConnectionError"
    assert "ConnectionRefusedError" in outcome["message"]


@twisted_installed
def test_twisted_server_that_does_not_answer_in_time_is_a_network_error(sink: Sink) -> None:
    sink.slow(3, times=1)
    url = sink.url + "/api/1/store/"
    result = twisted("direct", sink, url=url, options=[{"timeout": 1}, {"timeout": 1}])
    stalled, answered = result["outcomes"]
    assert stalled["delivered"] is False
    assert stalled["error"] == "TimeoutError"  # an OSError: the delivery retries it
    assert stalled["message"] == "no answer from the server within 1.0 seconds"
    assert answered == {"delivered": True, "status": 200}


# -- zerorpc -----------------------------------------------------------------------------------


@needs("zerorpc", "gevent")
@pytest.mark.parametrize(
    ("patch", "scheme"),
    [(True, "gevent+http"), (False, "http")],
    ids=["gevent-transport-patched", "threaded-transport-unpatched"],
)
def test_zerorpc_method_errors_arrive_with_their_task_context(
    sink: Sink, patch: bool, scheme: str
) -> None:
    arguments = {"dsn": sink.dsn(scheme=scheme), "patch": patch, "calls": 6}
    result = run_scenario("zerorpc_scenario.py", arguments)
    failed = [call for call in result["calls"] if "remote_error" in call]
    assert len(failed) == 6  # every other call, on each of the two servers
    assert {call["remote_error"] for call in failed} == {"LookupError"}
    received = sink.wait_for_events(len(failed), timeout=30)
    by_trace = {plain(event["extra"]["trace_id"]): event for event in received}
    assert sorted(by_trace) == sorted(call["trace_id"] for call in failed)
    for call in failed:
        event = by_trace[call["trace_id"]]
        exception = event["exception"]["values"][-1]
        assert exception["type"] == "LookupError"
        assert exception["value"] == "only 3 of %s left, 5 asked" % call["sku"]
        modules = [frame["module"] for frame in exception["stacktrace"]["frames"]]
        functions = [frame["function"] for frame in exception["stacktrace"]["frames"]]
        if call["sku"].startswith("hidden"):
            assert functions == ["reserve", "check_stock"]  # starts at the method
        else:  # hide_zerorpc_frames=False
            assert modules[0].startswith("zerorpc.") and functions[-2:] == [
                "reserve",
                "check_stock",
            ]
    assert result["stats"]["delivered"] == 6
    assert result["flush_pending"] == 0
