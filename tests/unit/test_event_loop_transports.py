"""The gevent, eventlet and Twisted transports and the zerorpc middleware, as far as they can be
checked without their libraries: none of gevent, eventlet, Twisted or zerorpc may be imported
into this process (they patch it, or run a reactor once). Their behaviour with the real
libraries is in test_isolated_transports.py, one child process per scenario.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Callable, Dict, List

import pytest

from raven.base import Client
from raven.contrib.zerorpc import SentryMiddleware
from raven.exceptions import InvalidDsn
from raven.transport._green import SendSlots, positive_int
from raven.transport.registry import default_transports
from raven.utils.testutils import InMemoryClient

SCHEME_WARNING = "ignore:Transport selection via DSN is deprecated:DeprecationWarning"


# -- staying out of the process ----------------------------------------------------------------


def test_importing_the_transports_and_the_middleware_imports_none_of_their_libraries() -> None:
    code = (
        "import json, sys, raven, raven.transport as t\n"
        "import raven.transport.gevent, raven.transport.eventlet, raven.transport.twisted\n"
        "import raven.contrib.zerorpc\n"
        "t.GeventedHTTPTransport, t.EventletHTTPTransport, t.TwistedHTTPTransport\n"
        "libs = ('gevent', 'greenlet', 'eventlet', 'twisted', 'zerorpc', 'zmq')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in libs)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == []


@pytest.mark.parametrize(
    ("scheme", "name"),
    [
        ("gevent+http", "GeventedHTTPTransport"),
        ("gevent+https", "GeventedHTTPTransport"),
        ("eventlet+http", "EventletHTTPTransport"),
        ("eventlet+https", "EventletHTTPTransport"),
        ("twisted+http", "TwistedHTTPTransport"),
        ("twisted+https", "TwistedHTTPTransport"),
    ],
)
def test_each_scheme_names_its_transport(scheme: str, name: str) -> None:
    cls = default_transports.get_transport_cls(scheme)
    assert cls.__name__ == name
    assert scheme in cls.scheme
    assert cls.is_async


# -- options checked when the client is configured --------------------------------------------


@pytest.mark.filterwarnings(SCHEME_WARNING)
@pytest.mark.parametrize(
    "dsn",
    [
        "gevent+http://key@127.0.0.1:9/1?pool_size=5",  # eventlet's option
        "eventlet+http://key@127.0.0.1:9/1?maximum_outstanding_requests=5",
        # Twisted's Agent cannot tunnel HTTPS through a proxy: refused, not silently direct
        "twisted+http://key@127.0.0.1:9/1?proxy=http://proxy.internal:3128",
    ],
)
def test_an_option_the_transport_does_not_take_fails_at_configuration(dsn: str) -> None:
    # refused by name, before the transport (and its library) is loaded
    option = dsn.rsplit("?", 1)[1].split("=", 1)[0]
    with pytest.raises(InvalidDsn, match=option):
        Client(dsn, install_sys_hook=False)


@pytest.mark.parametrize("value", [0, -1, "many", "", None, True, 2.5])
def test_a_bound_must_be_a_positive_whole_number(value: Any) -> None:
    with pytest.raises(ValueError, match="pool_size"):
        positive_int("pool_size", value)


def test_a_bound_from_a_dsn_query_is_a_string() -> None:
    assert positive_int("pool_size", "7") == 7
    assert positive_int("pool_size", 3.0) == 3


# -- the bound on sends in flight --------------------------------------------------------------


class Sends:
    """Starts that only record themselves, as the transports' spawns would start a send."""

    def __init__(self) -> None:
        self.started: List[int] = []

    def start(self, index: int) -> Callable[[], None]:
        return lambda: self.started.append(index)


def test_sends_beyond_the_bound_wait_their_turn_in_order_then_are_refused() -> None:
    slots = SendSlots(limit=2, backlog=3)
    sends = Sends()
    accepted = [slots.submit(sends.start(i)) for i in range(7)]
    assert accepted == [True, True, True, True, True, False, False]
    assert sends.started == [0, 1]
    assert slots.outstanding == 5
    slots.finished()
    assert sends.started == [0, 1, 2]
    slots.finished()
    slots.finished()
    assert sends.started == [0, 1, 2, 3, 4]
    assert slots.outstanding == 2
    assert slots.submit(sends.start(7))  # room in the backlog again
    for _ in range(3):
        slots.finished()
    assert sends.started == [0, 1, 2, 3, 4, 7]
    assert slots.outstanding == 0


def test_a_freed_slot_is_reused_without_waiting() -> None:
    slots = SendSlots(limit=1, backlog=0)
    sends = Sends()
    assert slots.submit(sends.start(0))
    assert not slots.submit(sends.start(1))
    slots.finished()
    assert slots.submit(sends.start(2))
    assert sends.started == [0, 2]


# -- zerorpc -----------------------------------------------------------------------------------


def zerorpc_code(module: str, source: str) -> Dict[str, Any]:
    """Functions whose frames look like zerorpc's own code (by their module's name)."""
    namespace: Dict[str, Any] = {"__name__": module, "sys": sys}
    exec(compile(source, module.replace(".", "/") + ".py", "exec"), namespace)
    return namespace


#: like zerorpc's ServerBase._async_task: calls the method, catches what it raises
DISPATCH = zerorpc_code(
    "zerorpc.core",
    "def _async_task(method, *args):\n"
    "    try:\n"
    "        method(*args)\n"
    "    except Exception:\n"
    "        return sys.exc_info()\n",
)["_async_task"]


def reserve(sku: str) -> None:
    raise LookupError("no %s left" % sku)


def failed_call(method: Callable[..., Any], *args: Any) -> Any:
    exc_info = DISPATCH(method, *args)
    assert exc_info is not None, "the call did not fail"
    return exc_info


def frames_of(event: Dict[str, Any]) -> List[tuple]:
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    return [(frame["module"], frame["function"]) for frame in frames]


def test_a_failed_method_is_reported_with_the_task_context_and_without_zerorpc_frames(
    client: InMemoryClient,
) -> None:
    middleware = SentryMiddleware(client=client)
    exc_info = failed_call(reserve, "sku-1")
    middleware.server_inspect_exception(None, None, {"trace_id": "abc"}, exc_info)
    [event] = client.events
    assert event["exception"]["values"][-1]["value"] == "no sku-1 left"
    assert frames_of(event) == [(__name__, "reserve")]
    assert event["extra"]["trace_id"] == "'abc'"  # extra values are repr-strings, as in 6.10


def test_zerorpc_frames_stay_when_asked(client: InMemoryClient) -> None:
    middleware = SentryMiddleware(hide_zerorpc_frames=False, client=client)
    exc_info = failed_call(reserve, "sku-1")
    middleware.server_inspect_exception(None, None, {}, exc_info)
    assert frames_of(client.events[0]) == [("zerorpc.core", "_async_task"), (__name__, "reserve")]


def test_an_error_inside_zerorpc_itself_keeps_its_frames(client: InMemoryClient) -> None:
    # e.g. a call to a method the server does not have: no frame of the application at all
    lookup = zerorpc_code(
        "zerorpc.decorators", "def lookup():\n    raise LookupError('no such method')\n"
    )["lookup"]
    exc_info = failed_call(lookup)
    SentryMiddleware(client=client).server_inspect_exception(None, None, {}, exc_info)
    assert frames_of(client.events[0]) == [
        ("zerorpc.core", "_async_task"),
        ("zerorpc.decorators", "lookup"),
    ]


def test_the_reporting_frames_of_the_application_are_left_untouched(client: InMemoryClient) -> None:
    exc_info = failed_call(reserve, "sku-1")
    SentryMiddleware(client=client).server_inspect_exception(None, None, {}, exc_info)
    tb = exc_info[2]
    while tb is not None:  # 6.10 wrote __traceback_hide__ into the frames' locals
        assert "__traceback_hide__" not in tb.tb_frame.f_locals
        tb = tb.tb_next


@pytest.mark.logs_sentry_errors
def test_a_failure_to_report_never_reaches_zerorpc(
    client: InMemoryClient, monkeypatch: pytest.MonkeyPatch, sentry_errors: List[Any]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("serializer exploded")

    monkeypatch.setattr(client, "captureException", broken)
    exc_info = failed_call(reserve, "sku-1")
    SentryMiddleware(client=client).server_inspect_exception(None, None, {}, exc_info)
    assert any("zerorpc" in record.getMessage() for record in sentry_errors)


def test_without_a_client_the_middleware_builds_one_from_its_keywords() -> None:
    middleware = SentryMiddleware(dsn="http://key@127.0.0.1:9/1", install_sys_hook=False)
    assert isinstance(middleware.client, Client)
    assert middleware.client.remote.public_key == "key"
