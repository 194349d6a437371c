"""S5: a storm of captured exceptions through the client's default HTTP transport.

``--iterations`` times, a light error (``ValueError`` raised two calls deep) is
caught and captured with the library's normal API, as fast as the app thread
can go, through the DEFAULT transport of a client built from a DSN:

* raven flavor (raven 6.10 and ours): ``raven.Client(dsn)`` +
  ``client.captureException()``;
* sdk flavor: ``sentry_sdk.init(dsn=..., default_integrations=False)`` +
  ``sentry_sdk.capture_exception()``.

The DSN points at the loopback sink that ``bench/run.py`` runs in its own
process (never here: a server thread in this process would steal the GIL
from the app thread being timed).  Handshake: once the client exists this
script prints ``{"ready": ...}`` and waits for a line on stdin, so that the
driver starts the variant's clock (sink down for 5 s, 429 for 3 s) when the
storm starts rather than when the interpreter starts.

Measured here, in the app thread: wall time (``perf_counter``) and CPU of this
thread (``thread_time``) of the whole capture loop, per event.  Then the
client is shut down the way an application would:

* ours: ``client.close(timeout)`` if it has it, else ``client.flush(timeout)``,
  else nothing (its atexit hook then does whatever it does);
* raven 6.10: nothing explicit: its atexit hook waits (up to 10 s by default)
  for the queue to drain;
* sdk: ``sentry_sdk.flush(timeout=...)``.

Its duration is reported as ``flush_s``, and ``client.stats.as_dict()`` (ours,
if present) as ``stats``; for the SDK, the drops it counted but had not sent
in a client report by then (a private attribute, for the record only) as
``sdk_unreported_drops``.  A last JSON line, printed by an atexit hook
registered before the client was built (atexit runs hooks last-in first-out,
so it runs after the client's own), reports ``exit_s``: loop end to the end
of all the clients' atexit hooks.

raven 6.10 skips an exception whose ``id()`` it has seen before in the
current context, and ``id()`` values of freed exceptions are reused, so every
caught exception is kept alive until the end (same for every flavor) rather
than clearing the context inside the timed loop.
"""
import atexit
import json
import sys
import time

from _common import emit, library_version, parse_args


def inner(i):
    raise ValueError("storm %d" % i)


def outer(i):
    inner(i)


def say(result):
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def main():
    args = parse_args(
        __doc__.splitlines()[0],
        iterations=5000,
        repeat=1,
        extra=[
            (("--dsn",), {"required": True}),
            (("--variant",), {"default": "up"}),
            (("--flush-timeout",), {"type": float, "default": 60.0}),
            (("--no-wait",), {"action": "store_true", "help": "do not wait for 'go' on stdin"}),
        ],
    )
    marks = {}

    def at_exit():  # registered first, so it runs after the client's own atexit hooks
        if "loop_end" in marks:
            say({"exit_s": time.perf_counter() - marks["loop_end"]})

    atexit.register(at_exit)

    client = None
    if args.client == "sdk":
        import sentry_sdk

        sentry_sdk.init(dsn=args.dsn, default_integrations=False)
        capture = sentry_sdk.capture_exception
        transport = type(sentry_sdk.get_client().transport).__name__
    else:
        import raven

        client = raven.Client(args.dsn)
        capture = client.captureException
        try:
            transport = type(client.remote.get_transport()).__name__
        except Exception as exc:  # not part of what is measured
            transport = "unknown (%s)" % type(exc).__name__
    say({"ready": True, "transport": transport})
    if not args.no_wait:
        sys.stdin.readline()

    n = args.iterations
    keep = []
    captured = 0
    wall0 = time.perf_counter()
    cpu0 = time.thread_time()
    for i in range(n):
        try:
            outer(i)
        except ValueError as exc:
            if capture() is not None:
                captured += 1
            keep.append(exc)
    cpu = time.thread_time() - cpu0
    marks["loop_end"] = loop_end = time.perf_counter()
    wall = loop_end - wall0

    flush_how, report = "atexit", None
    if args.client == "sdk":
        flush_how = "sentry_sdk.flush"
        sentry_sdk.flush(timeout=args.flush_timeout)
    elif hasattr(client, "close"):
        flush_how = "client.close"
        report = client.close(timeout=args.flush_timeout)
    elif hasattr(client, "flush"):
        flush_how = "client.flush"
        report = client.flush(args.flush_timeout)
    flush_s = time.perf_counter() - loop_end

    unsent = None
    if args.client == "sdk":
        # private, for the record only: drops the SDK counted but has not reported (yet)
        try:
            pending = sentry_sdk.get_client().transport._discarded_events
            unsent = {"%s/%s" % key: count for key, count in pending.items()}
        except Exception:
            pass

    stats = None
    if client is not None and hasattr(client, "stats"):
        stats = client.stats.as_dict() if hasattr(client.stats, "as_dict") else None
    emit({
        "workload": "S5",
        "variant": args.variant,
        "version": library_version(args.client),
        "transport": transport,
        "iterations": n,
        "captured_ids": captured,
        "loop_wall_s": wall,
        "loop_cpu_s": cpu,
        "wall_us_per_event": wall / n * 1e6,
        "cpu_us_per_event": cpu / n * 1e6,
        "flush": flush_how,
        "flush_s": flush_s,
        "flush_report": None if report is None else repr(report),
        "stats": stats,
        "sdk_unreported_drops": unsent,
    })


if __name__ == "__main__":
    main()
