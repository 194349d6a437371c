"""S2: cost of capturing one message with tags and extra data.

raven flavor: ``client.captureMessage('hello %s', params=('world',),
tags={'a': 'b'}, extra={'k': 'v', 'n': 1})``.
sdk flavor (its nearest idiom): ``with sentry_sdk.new_scope() as scope:``
set the same tag and extras, then ``sentry_sdk.capture_message('hello world')``.

The same in-memory, encode-everything clients as S1 are used (``_clients.py``),
so each call pays for building, serialising and compressing the event.  No
stack is attached (both libraries' default).  The script checks that every
timed call produced exactly one encoded event.  Time is ``time.process_time``,
best of ``--repeat`` runs of ``--iterations`` calls after warm-up, in µs/call.
"""
import json
import time

from _clients import decode_event, init_sdk, make_raven_client
from _common import emit, library_version, parse_args


def raven_call(client):
    def call():
        client.captureMessage(
            "hello %s", params=("world",), tags={"a": "b"}, extra={"k": "v", "n": 1}
        )

    return call


def sdk_call():
    import sentry_sdk

    def call():
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("a", "b")
            scope.set_extra("k", "v")
            scope.set_extra("n", 1)
            sentry_sdk.capture_message("hello world")

    return call


def check_event(event):
    """Tag, extra and message made it into the wire body (raven 6.10 sends
    extra values as their repr, hence the string comparison)."""
    tags = event.get("tags") or {}
    if isinstance(tags, list):  # tags may be sent as [key, value] pairs
        tags = dict(tags)
    extra = event.get("extra") or {}
    return {
        "tag_ok": tags.get("a") == "b",
        "extra_ok": str(extra.get("n")) == "1" and "v" in str(extra.get("k")),
        "message_ok": "hello" in json.dumps(event),
    }


def main():
    args = parse_args(__doc__.splitlines()[0], iterations=2000)
    if args.client == "sdk":
        sink = init_sdk()
        call = sdk_call()
    else:
        sink = make_raven_client()
        call = raven_call(sink)

    call()
    check = check_event(decode_event(args.client, sink))
    check["body_bytes"] = len(sink.last_body)
    for _ in range(max(10, args.iterations // 10)):
        call()

    n = args.iterations
    best = float("inf")
    for _ in range(args.repeat):
        sent_before = sink.sent
        t0 = time.process_time()
        for _ in range(n):
            call()
        best = min(best, (time.process_time() - t0) / n)
        if sink.sent - sent_before != n:
            raise SystemExit("only %d of %d calls produced an event"
                             % (sink.sent - sent_before, n))
    emit({
        "workload": "S2",
        "version": library_version(args.client),
        "iterations": n,
        "repeat": args.repeat,
        "events_sent": sink.sent,
        "us_per_call": best * 1e6,
        "check": check,
    })


if __name__ == "__main__":
    main()
