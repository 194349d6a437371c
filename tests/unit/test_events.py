"""``raven.events``: the interface data each event type contributes, in raven 6.10's shapes."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from raven.events import BaseEvent, Message, Query
from raven.events import Exception as ExceptionEvent
from raven.utils.testutils import InMemoryClient


def exc_info_of(exc: BaseException) -> Any:
    try:
        raise exc
    except BaseException:
        return sys.exc_info()


# -- Exception --------------------------------------------------------------------------------


def test_exception_event_shape(client: InMemoryClient) -> None:
    result = ExceptionEvent(client).capture(exc_info=exc_info_of(ValueError("bad value")))

    assert set(result) == {"level", "exception"}
    assert result["level"] == logging.ERROR
    (value,) = result["exception"]["values"]
    assert set(value) == {"type", "value", "module", "stacktrace"}
    assert (value["type"], value["value"], value["module"]) == (
        "ValueError",
        "bad value",
        "builtins",
    )
    assert value["stacktrace"]["frames"][-1]["function"] == "exc_info_of"


def test_exception_event_passes_the_level_through(client: InMemoryClient) -> None:
    result = ExceptionEvent(client).capture(exc_info=exc_info_of(KeyError("k")), level="warning")

    assert result["level"] == "warning"


def test_exception_event_names_the_module_of_a_custom_exception(client: InMemoryClient) -> None:
    class Custom(Exception):
        pass

    result = ExceptionEvent(client).capture(exc_info=exc_info_of(Custom("c")))

    assert result["exception"]["values"][0]["module"] == __name__
    assert result["exception"]["values"][0]["type"] == "Custom"


def test_exception_event_to_string_is_type_and_value_of_the_caught_exception(
    client: InMemoryClient,
) -> None:
    event = ExceptionEvent(client)
    with_value = event.capture(exc_info=exc_info_of(ValueError("last")))
    empty = event.capture(exc_info=exc_info_of(ValueError()))

    assert event.to_string(with_value) == "ValueError: last"
    assert event.to_string(empty) == "ValueError"


def test_exception_event_without_an_exception_raises_value_error(client: InMemoryClient) -> None:
    with pytest.raises(ValueError):
        ExceptionEvent(client).capture()


def test_exception_event_defaults_to_the_exception_being_handled(client: InMemoryClient) -> None:
    try:
        raise LookupError("current")
    except LookupError:
        result = ExceptionEvent(client).capture()

    assert result["exception"]["values"][-1]["value"] == "current"


def test_exception_values_run_from_the_root_cause_to_the_caught_exception(
    client: InMemoryClient,
) -> None:
    def chain() -> None:
        try:
            raise KeyError("root")
        except KeyError as e:
            raise ValueError("caught") from e

    try:
        chain()
    except ValueError:
        result = ExceptionEvent(client).capture(exc_info=sys.exc_info())

    assert [v["type"] for v in result["exception"]["values"]] == ["KeyError", "ValueError"]


def test_an_exception_whose_str_raises_still_gives_a_text_value(client: InMemoryClient) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    result = ExceptionEvent(client).capture(exc_info=exc_info_of(Unprintable()))

    assert isinstance(result["exception"]["values"][0]["value"], str)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in Python 3.11")
def test_an_exception_group_member_that_was_never_raised_has_no_frames(
    client: InMemoryClient,
) -> None:
    group = ExceptionGroup("g", [ValueError("never raised")])  # noqa: F821

    result = ExceptionEvent(client).capture(exc_info=exc_info_of(group))

    member = next(v for v in result["exception"]["values"] if v["type"] == "ValueError")
    assert not member["stacktrace"]["frames"]
    assert member["mechanism"]["parent_id"] == 0


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in Python 3.11")
def test_a_huge_exception_group_is_cut(client: InMemoryClient) -> None:
    group = ExceptionGroup("many", [ValueError(i) for i in range(5000)])  # noqa: F821

    result = ExceptionEvent(client).capture(exc_info=exc_info_of(group))

    assert 1 < len(result["exception"]["values"]) <= 1000


def test_plain_exceptions_have_no_mechanism(client: InMemoryClient) -> None:
    result = ExceptionEvent(client).capture(exc_info=exc_info_of(ValueError("v")))

    assert "mechanism" not in result["exception"]["values"][0]


# -- Message ----------------------------------------------------------------------------------


def test_message_event_shape(client: InMemoryClient) -> None:
    result = Message(client).capture(message="hello %s", params=("world",))

    assert result == {
        "sentry.interfaces.Message": {
            "message": "hello %s",
            "params": ("'world'",),
            "formatted": "hello world",  # formatted with the raw params (6.10: None)
        },
        "message": "hello world",
    }


def test_message_event_without_params_has_no_formatted_text(client: InMemoryClient) -> None:
    result = Message(client).capture(message="hello %s")

    assert result == {
        "sentry.interfaces.Message": {"message": "hello %s", "params": (), "formatted": None},
        "message": "hello %s",
    }


def test_message_event_prefers_the_formatted_text(client: InMemoryClient) -> None:
    result = Message(client).capture(message="hello %s", params=("world",), formatted="hello world")

    assert result["message"] == "hello world"
    assert result["sentry.interfaces.Message"]["formatted"] == "hello world"


def test_message_params_may_be_a_mapping(client: InMemoryClient) -> None:
    result = Message(client).capture(message="hello %(name)s", params={"name": "ada"})

    assert result["sentry.interfaces.Message"]["params"] == {"'name'": "'ada'"}
    assert result["message"] == "hello ada"


def test_message_event_turns_non_text_messages_into_text(client: InMemoryClient) -> None:
    result = Message(client).capture(message=42)

    assert result["sentry.interfaces.Message"]["message"] == "42"
    assert result["message"] == "42"


def test_message_event_to_string_is_the_template(client: InMemoryClient) -> None:
    event = Message(client)

    assert event.to_string(event.capture(message="hello %s", params=("x",))) == "hello %s"


def test_message_event_formats_with_the_raw_params_not_their_repr(client: InMemoryClient) -> None:
    result = Message(client).capture(message="%s items for %s", params=(3, "ada"))

    assert result["message"] == "3 items for ada"


# -- Query ------------------------------------------------------------------------------------


def test_query_event_shape(client: InMemoryClient) -> None:
    result = Query(client).capture(query="SELECT 1", engine="sqlite")

    assert result == {"sentry.interfaces.Query": {"query": "SELECT 1", "engine": "sqlite"}}
    assert Query(client).to_string(result) == "SELECT 1"


def test_query_event_turns_the_engine_into_text(client: InMemoryClient) -> None:
    class Engine:
        def __str__(self) -> str:
            return "postgresql://db"

    result = Query(client).capture(query="SELECT 1", engine=Engine())

    assert result["sentry.interfaces.Query"]["engine"] == "postgresql://db"


# -- BaseEvent --------------------------------------------------------------------------------


def test_base_event_transform_uses_the_client_limits(make_client: Any) -> None:
    client = make_client(string_max_length=3)

    assert BaseEvent(client).transform("abcdef") == "'abc'"


def test_event_class_names_are_raven_6_10s() -> None:
    assert ExceptionEvent.name == "exception"
    assert Message.name == "sentry.interfaces.Message"
    assert Query.name == "sentry.interfaces.Query"
