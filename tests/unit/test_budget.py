"""The size budget: events over Sentry's limits are trimmed in stages until they fit."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import os
import random
import uuid
from typing import Any, Callable, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from raven import protocol
from raven._core.budget import (
    MAX_COMPRESSED_BYTES,
    MAX_JSON_BYTES,
    ORIGINAL_SIZE_KEY,
    TRIMMED_KEY,
    Fitted,
    fit,
)
from raven.utils.testutils import InMemoryClient

MakeClient = Callable[..., InMemoryClient]
Event = Dict[str, Any]


def to_body(raw: bytes) -> bytes:
    """The request body the transport sends for a JSON text (as ``protocol.encode`` does)."""
    return raw if len(raw) < protocol.COMPRESS_MIN_SIZE else protocol._gzip(raw)


def budget(event: Event, **limits: int) -> Fitted:
    return fit(event, protocol.dumps, to_body, **limits)


def noise(size: int, seed: int = 0) -> str:
    """Text gzip cannot shrink much (base64 of random bytes: ~75 % of it stays)."""
    return base64.b64encode(random.Random(seed).randbytes(size))[:size].decode()


def sent(fitted: Fitted) -> Event:
    """The event the server receives; the body is the JSON, compressed or not."""
    event = json.loads(fitted.json)
    assert protocol.decode(fitted.body) == event
    return event  # type: ignore[no-any-return]


def assert_fits(fitted: Fitted, max_json: int = MAX_JSON_BYTES, max_body: int = 200_000) -> None:
    assert len(fitted.json) <= max_json
    assert len(fitted.body) <= max_body


def last_frames(event: Event) -> List[Dict[str, Any]]:
    return event["exception"]["values"][-1]["stacktrace"]["frames"]  # type: ignore[no-any-return]


def assert_kept_the_essentials(fitted: Fitted, original: Event) -> Event:
    """The trimmed event still says what failed, and what was trimmed."""
    event = sent(fitted)
    assert event["event_id"] == original["event_id"]
    assert event["extra"][TRIMMED_KEY] == list(fitted.trimmed)
    assert event["extra"][ORIGINAL_SIZE_KEY] == len(protocol.dumps(original))
    if "exception" in original:
        kept, was = event["exception"]["values"][-1], original["exception"]["values"][-1]
        assert (kept["type"], kept["value"]) == (was["type"], was["value"])
    return event


# -- events, from the real client where it can make them ---------------------------------------


def capture_exception(client: InMemoryClient) -> Event:
    def fails() -> None:
        answer = 42  # noqa: F841
        raise ValueError("too big")

    try:
        fails()
    except ValueError:
        client.captureException()
    return protocol.to_wire(client.events[-1])


def big_locals(make_client: MakeClient) -> Tuple[Event, Dict[str, int]]:
    """Deep recursion, each frame with a 3.9 KB local; locals are most of the event."""
    client = make_client(string_max_length=4000)

    def recurse(depth: int) -> None:
        pad = noise(3900, depth)  # noqa: F841
        if depth == 0:
            raise RecursionError("deep")
        recurse(depth - 1)

    try:
        recurse(40)
    except RecursionError:
        client.captureException()
    # a server whose limit is below this client's 100 KB: the limits after a 413
    return protocol.to_wire(client.events[-1]), {"max_json": 40_000}


def huge_local(make_client: MakeClient) -> Tuple[Event, Dict[str, int]]:
    """A 10 MB string in the crashing frame's locals (from a custom serializer, say)."""
    event = capture_exception(make_client())
    frames = copy.deepcopy(last_frames(event))
    frames[-1]["vars"]["huge"] = "x" * 10_000_000
    values = [dict(event["exception"]["values"][-1], stacktrace={"frames": frames})]
    return dict(event, exception={"values": values}), {}


def many_breadcrumbs(make_client: MakeClient) -> Tuple[Event, Dict[str, int]]:
    client = make_client()
    for i in range(100):
        client.captureBreadcrumb(message="crumb %d %s" % (i, noise(300, i)), category="app")
    client.captureMessage("after many crumbs")
    return protocol.to_wire(client.events[-1]), {"max_json": 20_000}


def request_body(make_client: MakeClient) -> Tuple[Event, Dict[str, int]]:
    """A 5 MB body, as a processor or 6.10 code editing the event dict could leave it (the
    client itself cuts request strings to 64 KB while building)."""
    client = make_client(string_max_length=10_000_000)
    client.http_context({"url": "https://example.com/upload", "method": "POST", "data": "-"})
    event = capture_exception(client)
    event["request"] = dict(event["request"], data="x" * 5_000_000)
    return event, {}


def incompressible_extra(make_client: MakeClient) -> Tuple[Event, Dict[str, int]]:
    """100 extra items of 50 KB random text: 5 MB of JSON that gzip cannot shrink."""
    client = make_client(string_max_length=100_000)
    client.captureMessage("m", extra={"item%d" % i: noise(50_000, i) for i in range(100)})
    return protocol.to_wire(client.events[-1]), {}


def body_bound_extra(make_client: MakeClient) -> Tuple[Event, Dict[str, int]]:
    """750 KB of JSON (under 1 MB) whose gzip body is still ~570 KB (over 200 KB)."""
    client = make_client(string_max_length=100_000)
    client.captureMessage("m", extra={"item%d" % i: noise(50_000, i) for i in range(15)})
    return protocol.to_wire(client.events[-1]), {}


def many_extra_items(make_client: MakeClient) -> Tuple[Event, Dict[str, int]]:
    """Short values, but 5,000 of them: no string is long enough to cut."""
    client = make_client(list_max_length=10_000)
    client.extra["sys.argv"] = ["app.py", "--serve"]  # small whatever command line ran the tests
    client.captureMessage("m", extra={"item%d" % i: noise(250, i) for i in range(5000)})
    return protocol.to_wire(client.events[-1]), {}


def many_frames(make_client: MakeClient) -> Tuple[Event, Dict[str, int]]:
    """5,000 frames (the client keeps 500; a custom stack, or a server with lower limits)."""
    event = capture_exception(make_client())
    frames = [
        {
            "filename": "app/module%d.py" % (i % 50),
            "abs_path": "/srv/app/module%d.py" % (i % 50),
            "module": "app.module%d" % (i % 50),
            "function": "handler_%d" % i,
            "lineno": i + 1,
            "in_app": True,
            "context_line": "    return handler_%d(request, *args, **kwargs)" % (i + 1),
        }
        for i in range(5000)
    ]
    values = [dict(event["exception"]["values"][-1], stacktrace={"frames": frames})]
    return dict(event, exception={"values": values}), {}


def absurd_limits(make_client: MakeClient) -> Tuple[Event, Dict[str, int]]:
    return capture_exception(make_client()), {"max_json": 100, "max_body": 100}


CASES = {
    f.__name__: f
    for f in [
        big_locals,
        huge_local,
        many_breadcrumbs,
        request_body,
        incompressible_extra,
        body_bound_extra,
        many_extra_items,
        many_frames,
        absurd_limits,
    ]
}


# -- the fast path ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [10, 5_000, 500_000])
def test_an_event_that_fits_is_encoded_once_and_returned_as_it_is(
    client: InMemoryClient, size: int
) -> None:
    client.captureMessage("fits", extra={"blob": "y" * size}, stack=True)
    event = protocol.to_wire(client.events[-1])
    calls: List[str] = []

    def dumps(data: Any) -> bytes:
        calls.append("dumps")
        return protocol.dumps(data)

    def body(raw: bytes) -> bytes:
        calls.append("to_body")
        return to_body(raw)

    fitted = fit(event, dumps, body)

    assert calls == ["dumps", "to_body"]
    assert fitted.json == protocol.dumps(event)
    assert fitted.body == to_body(fitted.json)
    assert fitted.trimmed == ()
    assert TRIMMED_KEY not in sent(fitted)["extra"]


def test_the_default_limits_are_sentrys() -> None:
    assert (MAX_JSON_BYTES, MAX_COMPRESSED_BYTES) == (1_000_000, 200_000)


def test_fitted_has_only_its_three_fields(client: InMemoryClient) -> None:
    client.captureMessage("m")
    fitted = budget(protocol.to_wire(client.events[-1]))

    assert not hasattr(fitted, "__dict__")
    assert "trimmed=()" in repr(fitted)


# -- each stage on its own ----------------------------------------------------------------------


def test_an_event_too_big_because_of_locals_loses_locals_and_keeps_its_frames(
    make_client: MakeClient,
) -> None:
    event, limits = big_locals(make_client)

    fitted = budget(event, **limits)

    assert fitted.trimmed == ("locals",)
    assert_fits(fitted, **limits)
    kept = assert_kept_the_essentials(fitted, event)
    frames = last_frames(kept)
    assert len(frames) == len(last_frames(event))
    assert [f for f in frames if "vars" in f] == [frames[-1]]  # only the crashing frame's
    assert frames[-1]["vars"] == last_frames(event)[-1]["vars"]


def test_a_huge_string_in_the_crashing_frames_locals_is_cut_not_the_other_locals(
    make_client: MakeClient,
) -> None:
    event, limits = huge_local(make_client)

    fitted = budget(event, **limits)

    assert fitted.trimmed == ("locals",)
    assert_fits(fitted)
    frame = last_frames(assert_kept_the_essentials(fitted, event))[-1]
    assert frame["vars"]["answer"] == "42"
    assert frame["vars"]["huge"] == "x" * 1021 + "..."


def test_breadcrumbs_keep_the_newest_ten_then_none(make_client: MakeClient) -> None:
    event, limits = many_breadcrumbs(make_client)

    fitted = budget(event, **limits)
    fewer = budget(event, max_json=3_000)

    assert fitted.trimmed == ("breadcrumbs",)
    assert_fits(fitted, **limits)
    crumbs = assert_kept_the_essentials(fitted, event)["breadcrumbs"]["values"]
    assert [c["message"] for c in crumbs] == [
        c["message"] for c in event["breadcrumbs"]["values"][-10:]
    ]
    assert fewer.trimmed == ("breadcrumbs",)
    assert "breadcrumbs" not in sent(fewer)


def test_a_5_mb_request_body_is_cut_to_8_kb_and_nothing_else_is_lost(
    make_client: MakeClient,
) -> None:
    event, limits = request_body(make_client)

    fitted = budget(event, **limits)

    assert fitted.trimmed == ("request_body",)
    assert_fits(fitted)
    kept = assert_kept_the_essentials(fitted, event)
    assert kept["request"]["data"] == "x" * 8189 + "..."
    assert kept["request"]["url"] == "https://example.com/upload"
    assert last_frames(kept) == last_frames(event)  # locals too: they were not the problem


def test_a_structured_request_body_becomes_its_cut_json_text(client: InMemoryClient) -> None:
    event = capture_exception(client)
    event = dict(event, request={"method": "POST", "data": {"rows": list(range(50_000))}})

    fitted = budget(event, max_json=20_000)

    assert fitted.trimmed == ("request_body",)
    assert sent(fitted)["request"]["data"].startswith('{"rows":[0,1,2,')


def test_incompressible_extra_is_cut_to_short_strings(make_client: MakeClient) -> None:
    event, limits = incompressible_extra(make_client)

    fitted = budget(event, **limits)

    assert fitted.trimmed == ("strings",)
    assert_fits(fitted)
    extra = assert_kept_the_essentials(fitted, event)["extra"]
    assert {k for k in extra if k.startswith("item")} == {"item%d" % i for i in range(100)}
    assert all(len(extra["item%d" % i]) == 1024 for i in range(100))


def test_the_compressed_size_limit_binds_incompressible_data_under_1_mb(
    make_client: MakeClient,
) -> None:
    event, limits = body_bound_extra(make_client)
    assert len(protocol.dumps(event)) < MAX_JSON_BYTES < len(to_body(protocol.dumps(event))) * 2

    fitted = budget(event, **limits)

    assert fitted.trimmed == ("strings",)
    assert_fits(fitted)
    assert_kept_the_essentials(fitted, event)


def test_many_short_extra_items_go_largest_first_until_it_fits(make_client: MakeClient) -> None:
    event, limits = many_extra_items(make_client)

    fitted = budget(event, **limits)

    assert fitted.trimmed == ("extra",)
    assert_fits(fitted)
    extra = assert_kept_the_essentials(fitted, event)["extra"]
    assert 100 < len(extra) < len(event["extra"])
    assert "sys.argv" in extra  # small items stay


def test_5000_frames_keep_their_outermost_and_innermost_25(make_client: MakeClient) -> None:
    event, limits = many_frames(make_client)

    fitted = budget(event, **limits)

    assert fitted.trimmed == ("frames",)
    assert_fits(fitted)
    frames = last_frames(assert_kept_the_essentials(fitted, event))
    original = last_frames(event)
    assert frames == original[:25] + original[-25:]
    assert set(frames[-1]) == set(original[-1])  # no made-up field marks the gap


def test_frames_go_down_to_5_and_5(make_client: MakeClient) -> None:
    event, _ = many_frames(make_client)

    fitted = budget(event, max_json=6_000)

    assert fitted.trimmed == ("frames",)
    frames = last_frames(sent(fitted))
    assert [f["lineno"] for f in frames] == [1, 2, 3, 4, 5, 4996, 4997, 4998, 4999, 5000]


def test_contexts_and_modules_go_after_extra(client: InMemoryClient) -> None:
    client.captureMessage("m")
    event = dict(
        protocol.to_wire(client.events[-1]),
        contexts={"c%d" % i: {"type": "default", "v": noise(200, i)} for i in range(300)},
        modules={"package%d" % i: "1.0.%d" % i for i in range(3000)},
    )

    fitted = budget(event, max_json=20_000)

    assert fitted.trimmed[-2:] == ("contexts", "modules")
    assert_fits(fitted, max_json=20_000)


def test_a_second_pass_applies_together_the_steps_too_small_on_their_own() -> None:
    """Steps saving under an eighth of the excess are skipped, unless they are needed."""
    crash = {"function": "f", "lineno": 2, "vars": {"a": "1"}}
    event = {
        "event_id": uuid.uuid4().hex,
        "level": "error",
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": "v",
                    "stacktrace": {
                        "frames": [{"function": "g", "lineno": 1, "vars": {"a": "x" * 4500}}, crash]
                    },
                }
            ]
        },
        "breadcrumbs": {"values": [{"message": "m" * 230, "timestamp": 1} for _ in range(18)]},
        "contexts": {"big": {"k%d" % i: "v" * 190 for i in range(220)}},
    }
    size = len(protocol.dumps(event))

    def no_gzip(raw: bytes) -> bytes:
        return raw

    first_pass_only = fit(event, protocol.dumps, no_gzip, max_json=size - 40_000)
    both = fit(event, protocol.dumps, no_gzip, max_json=size - 48_000)

    assert first_pass_only.trimmed == ("contexts",)
    assert "vars" in last_frames(sent(first_pass_only))[0]
    assert both.trimmed == ("locals", "breadcrumbs", "contexts")
    assert len(both.json) <= size - 48_000


def test_absurd_limits_get_the_minimal_event(make_client: MakeClient) -> None:
    event, limits = absurd_limits(make_client)

    fitted = budget(event, **limits)

    assert fitted.trimmed == ("minimal",)
    assert len(fitted.json) > 100  # documented: the minimal event may not fit
    kept = assert_kept_the_essentials(fitted, event)
    assert set(kept) <= {
        "event_id", "timestamp", "level", "platform", "logger", "transaction", "release",
        "environment", "server_name", "fingerprint", "tags", "sdk", "user", "logentry",
        "exception", "stacktrace", "extra",
    }  # fmt: skip
    frames = last_frames(kept)
    assert frames[-1]["function"] == "fails"
    assert "vars" not in frames[-1]
    assert len(frames) <= 5


def test_a_cycle_in_raw_data_does_not_hang_the_trimming(client: InMemoryClient) -> None:
    client.captureMessage("m")
    loop: List[Any] = ["z" * 5000]
    loop.append(loop)
    event = dict(protocol.to_wire(client.events[-1]), extra={"loop": loop, "x": "y" * 5000})

    fitted = budget(event, max_json=3_000)

    assert fitted.trimmed
    assert sent(fitted)["event_id"] == event["event_id"]


# -- the input, the 413 path --------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_callers_event_is_not_changed(make_client: MakeClient, case: str) -> None:
    event, limits = CASES[case](make_client)
    before = copy.deepcopy(event)

    fitted = budget(event, **limits)

    assert fitted.trimmed
    assert event == before


@pytest.mark.parametrize("case", ["request_body", "many_frames", "big_locals"])
def test_halving_the_limits_after_each_413_ends(make_client: MakeClient, case: str) -> None:
    """The transport's 413 path: retry with half the refused sizes until the server accepts."""
    event, limits = CASES[case](make_client)
    fitted = budget(event, **limits)
    sizes = [len(fitted.json)]
    for _ in range(30):
        max_json, max_body = len(fitted.json) // 2, len(fitted.body) // 2
        fitted = budget(event, max_json=max_json, max_body=max_body)
        sizes.append(len(fitted.json))
        if len(fitted.json) > max_json or len(fitted.body) > max_body:
            break
    else:
        pytest.fail("the limits were halved 30 times: %r" % sizes)

    assert fitted.trimmed == ("minimal",)
    assert sizes == sorted(sizes, reverse=True)
    assert_kept_the_essentials(fitted, event)


def test_refitting_a_refused_trimmed_body_keeps_the_first_mark(make_client: MakeClient) -> None:
    """What the transport does after a 413: decode the refused body, fit it at half its size."""
    event, limits = request_body(make_client)
    refused = budget(event, **limits)

    smaller = budget(
        sent(refused), max_json=len(refused.json) // 2, max_body=len(refused.body) // 2
    )

    assert refused.trimmed == ("request_body",)
    assert smaller.trimmed[0] == "request_body" and len(smaller.trimmed) > 1
    assert sent(smaller)["extra"][ORIGINAL_SIZE_KEY] == len(protocol.dumps(event))
    assert_kept_the_essentials(smaller, event)


# -- Sentry Relay accepts every trimmed event --------------------------------------------------


@pytest.fixture(scope="module")
def normalizer() -> Any:
    """Relay's ingest checks; outside CI, the Relay tests skip when sentry-relay is missing."""
    if os.environ.get("CI"):
        relay: Any = importlib.import_module("sentry_relay.processing")
    else:
        relay = pytest.importorskip("sentry_relay.processing")
    return relay.StoreNormalizer(
        enable_trimming=True,
        max_secs_in_future=60,
        max_secs_in_past=30 * 24 * 3600,
        is_renormalize=False,
    )


def relay_errors(meta: Any, path: str = "") -> List[Tuple[str, Any]]:
    """The ``err`` entries of Relay's ``_meta`` tree: what it rejected (remarks are fine)."""
    if not isinstance(meta, dict):
        return []
    found = [(path, err) for err in (meta.get("", {}) or {}).get("err") or []]
    for key, sub in meta.items():
        if key != "":
            found.extend(relay_errors(sub, "%s.%s" % (path, key) if path else str(key)))
    return found


@pytest.mark.relay
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_trimmed_event_passes_relay(
    normalizer: Any, make_client: MakeClient, case: str
) -> None:
    event, limits = CASES[case](make_client)

    fitted = budget(event, **limits)
    normalized = normalizer.normalize_event(raw_event=fitted.json)

    assert relay_errors(normalized.get("_meta")) == []
    assert normalized.get("errors") is None
    assert normalized["event_id"].replace("-", "") == event["event_id"]
    assert normalized["extra"][TRIMMED_KEY] == list(fitted.trimmed)


# -- any event, any limits ----------------------------------------------------------------------

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    # long strings, drawn cheaply: repeated characters, or random text gzip cannot shrink
    st.builds(lambda c, n: c * n, st.characters(), st.integers(0, 5000)),
    st.builds(noise, st.integers(0, 5000), st.integers(0, 2**16)),
)
#: keys the trimming treats specially, and any other
keys = st.sampled_from(["type", "timestamp", "vars", "frames", "values", "data", "id"]) | st.text(
    max_size=8
)
trees = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=10,
)
frames = st.lists(
    st.fixed_dictionaries(
        {"function": st.text(max_size=40), "lineno": st.integers(1, 10**6)},
        optional={
            "filename": st.text(max_size=60),
            "context_line": st.text(max_size=300),
            "vars": st.dictionaries(keys, trees, max_size=3),
        },
    ),
    min_size=1,
    max_size=60,
)
stacktraces = st.fixed_dictionaries({"frames": frames})
exceptions = st.fixed_dictionaries(
    {
        "values": st.lists(
            st.fixed_dictionaries(
                {"type": st.text(min_size=1, max_size=30), "value": st.text(max_size=600)},
                optional={"stacktrace": stacktraces},
            ),
            min_size=1,
            max_size=4,
        )
    }
)
crumbs = st.fixed_dictionaries(
    {"values": st.lists(st.fixed_dictionaries({"message": leaves}), min_size=5, max_size=60)}
)


def usually(shape: Any) -> Any:
    """A part in its usual shape three times in four, else anything at all."""
    return st.one_of(shape, shape, shape, trees)


events = st.fixed_dictionaries(
    {
        "event_id": st.uuids().map(lambda u: u.hex),
        "level": st.sampled_from(["error", "info"]),
        "platform": st.just("python"),
        "exception": usually(exceptions),
        "extra": usually(st.dictionaries(keys, trees, max_size=20)),
    },
    optional={
        "stacktrace": usually(stacktraces),
        "breadcrumbs": usually(crumbs),
        "request": usually(st.fixed_dictionaries({"method": st.just("POST"), "data": trees})),
        "contexts": usually(st.dictionaries(keys, st.dictionaries(keys, trees), max_size=5)),
        "modules": usually(st.dictionaries(keys, st.text(max_size=10))),
        "tags": usually(st.dictionaries(keys, st.text(max_size=300))),
        "user": usually(st.fixed_dictionaries({"id": st.text(max_size=20)})),
        "logentry": usually(st.fixed_dictionaries({"formatted": st.text(max_size=2000)})),
        "fingerprint": st.lists(st.text(max_size=20), max_size=3),
        "release": st.text(max_size=50),
    },
)
#: where limits lie between the minimal event (0) and the event itself (1); below 0 nothing fits
shares = st.integers(-50, 110).map(lambda percent: percent / 100)


@settings(
    max_examples=int(os.environ.get("RAVEN_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(event=events, json_share=shares, body_share=shares)
def test_any_event_ends_within_any_limits_or_as_the_minimal_event(
    event: Event, json_share: float, body_share: float
) -> None:
    """Limits lie between the minimal event's sizes (share 0) and the event's own (share 1)."""
    before = copy.deepcopy(event)
    raw = protocol.dumps(event)
    floor = budget(event, max_json=0, max_body=0)
    max_json = max(30, int(len(floor.json) + (len(raw) - len(floor.json)) * json_share))
    max_body = max(30, int(len(floor.body) + (len(to_body(raw)) - len(floor.body)) * body_share))

    fitted = budget(event, max_json=max_json, max_body=max_body)

    fits = len(fitted.json) <= max_json and len(fitted.body) <= max_body
    note_event("trimmed: %s%s" % (", ".join(fitted.trimmed), "" if fits else " (does not fit)"))
    assert event == before
    result = sent(fitted)
    assert fits or fitted.trimmed == ("minimal",)  # nothing here was trimmed before
    if fitted.trimmed:
        assert result["extra"][TRIMMED_KEY] == list(fitted.trimmed)
        assert result["event_id"] == event["event_id"]
    else:
        assert fitted.json == protocol.dumps(event)
