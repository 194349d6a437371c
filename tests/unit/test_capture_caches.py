"""What the capture path remembers from one event to the next changes nothing in the events.

The client keeps a few results between events (the scrubbed and serialized ``sys.argv``, the
quoted form of dict keys, the text of the current second, the event-id generator). These tests
pin down that a remembered result is used only while it is still the right one.
"""

from __future__ import annotations

import os
import random
import sys
from datetime import datetime, timedelta
from typing import Any, Callable, List

import pytest

from raven._core.memo import MAX_CHARS, MAX_ENTRIES, MAX_ITEMS, TextListMemo
from raven._core.walk import Walker
from raven.base import _new_event_id
from raven.protocol import _timestamp_text
from raven.utils.testutils import InMemoryClient

MakeClient = Callable[..., InMemoryClient]


class Text(str):
    """Equal to the plain string with the same characters, but not a ``str`` exactly."""


def counting(compute: Callable[[Any], Any]) -> Any:
    calls: List[Any] = []

    def wrapped(value: Any) -> Any:
        calls.append(value)
        return compute(value)

    wrapped.calls = calls  # type: ignore[attr-defined]
    return wrapped


# -- TextListMemo -----------------------------------------------------------------------------


def test_the_same_strings_are_computed_once() -> None:
    compute = counting(lambda v: tuple(s.upper() for s in v))
    memo = TextListMemo(compute)
    argv = ["prog", "--flag", "value"]

    assert memo(argv) == ("PROG", "--FLAG", "VALUE")
    assert memo(argv) == ("PROG", "--FLAG", "VALUE")
    assert memo(tuple(argv)) == ("PROG", "--FLAG", "VALUE")  # the same strings in a tuple
    assert len(compute.calls) == 1


def test_a_list_changed_in_place_is_computed_again() -> None:
    compute = counting(lambda v: tuple(v))
    memo = TextListMemo(compute)
    argv = ["prog", "one"]
    memo(argv)

    argv[1] = "two"
    assert memo(argv) == ("prog", "two")
    argv.append("three")
    assert memo(argv) == ("prog", "two", "three")
    del argv[1:]
    assert memo(argv) == ("prog",)
    assert len(compute.calls) == 4


def test_equal_strings_of_a_str_subclass_are_never_taken_for_the_plain_ones() -> None:
    memo = TextListMemo(lambda v: tuple(type(s).__name__ for s in v))
    plain = ["a", "b"]

    assert memo(plain) == ("str", "str")
    assert memo([Text("a"), Text("b")]) == ("Text", "Text")
    assert memo(["a", Text("b")]) == ("str", "Text")
    assert memo(plain) == ("str", "str")


def test_values_that_are_not_short_lists_of_text_are_computed_every_time() -> None:
    compute = counting(lambda v: len(v))
    memo = TextListMemo(compute)
    values: List[Any] = [
        [],
        ["a", 1],
        ["a", None],
        ["a", ["b"]],
        ["x"] * (MAX_ITEMS + 1),
        ["x" * (MAX_CHARS + 1)],
        {"a": "b"},
        "text",
    ]
    for value in values * 2:
        memo(value)
    assert len(compute.calls) == 2 * len(values)


def test_the_memo_stays_small() -> None:
    memo = TextListMemo(lambda v: tuple(v))
    kept = [["item %d" % i] for i in range(MAX_ENTRIES * 5)]
    for value in kept:
        assert memo(value) == tuple(value)
    assert len(memo._results) <= MAX_ENTRIES


# -- events: sys.argv and other lists in extra -----------------------------------------------


def test_argv_changed_between_events_is_sent_as_it_is_now(make_client: MakeClient) -> None:
    argv = ["/srv/app/manage.py", "runserver", "--port", "8000"]
    client = make_client(context={"sys.argv": argv})
    client.captureMessage("first")
    argv[2] = "--verbosity"
    argv.append("4111 1111 1111 1111")
    client.captureMessage("second")
    argv[:] = ["worker"]
    client.captureMessage("third")

    first, second, third = (event["extra"]["sys.argv"] for event in client.events)
    assert first == ("'/srv/app/manage.py'", "'runserver'", "'--port'", "'8000'")
    assert second[:4] == ("'/srv/app/manage.py'", "'runserver'", "'--verbosity'", "'8000'")
    # the card number masked as ever (extra is scrubbed before it is serialized, as in 6.10)
    assert second[4] == "'********'"
    assert third == ("'worker'",)


def test_each_event_gets_its_own_copy_of_a_scrubbed_list(make_client: MakeClient) -> None:
    seen: List[Any] = []

    def processor(event: Any, hint: Any) -> Any:
        seen.append(event["extra"]["sys.argv"])
        event["extra"]["sys.argv"].append("added by a processor")
        return event

    argv = ["prog", "--verbose"]
    client = make_client(
        context={"sys.argv": argv},
        processors=("raven.processors.SanitizePasswordsProcessor", processor),
    )
    client.captureMessage("one")
    client.captureMessage("two")

    assert seen[0] is not seen[1]
    assert [event["extra"]["sys.argv"] for event in client.events] == [
        ("'prog'", "'--verbose'", "'added by a processor'"),
        ("'prog'", "'--verbose'", "'added by a processor'"),
    ]
    assert argv == ["prog", "--verbose"]


def test_lists_of_text_in_extra_read_the_same_as_before(make_client: MakeClient) -> None:
    client = make_client(string_max_length=10)
    long_text = "y" * 30
    values = {
        "short": ["a", "b"],
        "long": [long_text, "z"],
        "tuple": ("p", "q"),
        "mixed": ["a", 1, None, 2.5],
        "nested": [["a"], ("b",)],
        "subclass": [Text("a")],
        "empty": [],
    }
    for _ in range(2):  # the second time from what was remembered
        client.captureMessage("lists", extra=values)
        extra = client.events[-1]["extra"]
        assert extra["short"] == ("'a'", "'b'")
        assert extra["long"] == ("'" + "y" * 10 + "'", "'z'")
        assert extra["tuple"] == ("'p'", "'q'")
        assert extra["mixed"] == ("'a'", "1", None, "2.5")
        assert extra["nested"] == (("'a'",), ("'b'",))
        assert extra["subclass"] == ("'a'",)
        assert extra["empty"] == ()


# -- dict keys ----------------------------------------------------------------------------------


def test_a_key_first_seen_without_a_value_still_masks_its_value_later() -> None:
    matches = counting(lambda key: "password" in key)
    walker = Walker(400, 50, scrub=(matches, lambda text: text, "********"))

    assert walker.top({"password": None}) == {"'password'": None}
    assert walker.top({"password": "hunter2"}) == {"'password'": "********"}
    assert walker.top({"password": "hunter2"}) == {"'password'": "********"}
    assert walker.top({"user": "bob"}) == {"'user'": "'bob'"}


def test_keys_of_every_kind_keep_their_quoted_form() -> None:
    walker = Walker(5, 50)
    value = {"abc": 1, "abcdefgh": 2, 3: 3, None: 4, ("t",): 5, Text("sub"): 6}
    expected = {
        "'abc'": "1",
        "'abcde'": "2",
        "3": "3",
        "None": "4",
        "(\"'t'\",)": "5",
        "'sub'": "6",
    }
    assert walker.top(value) == expected
    assert walker.top(value) == expected


# -- timestamps and event ids -------------------------------------------------------------------


def test_the_wire_timestamp_is_the_isoformat_of_the_second() -> None:
    rnd = random.Random(1)
    start = datetime(2024, 12, 31, 23, 59, 58)
    stamps = [start + timedelta(microseconds=rnd.randrange(4_000_000)) for _ in range(2000)]
    stamps += [datetime.min, datetime.max, datetime(2024, 1, 1), datetime(1999, 12, 31, 23, 59, 59)]
    for stamp in stamps + stamps[::-1]:
        assert _timestamp_text(stamp) == stamp.isoformat(timespec="seconds") + "Z"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork with threads alive
def test_a_forked_child_never_repeats_the_parents_event_ids() -> None:
    _new_event_id()  # the generator exists before the fork
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write_end, _new_event_id().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        child_id = os.read(read_end, 64).decode()
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    assert len(child_id) == 32
    assert child_id != _new_event_id()


def test_event_ids_are_version_4_uuids() -> None:
    for _ in range(200):
        event_id = _new_event_id()
        assert len(event_id) == 32
        assert event_id[12] == "4"
        assert event_id[16] in "89ab"


def test_argv_of_this_process_is_in_every_event(client: InMemoryClient) -> None:
    client.captureMessage("one")
    client.captureMessage("two")
    expected = tuple("'%s'" % arg[:400] for arg in sys.argv[:50])
    assert [event["extra"]["sys.argv"] for event in client.events] == [expected, expected]
