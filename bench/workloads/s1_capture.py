"""S1: CPU per captured exception, including encoding the wire body.

An error is raised 20 frames deep in a recursive function; every frame holds
about ten locals (ints, a float, two 200-char strings, a 50-item dict, a
100-item list, an object with a custom ``__repr__``, a bool, None).  Each
iteration raises a fresh error and captures it from the ``except`` block with
the library's normal API (``client.captureException()`` /
``sentry_sdk.capture_exception()``).  The client is in-memory but encodes every
event to the bytes its HTTP transport would send (see ``_clients.py``), so the
number is capture + serialise + compress.

Fairness: both flavors capture local variables and source context with their
own default limits; one event is decoded before timing and the frame and
variable counts are reported so that the orchestrator can flag a client that
silently skipped locals.  The script also checks that every timed capture
really produced one encoded event: raven 6.10 skips an exception whose key
(type, ``id()``, code, line) it has seen before in the current context, and
``id()`` values of freed exceptions are reused, so between events (outside the
timed region) the raven flavor calls ``client.context.clear()``, as a web
framework integration does at the end of each request.

Only the ``capture()`` call is timed, with ``time.process_time`` (CPU of this
process) around it; the result is the best of ``--repeat`` runs of
``--iterations`` events after warm-up.
"""
import time

from _clients import decode_event, init_sdk, make_raven_client
from _common import emit, library_version, parse_args

DEPTH = 20


class Opaque:
    def __init__(self, n):
        self.n = n

    def __repr__(self):
        return "<Opaque #%d with a custom repr>" % self.n


def recurse(depth):
    an_int = depth
    big_int = depth * 1_000_003
    a_float = depth / 7.0
    text_a = "a" * 200
    text_b = ("frame %d " % depth).ljust(200, "b")
    a_dict = {"key%02d" % k: k for k in range(50)}
    a_list = list(range(100))
    an_obj = Opaque(depth)
    a_flag = depth % 2 == 0
    nothing = None
    if depth <= 1:
        raise ValueError("boom %d frames down" % DEPTH)
    return recurse(depth - 1)


def one_event(capture):
    try:
        recurse(DEPTH)
    except ValueError:
        capture()


def best_cpu_per_event(capture, reset, sink, n, repeat):
    best = float("inf")
    for _ in range(repeat):
        sent_before = sink.sent
        total = 0.0
        for _ in range(n):
            try:
                recurse(DEPTH)
            except ValueError:
                t0 = time.process_time()
                capture()
                total += time.process_time() - t0
            reset()
        if sink.sent - sent_before != n:
            raise SystemExit("only %d of %d captures produced an event"
                             % (sink.sent - sent_before, n))
        best = min(best, total / n)
    return best


def check_event(event):
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    deep = [f for f in frames if f.get("function") == "recurse"]
    with_vars = [f for f in deep if len(f.get("vars") or {}) >= 10]
    return {
        "frames": len(frames),
        "recurse_frames": len(deep),
        "recurse_frames_with_10_vars": len(with_vars),
        "custom_repr_seen": any(
            "custom repr" in str((f.get("vars") or {}).get("an_obj")) for f in deep
        ),
        "context_line_seen": any(f.get("context_line") for f in deep),
    }


def main():
    args = parse_args(__doc__.splitlines()[0], iterations=100)
    if args.client == "sdk":
        import sentry_sdk

        sink = init_sdk()
        capture = sentry_sdk.capture_exception
        reset = lambda: None  # noqa: E731 - no dedupe without DedupeIntegration
    else:
        sink = make_raven_client()
        capture = sink.captureException
        reset = sink.context.clear

    one_event(capture)
    if sink.sent != 1:
        raise SystemExit("expected exactly one event to be sent, got %d" % sink.sent)
    check = check_event(decode_event(args.client, sink))
    check["body_bytes"] = len(sink.last_body)

    best_cpu_per_event(capture, reset, sink, max(3, args.iterations // 10), 1)  # warm-up
    per_event = best_cpu_per_event(capture, reset, sink, args.iterations, args.repeat)
    emit({
        "workload": "S1",
        "version": library_version(args.client),
        "iterations": args.iterations,
        "repeat": args.repeat,
        "events_sent": sink.sent,
        "ms_per_event": per_event * 1e3,
        "check": check,
    })


if __name__ == "__main__":
    main()
