"""One scenario of raven's gevent or eventlet transport, in a process of its own.

    python green_scenario.py '{"library": "gevent", "case": "burst", "dsn": "...", ...}'

The library monkey-patches before anything else is imported (unless ``"patch": false``), as
an application using it must. The result is one JSON line (see ``_scenario.emit``); the
parent (tests/unit/test_isolated_transports.py) checks it against what its sink received.
"""

from __future__ import annotations

import json
import sys
import warnings

ARGS = json.loads(sys.argv[1])
LIBRARY = ARGS["library"]
# older gevent releases (22.10) read their plugins through pkg_resources, which warns
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

if LIBRARY == "eventlet":
    # eventlet is deprecated upstream and says so on import (a Warning, not a
    # DeprecationWarning); the parent runs this script with -W error
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
    import eventlet

    if ARGS.get("patch", True):
        eventlet.monkey_patch()
    sleep = eventlet.sleep

    def spawn(function, *args):
        return eventlet.spawn(function, *args)

    def results(threads):
        return [thread.wait() for thread in threads]

elif LIBRARY == "gevent":
    from gevent import monkey

    if ARGS.get("patch", True):
        monkey.patch_all()
    import gevent

    sleep = gevent.sleep

    def spawn(function, *args):
        return gevent.spawn(function, *args)

    def results(greenlets):
        gevent.joinall(greenlets, timeout=60, raise_error=True)
        return [greenlet.value for greenlet in greenlets]

else:
    raise SystemExit("unknown library %r" % LIBRARY)

import socket  # noqa: E402  (after patching, on purpose)
import time  # noqa: E402
import uuid  # noqa: E402

from _scenario import (  # noqa: E402
    allow_transport_scheme_in_dsn,
    emit,
    log_to_stderr,
    settled,
    signal,
    stats,
    wait_settled,
    wait_until,
)

import raven  # noqa: E402

TRANSPORTS = {
    "gevent": "raven.transport.gevent.GeventedHTTPTransport",
    "eventlet": "raven.transport.eventlet.EventletHTTPTransport",
}


def transport_class():
    module_name, _, name = TRANSPORTS[LIBRARY].rpartition(".")
    module = __import__(module_name, fromlist=[name])
    return getattr(module, name)


def capture_with_own_context(client, index):
    """Set this green thread's context, let the others run, then report an error."""
    client.tags_context({"worker": str(index)})
    client.extra_context({"worker_index": index})
    client.user_context({"id": "user-%d" % index})
    sleep(0)  # every other green thread sets its own context in between
    try:
        raise ValueError("failure in worker %d" % index)
    except ValueError:
        return client.captureException()


def case_burst(args):
    """Many green threads report at once; every event must arrive with its own context."""
    client = raven.Client(args["dsn"])
    count = args["count"]
    ids = results([spawn(capture_with_own_context, client, i) for i in range(count)])
    report = client.flush(timeout=30)
    done = wait_settled(client, count, sleep)
    transport = client.remote.get_transport()
    emit(
        ids=ids,
        settled=done,
        stats=stats(client),
        flush_pending=getattr(report, "pending", None),
        transport=type(transport).__name__,
        in_flight_bound=getattr(transport, "max_in_flight", None),
        socket_patched=socket.socket.__module__ != "socket",
    )
    client.close(timeout=5)


def case_outage(args):
    """Events captured while the server refuses connections are kept (not dropped) and
    delivered once it is back; nothing hangs and nothing vanishes."""
    client = raven.Client(args["dsn"])
    count = args["count"]
    ids = results([spawn(capture_with_own_context, client, i) for i in range(count)])
    failing = wait_until(client.state.did_fail, sleep, timeout=30)
    settled_while_down = settled(client)
    signal("server-down-seen")  # the parent starts the server now
    done_after_outage = wait_settled(client, count, sleep, timeout=60)
    after = client.captureMessage("after the outage")
    done = wait_settled(client, count + 1, sleep, timeout=30)
    emit(
        ids=ids,
        after=after,
        failing=failing,
        settled_while_down=settled_while_down,
        settled_after_outage=done_after_outage,
        settled=done,
        stats=stats(client),
    )
    client.close(timeout=5)


def case_ratelimit(args):
    """A 429 with Retry-After: nothing more is sent until it ends, then sending resumes."""
    client = raven.Client(args["dsn"])
    first = client.captureMessage("answered 429")
    first_settled = wait_settled(client, 1, sleep)
    limited_since = time.monotonic()
    held_back = [client.captureMessage("inside the window %d" % i) for i in range(args["count"])]
    held_settled = settled(client)
    sleep(max(args["retry_after"] + 0.3 - (time.monotonic() - limited_since), 0))
    after = client.captureMessage("after the window")
    done = wait_settled(client, args["count"] + 2, sleep)
    emit(
        first=first,
        first_settled=first_settled,
        held_back=held_back,
        held_settled=held_settled,
        after=after,
        settled=done,
        stats=stats(client),
    )
    client.close(timeout=5)


def case_bound(args):
    """The transport on its own: one send in flight, ten waiting, the rest refused at once,
    and the capturing code never waits."""
    cls = transport_class()
    bound = args["bound"]
    transport = cls(bound) if LIBRARY == "gevent" else cls(pool_size=bound)
    outcomes = {}

    def succeeded(index):
        return lambda *response: outcomes.__setitem__(index, "delivered")

    def failed(index):
        return lambda exc: outcomes.__setitem__(index, type(exc).__name__)

    headers = {
        "Content-Type": "application/json",
        "X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=public, sentry_client=scenario/1",
    }
    for i in range(args["count"]):  # no switch in this loop: nothing has started yet
        body = json.dumps({"event_id": uuid.uuid4().hex, "message": "bounded %d" % i})
        transport.async_send(args["url"], body.encode(), headers, succeeded(i), failed(i))
    refused_at_once = sorted(i for i, outcome in outcomes.items() if outcome == "OverflowError")
    outstanding = transport.outstanding
    deadline = time.monotonic() + 30
    while len(outcomes) < args["count"] and time.monotonic() < deadline:
        sleep(0.02)
    emit(
        outcomes={str(k): v for k, v in outcomes.items()},
        refused_at_once=refused_at_once,
        outstanding=outstanding,
        outstanding_after=transport.outstanding,
    )


def case_unreachable(args):
    """The transport on its own, nothing listening: the error callback gets a network error."""
    transport = transport_class()(timeout=2)
    outcome = []
    transport.async_send(
        args["url"],
        b"{}",
        {"Content-Type": "application/json"},
        lambda *response: outcome.append(("delivered", None)),
        lambda exc: outcome.append((type(exc).__name__, type(exc).__module__)),
    )
    deadline = time.monotonic() + 30
    while not outcome and time.monotonic() < deadline:
        sleep(0.02)
    emit(outcome=outcome)


def case_exit(args):
    """Events captured just before the script ends, with no flush: raven's exit hook sends
    them (6.10 printed to stdout and waited; green sends were simply lost)."""
    client = raven.Client(args["dsn"])
    ids = [client.captureMessage("at exit %d" % i) for i in range(args["count"])]
    emit(ids=ids)  # and return: the interpreter exits now


def case_config(args):
    """Clients configured with DSN options: what the transport got, or the error."""
    from raven.exceptions import InvalidDsn

    outcomes = {}
    for query in args["queries"]:
        try:
            transport = raven.Client(args["dsn"] + "?" + query).remote.get_transport()
        except InvalidDsn as e:
            outcomes[query] = {"error": str(e)}
        else:
            outcomes[query] = {
                "in_flight_bound": transport.max_in_flight,
                "timeout": transport.timeout,
                "shutdown_timeout": transport.shutdown_timeout,
                "verify_ssl": transport.verify_ssl,
            }
    emit(outcomes=outcomes)


CASES = {
    "config": case_config,
    "exit": case_exit,
    "burst": case_burst,
    "outage": case_outage,
    "ratelimit": case_ratelimit,
    "bound": case_bound,
    "unreachable": case_unreachable,
}

if __name__ == "__main__":
    log_to_stderr()
    allow_transport_scheme_in_dsn()
    CASES[ARGS["case"]](ARGS)
