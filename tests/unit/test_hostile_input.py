"""Whatever an application puts into an event, capturing it returns an id and the event encodes.

The property tests throw arbitrary, hostile objects into every place an application feeds raven:
extra, tags, user, request, frame locals, messages and breadcrumbs (recorded directly and through
logging). Each capture must return an event id, drop nothing, and the event must survive
``client.encode`` and ``raven.protocol.decode`` with its id intact.

``RAVEN_HYPOTHESIS_EXAMPLES`` sets the number of examples per test (CI runs 2000).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Callable, Dict, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raven import breadcrumbs
from raven.protocol import decode
from raven.utils.testutils import InMemoryClient

EXAMPLES = int(os.environ.get("RAVEN_HYPOTHESIS_EXAMPLES", "300"))

hostile_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# -- hostile classes --------------------------------------------------------------------------


class RaisesOnRepr:
    def __repr__(self) -> str:
        raise RuntimeError("__repr__ refused")


class RaisesOnStr:
    def __str__(self) -> str:
        raise RuntimeError("__str__ refused")


class RaisesOnEq:
    """Hashable (by identity), so it can be a dict key; comparing it raises."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("__eq__ refused")

    __hash__ = object.__hash__


class RaisesOnHash:
    def __hash__(self) -> int:
        raise RuntimeError("__hash__ refused")


class RaisesOnEverything(RaisesOnEq):
    def __repr__(self) -> str:
        raise RuntimeError("__repr__ refused")

    def __str__(self) -> str:
        raise RuntimeError("__str__ refused")

    def __format__(self, spec: str) -> str:
        raise RuntimeError("__format__ refused")

    def __len__(self) -> int:
        raise RuntimeError("__len__ refused")

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("__iter__ refused")

    def __bool__(self) -> bool:  # truthy, so "is there a message" checks keep working
        return True


class SentryRaises:
    def __sentry__(self) -> Any:
        raise RuntimeError("__sentry__ refused")


class SentryReturnsItself:
    def __sentry__(self) -> Any:
        return self


class SentryReturnsHostile:
    def __sentry__(self) -> Any:
        return {"inner": RaisesOnEverything(), "again": SentryReturnsHostile()}


class AnswersEverything:
    """Like a mock: every attribute exists and is callable (``__sentry__`` included)."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: AnswersEverything()


class ReprIsNotText:
    def __repr__(self) -> Any:
        return 42


class ReprRecurses:
    def __repr__(self) -> str:
        return repr(self)


class ReprIsHuge:
    def __repr__(self) -> str:
        return "r" * 2_000_000


class ListThatCannotIterate(list):  # type: ignore[type-arg]
    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("__iter__ refused")

    def __getitem__(self, index: Any) -> Any:
        raise RuntimeError("__getitem__ refused")


class DictThatCannotList(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("items refused")

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("__iter__ refused")


class StrWithHostileMethods(str):
    def __str__(self) -> str:
        raise RuntimeError("__str__ refused")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ refused")


class FloatWithHostileRepr(float):
    def __repr__(self) -> str:
        raise RuntimeError("__repr__ refused")


# -- strategies -------------------------------------------------------------------------------

#: built once: creating 10 MB per example would dominate the run time
TEN_MEGABYTES = "x" * 10_000_000


def _nested(depth: int, make: Callable[[Any], Any]) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = make(value)
    return value


DEEP_LIST = _nested(1000, lambda inner: [inner])
DEEP_DICT = _nested(1000, lambda inner: {"level": inner})


def self_referencing(kind: str, items: list) -> Any:  # type: ignore[type-arg]
    if kind == "list":
        value: Any = list(items)
        value.append(value)
    elif kind == "dict":
        value = dict(enumerate(items))
        value["self"] = value
        value["deeper"] = [1, {"back": value}]
    else:
        holder: list = list(items)  # type: ignore[type-arg]
        value = (holder,)
        holder.append(value)
    return value


texts = st.one_of(
    st.text(),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1),  # lone surrogates
    st.text().map(lambda s: s + "\udc80\ud800"),
    st.sampled_from(["", "%s", "%(missing)s", "%d", "\x00", "'", '"', "\\"]),
)
non_utf8_bytes = st.one_of(st.binary(), st.sampled_from([b"\xff\xfe\xfd", b"\xc3\x28", b"\x80" * 100]))
huge_ints = st.integers(min_value=4400, max_value=6000).map(lambda digits: 10**digits)
hostile_objects = st.one_of(
    st.builds(RaisesOnRepr),
    st.builds(RaisesOnStr),
    st.builds(RaisesOnEq),
    st.builds(RaisesOnHash),
    st.builds(RaisesOnEverything),
    st.builds(SentryRaises),
    st.builds(SentryReturnsItself),
    st.builds(SentryReturnsHostile),
    st.builds(AnswersEverything),
    st.builds(ReprIsNotText),
    st.builds(ReprRecurses),
    st.builds(ReprIsHuge),
    st.builds(ListThatCannotIterate, st.lists(st.integers(), max_size=3)),
    st.builds(DictThatCannotList, st.dictionaries(st.text(max_size=3), st.integers(), max_size=3)),
    st.builds(StrWithHostileMethods, st.text(max_size=10)),
    st.builds(FloatWithHostileRepr, st.floats()),
    st.sampled_from([ValueError("an exception as a value"), object(), type, len, lambda: None]),
)
hashable_keys = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    non_utf8_bytes,
    st.builds(RaisesOnEq),
    st.builds(RaisesOnEverything),
    st.tuples(st.integers(), texts),
    st.frozensets(st.integers(), max_size=3),
)


def hostile_values(huge: bool = True) -> st.SearchStrategy[Any]:
    """Arbitrary nestings of hostile leaves, cycles included."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        texts,
        non_utf8_bytes,
        hostile_objects,
        st.sampled_from([TEN_MEGABYTES, DEEP_LIST, DEEP_DICT]),
        *([huge_ints] if huge else []),
    )

    def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.lists(children, max_size=5),
            st.tuples(children, children),
            st.dictionaries(hashable_keys, children, max_size=5),
            st.frozensets(hashable_keys, max_size=3),
            st.builds(self_referencing, st.sampled_from(["list", "dict", "tuple"]), st.lists(children, max_size=3)),
        )

    return st.recursive(leaves, containers, max_leaves=12)


values = hostile_values()
#: for the parts raven sends without serializing them (user, request, breadcrumb data): huge ints
#: are left out here because they still break the encoding there, see
#: test_a_huge_int_in_raw_event_data_does_not_stop_the_event_from_encoding below
raw_values = hostile_values(huge=False)


# -- checks -----------------------------------------------------------------------------------


@pytest.fixture
def hostile_client() -> InMemoryClient:
    return InMemoryClient(install_sys_hook=False, hook_libraries=[])


def start_example(client: InMemoryClient) -> None:
    client.events.clear()
    client.context.clear()
    client.stats.dropped.clear()


def assert_sent_and_encodable(client: InMemoryClient, event_id: Any) -> Dict[str, Any]:
    assert isinstance(event_id, str) and re.fullmatch(r"[0-9a-f]{32}", event_id)
    assert client.stats.dropped == {}
    event = client.events[-1]
    body = client.encode(event)
    assert isinstance(body, bytes)
    decoded = decode(body)
    assert isinstance(decoded, dict)
    assert decoded["event_id"] == event_id
    return decoded


@pytest.fixture
def silent_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("app.hostile")
    handler = logging.NullHandler()
    saved = (logger.level, logger.propagate)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    yield logger
    logger.removeHandler(handler)
    logger.setLevel(saved[0])
    logger.propagate = saved[1]


# -- properties -------------------------------------------------------------------------------


def test_hostile_extra_and_tags(hostile_client: InMemoryClient) -> None:
    @hostile_settings
    @given(value=values, key=hashable_keys)
    def check(value: Any, key: Any) -> None:
        start_example(hostile_client)
        hostile_client.extra_context({"from_context": value})
        hostile_client.tags_context({"from_context": value})

        event_id = hostile_client.captureMessage(
            "m", extra={"value": value, key: value}, tags={"tag": value, key: value}
        )

        decoded = assert_sent_and_encodable(hostile_client, event_id)
        assert all(isinstance(v, str) for v in decoded["tags"].values())

    check()


def test_hostile_user_and_request(hostile_client: InMemoryClient) -> None:
    @hostile_settings
    @given(value=raw_values, key=hashable_keys)
    def check(value: Any, key: Any) -> None:
        start_example(hostile_client)
        hostile_client.user_context({"id": value, key: value})
        hostile_client.http_context(
            {
                "url": "http://example.com/",
                "data": value,
                "query_string": value,
                "cookies": value,
                "headers": {"X-Value": value, key: value},
                "env": {key: value},
            }
        )

        event_id = hostile_client.captureMessage("m")

        assert_sent_and_encodable(hostile_client, event_id)

    check()


def holds_in_a_local(value: Any) -> None:
    local_value = value  # noqa: F841
    container = {"nested": value, "list": [value, value]}  # noqa: F841
    raise ValueError(value)


def test_hostile_frame_locals_and_exception_arguments(hostile_client: InMemoryClient) -> None:
    @hostile_settings
    @given(value=values)
    def check(value: Any) -> None:
        start_example(hostile_client)
        try:
            holds_in_a_local(value)
        except ValueError:
            event_id = hostile_client.captureException()
        assert_sent_and_encodable(hostile_client, event_id)

        local_value = value  # noqa: F841
        event_id = hostile_client.captureMessage("with stack", stack=True)
        assert_sent_and_encodable(hostile_client, event_id)

    check()


def test_hostile_messages_and_params(hostile_client: InMemoryClient) -> None:
    @hostile_settings
    @given(value=values, params=st.lists(values, max_size=3))
    def check(value: Any, params: Any) -> None:
        start_example(hostile_client)

        event_id = hostile_client.captureMessage(value, params=tuple(params))

        decoded = assert_sent_and_encodable(hostile_client, event_id)
        assert isinstance(decoded["message"], str)

    check()


def test_hostile_breadcrumbs(hostile_client: InMemoryClient, silent_logger: logging.Logger) -> None:
    @hostile_settings
    @given(value=raw_values, key=hashable_keys, text=texts)
    def check(value: Any, key: Any, text: str) -> None:
        start_example(hostile_client)
        breadcrumbs.record(message=value, category=value, level=value, data={"value": value, key: value})
        breadcrumbs.record(message=text, data={"value": value})
        hostile_client.captureBreadcrumb(message=value, data={"value": value, key: value})
        silent_logger.warning(value)
        silent_logger.warning("%s and %r", value, value)
        silent_logger.warning("mapping %(value)s", {"value": value})
        silent_logger.warning(text, extra={"value": value})

        event_id = hostile_client.captureMessage("m")

        decoded = assert_sent_and_encodable(hostile_client, event_id)
        assert len(decoded["breadcrumbs"]["values"]) >= 1

    check()


# -- known failures ---------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="bug: an int with more than 4300 digits in data raven does not serialize (user, "
    "request, breadcrumb data, fingerprint) makes encode() raise ValueError (Python's int "
    "string limit), so a real client drops the event as internal_error",
)
@pytest.mark.parametrize("part", ["user", "request", "breadcrumb data", "fingerprint"])
def test_a_huge_int_in_raw_event_data_does_not_stop_the_event_from_encoding(
    hostile_client: InMemoryClient, part: str
) -> None:
    huge = 10**5000
    if part == "user":
        event_id = hostile_client.captureMessage("m", data={"user": {"id": huge}})
    elif part == "request":
        event_id = hostile_client.captureMessage("m", data={"request": {"url": "http://x/", "data": {"n": huge}}})
    elif part == "breadcrumb data":
        breadcrumbs.record(message="m", data={"n": huge})
        event_id = hostile_client.captureMessage("m")
    else:
        event_id = hostile_client.captureMessage("m", fingerprint=["{{ default }}", huge])

    assert_sent_and_encodable(hostile_client, event_id)


@pytest.mark.xfail(
    strict=True,
    reason="bug: breadcrumbs.record() raises into the application when the message's __bool__ "
    "raises (the 'message, data or processor' check); captureBreadcrumb logs it as an internal error",
)
def test_recording_a_crumb_whose_message_cannot_be_truth_tested_does_not_raise(
    hostile_client: InMemoryClient,
) -> None:
    class NoTruth:
        def __bool__(self) -> bool:
            raise RuntimeError("__bool__ refused")

    breadcrumbs.record(message=NoTruth())  # type: ignore[arg-type]

    assert_sent_and_encodable(hostile_client, hostile_client.captureMessage("m"))


@pytest.mark.xfail(
    strict=True,
    reason="bug: an extra key whose __str__ raises makes the default scrubber raise, and the "
    "whole event is dropped as internal_error",
)
def test_an_extra_key_whose_str_raises_does_not_drop_the_event(hostile_client: InMemoryClient) -> None:
    key = RaisesOnEverything()

    event_id = hostile_client.captureMessage("m", extra={"nested": {key: "value"}})

    assert_sent_and_encodable(hostile_client, event_id)
