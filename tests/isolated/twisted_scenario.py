"""One scenario of raven's Twisted transport, in a process of its own (one reactor run).

    python twisted_scenario.py '{"case": "burst", "dsn": "twisted+http://...", ...}'

The result is one JSON line (see ``_scenario.emit``); the parent
(tests/unit/test_isolated_transports.py) checks it against what its sink received.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from _scenario import (
    allow_transport_scheme_in_dsn,
    emit,
    log_to_stderr,
    settled,
    signal,
    stats,
)
from twisted.internet import defer, task, threads

import raven

ARGS = json.loads(sys.argv[1])


async def pause(reactor, seconds=0.02):
    await task.deferLater(reactor, seconds, lambda: None)


async def until(reactor, condition, timeout=30.0):
    """Wait on the reactor (never blocking it) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await pause(reactor)
    return True


async def settle(reactor, client, count, timeout=30.0):
    return await until(reactor, lambda: settled(client) >= count, timeout)


def capture(client, index, where):
    return client.captureMessage(
        "twisted event %d" % index,
        tags={"index": str(index), "where": where},
        extra={"thread": threading.current_thread().name},
    )


async def case_burst(reactor, args):
    """Events captured on the reactor (each in its own Deferred chain) and from pool threads
    (handed to the reactor with callFromThread) all arrive, each with its own data."""
    client = raven.Client(args["dsn"])
    count = args["count"]
    pending = []
    for i in range(count):
        if i % 2:
            pending.append(threads.deferToThread(capture, client, i, "thread"))
        else:
            pending.append(task.deferLater(reactor, 0, capture, client, i, "reactor"))
    ids = await defer.gatherResults(pending, consumeErrors=True)
    # flush waits with a lock; off the reactor thread, so the sends it waits for can run
    report = await threads.deferToThread(client.flush, 30)
    done = await settle(reactor, client, count)
    # the transport of the client's delivery (not remote.get_transport(): the client may
    # have built more than one when its first events came from many threads at once)
    [delivery] = client._deliveries.values()
    transport = delivery.transport
    closed = await threads.deferToThread(client.close, 5)  # lets the pooled connections go
    emit(
        ids=ids,
        settled=done,
        stats=stats(client),
        flush_pending=getattr(report, "pending", None),
        close_pending=getattr(closed, "pending", None),
        pool_released=transport._pool is None,
        transport=type(transport).__name__,
    )


async def case_outage(reactor, args):
    """Events captured while the server refuses connections are kept and delivered once it
    is back; nothing hangs and nothing vanishes."""
    client = raven.Client(args["dsn"])
    count = args["count"]
    ids = [capture(client, i, "reactor") for i in range(count)]
    failing = await until(reactor, client.state.did_fail)
    settled_while_down = settled(client)
    signal("server-down-seen")
    done_after_outage = await settle(reactor, client, count, timeout=60)
    after = client.captureMessage("after the outage")
    done = await settle(reactor, client, count + 1)
    emit(
        ids=ids,
        after=after,
        failing=failing,
        settled_while_down=settled_while_down,
        settled_after_outage=done_after_outage,
        settled=done,
        stats=stats(client),
    )


async def case_ratelimit(reactor, args):
    """A 429 with Retry-After: nothing more is sent until it ends, then sending resumes."""
    client = raven.Client(args["dsn"])
    first = client.captureMessage("answered 429")
    first_settled = await settle(reactor, client, 1)
    limited_since = time.monotonic()
    held_back = [client.captureMessage("inside the window %d" % i) for i in range(args["count"])]
    held_settled = settled(client)
    await pause(reactor, max(args["retry_after"] + 0.3 - (time.monotonic() - limited_since), 0))
    after = client.captureMessage("after the window")
    done = await settle(reactor, client, args["count"] + 2)
    emit(
        first=first,
        first_settled=first_settled,
        held_back=held_back,
        held_settled=held_settled,
        after=after,
        settled=done,
        stats=stats(client),
    )


async def case_sequence(reactor, args):
    """Events sent one after the other (each waits for the previous one to be settled), so
    the parent can line the server's answers up with them."""
    client = raven.Client(args["dsn"])
    ids = []
    for i in range(args["count"]):
        ids.append(client.captureMessage("in sequence %d" % i))
        await settle(reactor, client, i + 1)
    emit(ids=ids, stats=stats(client))


async def send_directly(reactor, transport, url, body):
    """One ``async_send`` of the transport on its own; its outcome as JSON-able data."""
    outcome = defer.Deferred()
    transport.async_send(
        url,
        body,
        {"Content-Type": "application/json"},
        lambda *response: outcome.callback(
            {"delivered": True, "status": getattr(response[0], "status", None)}
        ),
        lambda exc: outcome.callback(
            {"delivered": False, "error": type(exc).__name__, "message": str(exc)}
        ),
    )
    return await outcome


async def case_direct(reactor, args):
    """The transport on its own, once per set of options given, all to the same URL."""
    from raven.transport.twisted import TwistedHTTPTransport

    outcomes = []
    for i, options in enumerate(args["options"]):
        body = json.dumps({"event_id": "%032x" % (i + 1), "message": "direct %d" % i})
        transport = TwistedHTTPTransport(**options)
        outcomes.append(await send_directly(reactor, transport, args["url"], body.encode()))
    emit(outcomes=outcomes)


CASES = {
    "burst": case_burst,
    "outage": case_outage,
    "ratelimit": case_ratelimit,
    "sequence": case_sequence,
    "direct": case_direct,
}


def main(reactor):
    return defer.ensureDeferred(CASES[ARGS["case"]](reactor, ARGS))


if __name__ == "__main__":
    log_to_stderr()
    allow_transport_scheme_in_dsn()
    task.react(main)
