"""A real zerorpc server and client in one process, with raven's middleware on the server.

    python zerorpc_scenario.py '{"dsn": "...", "patch": true, "calls": 5, "run": "a1-"}'

Remote methods fail for several concurrent callers, each call carrying its own trace id
(prefixed with ``run``) in zerorpc's task context; the result line lists the calls and what
the callers got back. The parent (tests/unit/test_isolated_transports.py, and the Bugsink
end-to-end test) checks the events its server received.
"""

from __future__ import annotations

import json
import sys
import warnings

ARGS = json.loads(sys.argv[1])
# older gevent releases (22.10) read their plugins through pkg_resources, which warns
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
if ARGS.get("patch"):
    from gevent import monkey

    monkey.patch_all()

import socket  # noqa: E402

import gevent  # noqa: E402
import gevent.local  # noqa: E402

# zerorpc 0.6.3 (its last release) uses the ``future`` package, which trips -W error
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(future|past)(\.|$)")
import zerorpc  # noqa: E402
from _scenario import (  # noqa: E402
    allow_transport_scheme_in_dsn,
    emit,
    log_to_stderr,
    stats,
)

import raven  # noqa: E402
from raven.contrib.zerorpc import SentryMiddleware  # noqa: E402


class TraceContext:
    """A zerorpc middleware carrying a trace id from each caller to the task serving it."""

    def __init__(self) -> None:
        self.local = gevent.local.local()

    def get_task_context(self):
        trace_id = getattr(self.local, "trace_id", None)
        return {"trace_id": trace_id} if trace_id else {}

    def load_task_context(self, header):
        self.local.trace_id = header.get("trace_id")


def check_stock(sku, quantity):
    if quantity > 3:
        raise LookupError("only 3 of %s left, %d asked" % (sku, quantity))


class Inventory:
    def reserve(self, sku, quantity):
        check_stock(sku, quantity)
        return "reserved %d of %s" % (quantity, sku)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(context, middleware):
    """A server on its own zerorpc context, so each has its own middlewares."""
    context.register_middleware(middleware)
    trace = TraceContext()
    context.register_middleware(trace)
    endpoint = "tcp://127.0.0.1:%d" % free_port()
    server = zerorpc.Server(Inventory(), context=context)
    server.bind(endpoint)
    runner = gevent.spawn(server.run)
    client = zerorpc.Client(context=context, timeout=20, heartbeat=None)
    client.connect(endpoint)
    return server, runner, client, trace


def call(client, trace, trace_id, sku, quantity):
    trace.local.trace_id = trace_id  # this greenlet's calls carry it
    try:
        return {"trace_id": trace_id, "sku": sku, "answer": client.reserve(sku, quantity)}
    except zerorpc.RemoteError as e:
        return {"trace_id": trace_id, "sku": sku, "remote_error": e.name, "message": e.msg}


def main():
    sentry = raven.Client(ARGS["dsn"])
    servers = {
        "hidden": serve(zerorpc.Context(), SentryMiddleware(client=sentry)),
        "shown": serve(
            zerorpc.Context(), SentryMiddleware(hide_zerorpc_frames=False, client=sentry)
        ),
    }
    jobs = []
    for name, (_, _, client, trace) in servers.items():
        for i in range(ARGS["calls"]):
            quantity = 5 if i % 2 == 0 else 1  # every other call succeeds
            sku = "%s-sku-%d" % (name, i)
            trace_id = "%s%s-trace-%d" % (ARGS.get("run", ""), name, i)
            jobs.append(gevent.spawn(call, client, trace, trace_id, sku, quantity))
    gevent.joinall(jobs, timeout=60, raise_error=True)
    report = sentry.flush(timeout=30)
    for server, runner, client, _ in servers.values():
        client.close()
        server.stop()
        runner.kill()
    emit(
        calls=[job.value for job in jobs],
        flush_pending=getattr(report, "pending", None),
        stats=stats(sentry),
    )
    sentry.close(timeout=5)


if __name__ == "__main__":
    log_to_stderr()
    allow_transport_scheme_in_dsn()
    main()
