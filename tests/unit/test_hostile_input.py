"""Whatever an application puts into an event, capturing it returns an id and the event encodes.

The property tests throw arbitrary, hostile objects into every place an application feeds raven:
extra, tags, user, request, frame locals, messages and breadcrumbs (recorded directly and through
logging). Each capture must return an event id, drop nothing, and the event must survive
``client.encode`` and ``raven.protocol.decode`` with its id intact.

``RAVEN_HYPOTHESIS_EXAMPLES`` sets the number of examples per test (CI runs 1000).
"""

from __future__ import annotations

import logging
import math
import os
import re
from typing import Any, Callable, Dict, Iterator, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import raven.context
from raven import breadcrumbs
from raven.protocol import decode
from raven.utils.testutils import InMemoryClient

EXAMPLES = int(os.environ.get("RAVEN_HYPOTHESIS_EXAMPLES", "300"))

#: pytest-timeout's limit (300 s) fits the default run; 2000 examples build larger values
property_timeout = pytest.mark.timeout(max(300, EXAMPLES // 2))

hostile_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
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
#
# Huge values (10 MB strings, 1000-deep nesting, huge ints) and cycles are drawn as small markers
# and made real inside the test (``materialize``): Hypothesis prints the drawn arguments of a
# failing example, and printing the real objects would drown the report (or recurse too deep).


def _nested(depth: int, make: Callable[[Any], Any]) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = make(value)
    return value


#: built once: creating them per example would dominate the run time
HUGE = {
    "ten megabytes of text": "x" * 10_000_000,
    "a megabyte of non-UTF-8 bytes": b"\xff" * 1_000_000,
    "list nested 1000 deep": _nested(1000, lambda inner: [inner]),
    "dict nested 1000 deep": _nested(1000, lambda inner: {"level": inner}),
    "tuple nested 1000 deep": _nested(1000, lambda inner: (inner,)),
    "int of 5000 digits": 10**5000,
    "repr of 2 MB": ReprIsHuge(),
}


class Huge:
    """Stands for ``HUGE[name]`` in drawn examples."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return "Huge(%r)" % self.name


class Cycle:
    """Stands for a container of ``kind`` holding ``items`` and, somewhere, itself."""

    def __init__(self, kind: str, items: list) -> None:  # type: ignore[type-arg]
        self.kind, self.items = kind, items

    def __repr__(self) -> str:
        try:
            items = repr(self.items)
        except Exception:  # the items are hostile: so is their repr
            items = "[...%d hostile items...]" % len(self.items)
        return "Cycle(%r, %s)" % (self.kind, items)


class Make:
    """Stands for ``MAKE[name](argument)``: Hypothesis prints str and float subclasses with an
    unguarded repr(), so hostile ones are made only inside the test."""

    def __init__(self, name: str, argument: Any) -> None:
        self.name, self.argument = name, argument

    def __repr__(self) -> str:
        return "Make(%r, %r)" % (self.name, self.argument)


MAKE: Dict[str, Callable[[Any], Any]] = {
    "str subclass with hostile methods": lambda text: StrWithHostileMethods(text),
    "float subclass with hostile repr": lambda number: FloatWithHostileRepr(number),
}


def self_referencing(kind: str, items: list) -> Any:  # type: ignore[type-arg]
    if kind == "list":
        value: Any = list(items)
        value.append(value)
    elif kind == "dict":
        value = dict(enumerate(items))
        value["self"] = value
    elif kind == "nested dict":
        value = dict(enumerate(items))
        value["child"] = {"parent": value}
    else:
        holder: list = list(items)  # type: ignore[type-arg]
        value = (holder,)
        holder.append(value)
    return value


def materialize(value: Any) -> Any:
    """The drawn example with its markers replaced by the objects they stand for."""
    kind = type(value)
    if kind is Huge:
        return HUGE[value.name]
    if kind is Make:
        return MAKE[value.name](value.argument)
    if kind is Cycle:
        return self_referencing(value.kind, [materialize(item) for item in value.items])
    if kind is list:
        return [materialize(item) for item in value]
    if kind is tuple:
        return tuple(materialize(item) for item in value)
    if kind is dict:
        return {key: materialize(item) for key, item in value.items()}
    return value


lone_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
texts = st.one_of(
    st.text(),
    st.text(lone_surrogates, min_size=1),
    st.text().map(lambda s: s + "\udc80\ud800"),
    st.sampled_from(["", "%s", "%(missing)s", "%d", "\x00", "'", '"', "\\"]),
)
non_utf8_bytes = st.one_of(
    st.binary(), st.sampled_from([b"\xff\xfe\xfd", b"\xc3\x28", b"\x80" * 100])
)
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
    st.builds(Make, st.just("str subclass with hostile methods"), st.text(max_size=10)),
    st.sampled_from([ValueError("an exception as a value"), object(), type, len, lambda: None]),
)
#: objects the JSON encoding of unserialized parts (user, request) still chokes on
json_breakers = st.one_of(
    st.builds(Make, st.just("float subclass with hostile repr"), st.floats()),
    st.builds(ListThatCannotIterate, st.lists(st.integers(), max_size=3)),
    st.builds(DictThatCannotList, st.dictionaries(st.text(max_size=3), st.integers(), max_size=3)),
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
#: keys whose str() works (an extra/user key whose __str__ raises still drops the event: see
#: test_an_extra_or_user_key_whose_str_raises_does_not_drop_the_event)
safe_keys = hashable_keys.filter(lambda key: not isinstance(key, RaisesOnEverything))


def _finite(key: Any) -> bool:
    return not (isinstance(key, float) and not math.isfinite(key))


#: set items for user and request: a NaN or infinity inside a set still breaks their encoding
#: (test_user_data_json_cannot_take_does_not_stop_the_event_from_encoding)
finite_safe_keys = safe_keys.filter(_finite)


def hostile_values(
    keys: st.SearchStrategy[Any] = hashable_keys,
    set_items: Optional[st.SearchStrategy[Any]] = None,
    huge_ints: bool = True,
    cycles: bool = True,
    broken: bool = True,
    deep: bool = True,
) -> st.SearchStrategy[Any]:
    """Arbitrary nestings of hostile leaves; the flags leave out what still breaks a part."""
    huge = [
        name for name in HUGE if (huge_ints or "int" not in name) and (deep or "deep" not in name)
    ]
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        texts,
        non_utf8_bytes,
        hostile_objects,
        *([json_breakers] if broken else []),
        st.sampled_from(huge).map(Huge),
    )

    def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        kinds = [
            st.lists(children, max_size=5),
            st.tuples(children, children),
            st.dictionaries(keys, children, max_size=5),
            st.frozensets(keys if set_items is None else set_items, max_size=3),
        ]
        if cycles:
            kinds.append(
                st.builds(
                    Cycle,
                    st.sampled_from(["list", "dict", "nested dict", "tuple"]),
                    st.lists(children, max_size=3),
                )
            )
        return st.one_of(*kinds)

    return st.recursive(leaves, containers, max_leaves=12)


values = hostile_values()
#: extra, user and request are scrubbed before they are serialized; until the bugs pinned at the
#: end of this module are fixed, their strategies leave out: keys whose __str__ raises; for extra
#: and user, containers referring to themselves (the fast scrubber does not cut cycles); for user
#: and request, huge ints and other objects the JSON encoding of unserialized parts cannot take;
#: for request, 1000-deep nesting (varmap recurses).
extra_values = hostile_values(keys=safe_keys, cycles=False)
user_values = hostile_values(
    keys=safe_keys, set_items=finite_safe_keys, huge_ints=False, cycles=False, broken=False
)
request_values = hostile_values(
    keys=safe_keys, set_items=finite_safe_keys, huge_ints=False, broken=False, deep=False
)
#: breadcrumb data is made plain (cycles cut) before it is scrubbed; huge ints still break it
crumb_values = hostile_values(huge_ints=False)


# -- checks -----------------------------------------------------------------------------------


@pytest.fixture
def hostile_client() -> InMemoryClient:
    client = InMemoryClient(install_sys_hook=False, hook_libraries=[])
    # this thread's breadcrumbs go to this client only: every client other tests left alive
    # (held by signal receivers, logging handlers) would record each hostile value too
    # (134 of them made this module 10x slower in a full run); the conftest resets it
    raven.context._active.set((client.context,))
    return client


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
def silent_logger() -> logging.Logger:
    """A logger with a do-nothing handler, made outside logging's registry.

    pytest attaches its log capture to registered loggers, and its handler raises when a
    record's message cannot be formatted: the hostile messages here are about raven, not pytest.
    """
    logger = logging.Logger("app.hostile", logging.DEBUG)
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger


# -- properties -------------------------------------------------------------------------------


@property_timeout
def test_hostile_extra(hostile_client: InMemoryClient) -> None:
    @hostile_settings
    @given(drawn=extra_values, key=safe_keys)
    def check(drawn: Any, key: Any) -> None:
        value = materialize(drawn)
        start_example(hostile_client)
        hostile_client.extra_context({"from_context": value})

        event_id = hostile_client.captureMessage("m", extra={"value": value, key: value})

        decoded = assert_sent_and_encodable(hostile_client, event_id)
        assert "from_context" in decoded["extra"]

    check()


@property_timeout
def test_hostile_tags(hostile_client: InMemoryClient) -> None:
    @hostile_settings
    @given(drawn=values, key=hashable_keys)
    def check(drawn: Any, key: Any) -> None:
        value = materialize(drawn)
        start_example(hostile_client)
        hostile_client.tags_context({"from_context": value})

        event_id = hostile_client.captureMessage("m", tags={"tag": value, key: value})

        decoded = assert_sent_and_encodable(hostile_client, event_id)
        assert all(isinstance(v, str) for v in decoded["tags"].values())

    check()


@property_timeout
def test_hostile_user(hostile_client: InMemoryClient) -> None:
    @hostile_settings
    @given(drawn=user_values, key=safe_keys)
    def check(drawn: Any, key: Any) -> None:
        value = materialize(drawn)
        start_example(hostile_client)
        hostile_client.user_context({"id": "u-1", "data": value, key: value})

        event_id = hostile_client.captureMessage("m")

        assert_sent_and_encodable(hostile_client, event_id)

    check()


@property_timeout
def test_hostile_request(hostile_client: InMemoryClient) -> None:
    @hostile_settings
    @given(drawn=request_values, key=safe_keys)
    def check(drawn: Any, key: Any) -> None:
        value = materialize(drawn)
        start_example(hostile_client)
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


@property_timeout
def test_hostile_frame_locals_and_exception_arguments(hostile_client: InMemoryClient) -> None:
    @hostile_settings
    @given(drawn=values)
    def check(drawn: Any) -> None:
        value = materialize(drawn)
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


@property_timeout
def test_hostile_messages(hostile_client: InMemoryClient) -> None:
    @hostile_settings
    @given(drawn=values)
    def check(drawn: Any) -> None:
        value = materialize(drawn)
        start_example(hostile_client)

        event_id = hostile_client.captureMessage(value)

        decoded = assert_sent_and_encodable(hostile_client, event_id)
        assert isinstance(decoded["logentry"]["message"], str)

    check()


@property_timeout
def test_hostile_message_params(hostile_client: InMemoryClient) -> None:
    """``formatted`` is given: formatting hostile params is pinned by a known failure below."""

    @hostile_settings
    @given(drawn=st.lists(values, min_size=1, max_size=3), template=texts, formatted=texts)
    def check(drawn: Any, template: str, formatted: str) -> None:
        params = tuple(materialize(drawn))
        start_example(hostile_client)

        event_id = hostile_client.captureMessage(template, params=params, formatted=formatted)

        assert_sent_and_encodable(hostile_client, event_id)

    check()


def record_directly(
    client: InMemoryClient, logger: logging.Logger, value: Any, key: Any, text: str
) -> None:
    breadcrumbs.record(
        message=value, category=value, level=value, data={"value": value, key: value}
    )
    breadcrumbs.record(message=text, data={"value": value})


def record_through_the_client(
    client: InMemoryClient, logger: logging.Logger, value: Any, key: Any, text: str
) -> None:
    client.captureBreadcrumb(message=value, data={"value": value, key: value})


def log_as_the_message(
    client: InMemoryClient, logger: logging.Logger, value: Any, key: Any, text: str
) -> None:
    logger.warning(value)


def log_as_arguments(
    client: InMemoryClient, logger: logging.Logger, value: Any, key: Any, text: str
) -> None:
    logger.warning("%s and %r", value, value)
    logger.warning(text, value)  # the template may not fit


def log_as_a_mapping_argument(
    client: InMemoryClient, logger: logging.Logger, value: Any, key: Any, text: str
) -> None:
    logger.warning("mapping %(value)s", {"value": value, key: value})


def log_as_extra(
    client: InMemoryClient, logger: logging.Logger, value: Any, key: Any, text: str
) -> None:
    logger.warning(text, extra={"value": value})


RECORDING_WAYS = [
    record_directly,
    record_through_the_client,
    log_as_the_message,
    log_as_arguments,
    log_as_a_mapping_argument,
    log_as_extra,
]


@property_timeout
def test_hostile_breadcrumbs(hostile_client: InMemoryClient, silent_logger: logging.Logger) -> None:
    """Each example records its value one to three ways (all six on every value is too slow)."""

    @hostile_settings
    @given(
        drawn=crumb_values,
        key=hashable_keys,
        text=texts,
        ways=st.lists(st.sampled_from(RECORDING_WAYS), min_size=1, max_size=3, unique=True),
    )
    def check(drawn: Any, key: Any, text: str, ways: Any) -> None:
        value = materialize(drawn)
        start_example(hostile_client)
        for record_crumbs in ways:
            record_crumbs(hostile_client, silent_logger, value, key, text)

        event_id = hostile_client.captureMessage("m")

        decoded = assert_sent_and_encodable(hostile_client, event_id)
        assert len(decoded["breadcrumbs"]["values"]) >= 1

    check()


# -- regressions ------------------------------------------------------------------------------


def test_a_message_param_that_cannot_be_formatted_still_sends_the_template(
    hostile_client: InMemoryClient,
) -> None:
    event_id = hostile_client.captureMessage("value: %s", params=(RaisesOnStr(),))

    decoded = assert_sent_and_encodable(hostile_client, event_id)
    assert decoded["logentry"]["message"] == "value: %s"


# -- known failures ---------------------------------------------------------------------------

HANG_SCRIPT = """
from raven.utils.testutils import InMemoryClient
client = InMemoryClient(install_sys_hook=False, hook_libraries=[])
looped = {"name": "node"}
looped["parent"] = looped
looped["children"] = [looped]
assert client.captureMessage("m", %s) is not None
"""


@pytest.mark.parametrize("where", ["extra={'tree': looped}", "data={'user': {'tree': looped}}"])
def test_a_dict_referring_to_itself_twice_does_not_hang_the_capture(where: str) -> None:
    import subprocess
    import sys

    try:
        subprocess.run([sys.executable, "-c", HANG_SCRIPT % where], check=True, timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("the capture did not finish within 5 seconds")


@pytest.mark.parametrize("part", ["user", "request", "breadcrumb data", "fingerprint"])
def test_a_huge_int_in_raw_event_data_does_not_stop_the_event_from_encoding(
    hostile_client: InMemoryClient, part: str
) -> None:
    huge = 10**5000
    if part == "user":
        event_id = hostile_client.captureMessage("m", data={"user": {"score": huge}})
    elif part == "request":
        event_id = hostile_client.captureMessage(
            "m", data={"request": {"url": "http://x/", "data": {"n": huge}}}
        )
    elif part == "breadcrumb data":
        breadcrumbs.record(message="m", data={"n": huge})
        event_id = hostile_client.captureMessage("m")
    else:
        event_id = hostile_client.captureMessage("m", fingerprint=["{{ default }}", huge])

    assert_sent_and_encodable(hostile_client, event_id)


@pytest.mark.parametrize(
    "value",
    [
        DictThatCannotList(a=1),
        ListThatCannotIterate([1]),
        FloatWithHostileRepr("nan"),
        FloatWithHostileRepr("inf"),
        frozenset([float("inf")]),
        {float("nan")},
    ],
    ids=[
        "dict-items-raise",
        "list-iteration-raises",
        "nan-repr-raises",
        "inf-repr-raises",
        "inf-in-a-frozenset",
        "nan-in-a-set",
    ],
)
def test_user_data_json_cannot_take_does_not_stop_the_event_from_encoding(
    hostile_client: InMemoryClient, value: Any
) -> None:
    hostile_client.user_context({"id": "1", "data": value})

    assert_sent_and_encodable(hostile_client, hostile_client.captureMessage("m"))


@pytest.mark.parametrize(
    "user_id",
    [RaisesOnStr(), ReprIsNotText(), 10**5000],
    ids=["str-raises", "repr-not-text", "huge-int"],
)
def test_a_user_id_that_cannot_become_text_does_not_stop_the_event_from_encoding(
    hostile_client: InMemoryClient, user_id: Any
) -> None:
    hostile_client.user_context({"id": user_id})

    assert_sent_and_encodable(hostile_client, hostile_client.captureMessage("m"))


@pytest.mark.parametrize(
    "body", [DictThatCannotList(a=1), ListThatCannotIterate([1])], ids=["dict", "list"]
)
@pytest.mark.logs_sentry_errors
def test_a_request_body_that_cannot_be_iterated_does_not_drop_the_event(
    hostile_client: InMemoryClient, body: Any
) -> None:
    hostile_client.http_context({"url": "http://example.com/", "data": body})

    assert_sent_and_encodable(hostile_client, hostile_client.captureMessage("m"))


def test_recording_a_crumb_whose_message_cannot_be_truth_tested_does_not_raise(
    hostile_client: InMemoryClient,
) -> None:
    class NoTruth:
        def __bool__(self) -> bool:
            raise RuntimeError("__bool__ refused")

    breadcrumbs.record(message=NoTruth())  # type: ignore[arg-type]

    assert_sent_and_encodable(hostile_client, hostile_client.captureMessage("m"))


@pytest.mark.parametrize("part", ["extra", "user"])
@pytest.mark.logs_sentry_errors
def test_an_extra_or_user_key_whose_str_raises_does_not_drop_the_event(
    hostile_client: InMemoryClient, part: str
) -> None:
    key = RaisesOnEverything()
    if part == "extra":
        event_id = hostile_client.captureMessage("m", extra={"nested": {key: "value"}})
    else:
        event_id = hostile_client.captureMessage("m", data={"user": {"id": "1", key: "value"}})

    assert_sent_and_encodable(hostile_client, event_id)


@pytest.mark.parametrize("field", ["data", "headers", "cookies", "env"])
@pytest.mark.logs_sentry_errors
def test_a_deeply_nested_request_field_does_not_drop_the_event(
    hostile_client: InMemoryClient, field: str
) -> None:
    deep = HUGE["list nested 1000 deep"]
    hostile_client.http_context({"url": "http://example.com/", field: {"value": deep}})

    assert_sent_and_encodable(hostile_client, hostile_client.captureMessage("m"))


# -- structures that share their parts ----------------------------------------------------------


def shared_list(levels: int = 40) -> Any:
    """``x = [x, x]`` forty times: tiny in memory, 2**40 items when walked or printed in full."""
    value: Any = ["leaf"]
    for _ in range(levels):
        value = [value, value]
    return value


def shared_dict(levels: int = 40) -> Any:
    value: Any = {"leaf": "secret-token-1234567890"}
    for _ in range(levels):
        value = {"a": value, "b": value}
    return value


def raise_with(value: Any) -> None:
    local_copy = value  # noqa: F841  (a frame local the capture serializes)
    raise ValueError(value)


SHARED_CAPTURES = {
    "extra": lambda c, v: c.captureMessage("m", extra={"v": v}),
    "tags": lambda c, v: c.captureMessage("m", tags={"v": v}),
    "user": lambda c, v: (c.user_context({"v": v}), c.captureMessage("m"))[1],
    "request": lambda c, v: (
        c.http_context({"data": v, "headers": {"X": v}}),
        c.captureMessage("m"),
    )[1],
    "message params": lambda c, v: c.captureMessage("m %s %r", params=(v, v)),
    "named params": lambda c, v: c.captureMessage("m %(v)s", params={"v": v}),
    "message itself": lambda c, v: c.captureMessage(v),
    "fingerprint and culprit": lambda c, v: c.captureMessage("m", fingerprint=[v], culprit=v),
    "raw data": lambda c, v: c.captureMessage("m", data={"contexts": {"c": v}, "custom": v}),
    "breadcrumb": lambda c, v: (
        c.captureBreadcrumb(message=v, category=v, level=v, data={"v": v}),
        c.captureMessage("m"),
    )[1],
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("shape", [shared_list, shared_dict], ids=["list", "dict"])
@pytest.mark.parametrize("where", sorted(SHARED_CAPTURES))
def test_a_structure_sharing_its_parts_is_captured_without_walking_it_in_full(
    hostile_client: InMemoryClient, where: str, shape: Any
) -> None:
    event_id = SHARED_CAPTURES[where](hostile_client, shape())

    assert_sent_and_encodable(hostile_client, event_id)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("shape", [shared_list, shared_dict], ids=["list", "dict"])
def test_an_exception_and_locals_sharing_their_parts_are_captured(
    hostile_client: InMemoryClient, shape: Any
) -> None:
    try:
        raise_with(shape())
    except ValueError:
        event_id = hostile_client.captureException()

    event = assert_sent_and_encodable(hostile_client, event_id)
    assert event["exception"]["values"][-1]["type"] == "ValueError"
