"""``raven.Client`` capture API: what each call sends, what it returns, and what it refuses."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import re
import sys
import threading
import time
import uuid
from typing import Any, Dict, List

import pytest

import raven
import raven.base
import raven.events
import raven.processors
from raven._core.options import UnknownOptionWarning
from raven.base import Client
from raven.exceptions import ConfigurationError, InvalidDsn
from raven.transport.base import Transport
from raven.utils.testutils import InMemoryClient


def values(event: Dict[str, Any]) -> List[Dict[str, Any]]:
    return event["exception"]["values"]  # type: ignore[no-any-return]


def frames_of(event: Dict[str, Any]) -> List[Dict[str, Any]]:
    if "exception" in event:
        return values(event)[-1]["stacktrace"]["frames"]  # type: ignore[no-any-return]
    return event["stacktrace"]["frames"]  # type: ignore[no-any-return]


def all_frames(event: Dict[str, Any]) -> List[Dict[str, Any]]:
    frames = list(event.get("stacktrace", {}).get("frames", []))
    for value in event.get("exception", {}).get("values", []):
        frames.extend(value.get("stacktrace", {}).get("frames", []))
    return frames


def raise_value_error(message: str = "boom") -> None:
    raise ValueError(message)


def caught(exc: BaseException) -> BaseException:
    """``exc`` after it has been raised and caught (so it has a traceback)."""
    try:
        raise exc
    except BaseException as e:
        return e


# -- captureException -------------------------------------------------------------------------


def test_capture_exception_defaults_to_the_exception_being_handled(client: InMemoryClient) -> None:
    try:
        raise_value_error("handled")
    except ValueError:
        event_id = client.captureException()

    event = client.events[-1]
    assert event["event_id"] == event_id
    assert values(event)[-1]["type"] == "ValueError"
    assert values(event)[-1]["value"] == "handled"
    assert values(event)[-1]["module"] == "builtins"
    assert event["message"] == "ValueError: handled"
    assert event["level"] == logging.ERROR


def test_capture_exception_takes_an_explicit_exc_info_tuple_outside_the_except_block(
    client: InMemoryClient,
) -> None:
    try:
        raise_value_error("later")
    except ValueError:
        exc_info = sys.exc_info()

    client.captureException(exc_info)

    assert values(client.events[-1])[-1]["value"] == "later"
    assert frames_of(client.events[-1])[-1]["function"] == "raise_value_error"


def test_capture_exception_takes_an_exception_instance(client: InMemoryClient) -> None:
    exc = caught(KeyError("instance"))

    client.captureException(exc)

    assert values(client.events[-1])[-1]["type"] == "KeyError"
    assert frames_of(client.events[-1])[-1]["function"] == "caught"


def test_capture_exception_message_kwarg_replaces_the_generated_message(
    client: InMemoryClient,
) -> None:
    client.captureException(caught(ValueError("x")), message="custom text")

    assert client.events[-1]["message"] == "custom text"


def test_exception_without_a_value_is_named_by_its_type_alone(client: InMemoryClient) -> None:
    client.captureException(caught(ValueError()))

    assert client.events[-1]["message"] == "ValueError"
    assert values(client.events[-1])[-1]["value"] == ""


def test_exception_frames_carry_locals_and_source_context(client: InMemoryClient) -> None:
    def fails() -> None:
        local_number = 42  # noqa: F841
        raise RuntimeError("with locals")

    try:
        fails()
    except RuntimeError:
        client.captureException()

    frame = frames_of(client.events[-1])[-1]
    assert frame["function"] == "fails"
    assert frame["vars"]["local_number"] == "42"
    assert frame["context_line"].strip() == 'raise RuntimeError("with locals")'
    assert frame["abs_path"] == os.path.abspath(__file__)


# -- captureMessage, captureQuery, capture ----------------------------------------------------


def test_capture_message_with_params_keeps_the_template_and_serialized_params(
    client: InMemoryClient,
) -> None:
    client.captureMessage("hello %s, you are %d", params=("world", 3))

    event = client.events[-1]
    assert event["sentry.interfaces.Message"] == {
        "message": "hello %s, you are %d",
        "params": ("'world'", "3"),
        "formatted": "hello world, you are 3",  # 6.10 sent None and left it to the server
    }
    assert event["message"] == "hello world, you are 3"


def test_capture_message_without_params_is_sent_as_is(client: InMemoryClient) -> None:
    client.captureMessage("100% done")

    assert client.events[-1]["message"] == "100% done"
    assert client.events[-1]["sentry.interfaces.Message"]["formatted"] is None


@pytest.mark.parametrize(
    ("message", "params"),
    [("no placeholders", ("x",)), ("100% done for %s", ("x",)), ("%s and %s", ("one",))],
)
def test_capture_message_with_params_not_fitting_the_template_is_still_sent(
    client: InMemoryClient, message: str, params: Any
) -> None:
    event_id = client.captureMessage(message, params=params)

    assert event_id is not None
    assert client.events[-1]["message"] == message


def test_capture_message_formatted_text_becomes_the_message(client: InMemoryClient) -> None:
    client.captureMessage("hello %s", params=("world",), formatted="hello world")

    assert client.events[-1]["message"] == "hello world"
    assert client.events[-1]["sentry.interfaces.Message"]["formatted"] == "hello world"


@pytest.mark.parametrize("level", [logging.INFO, "warning", "fatal"])
def test_capture_message_level_is_sent_as_given(client: InMemoryClient, level: Any) -> None:
    client.captureMessage("m", level=level)

    assert client.events[-1]["level"] == level


def test_capture_message_level_defaults_to_error(client: InMemoryClient) -> None:
    client.captureMessage("m")

    assert client.events[-1]["level"] == logging.ERROR


def test_capture_message_sends_data_extra_tags_fingerprint_and_culprit(
    client: InMemoryClient,
) -> None:
    client.captureMessage(
        "m",
        data={"logger": "app.log", "culprit": "app.views.index", "tags": {"from_data": "1"}},
        extra={"order": 17},
        tags={"region": "eu"},
        fingerprint=["{{ default }}", "custom"],
    )

    event = client.events[-1]
    assert event["logger"] == "app.log"
    assert event["culprit"] == "app.views.index"
    assert "transaction" not in event
    assert event["tags"] == {"from_data": "1", "region": "eu"}
    assert event["extra"]["order"] == "17"
    assert event["fingerprint"] == ["{{ default }}", "custom"]


def test_stack_true_gives_a_top_level_stacktrace_ending_in_the_caller(
    client: InMemoryClient,
) -> None:
    marker = "in the caller"  # noqa: F841

    client.captureMessage("with stack", stack=True)

    event = client.events[-1]
    assert "exception" not in event
    frames = event["stacktrace"]["frames"]
    assert frames[-1]["function"] == (
        "test_stack_true_gives_a_top_level_stacktrace_ending_in_the_caller"
    )
    assert frames[-1]["vars"]["marker"] == "'in the caller'"
    assert not [f for f in frames if str(f.get("module")).startswith("raven")]


def test_auto_log_stacks_adds_a_stack_to_messages_but_not_to_exceptions(
    make_client: Any,
) -> None:
    client = make_client(auto_log_stacks=True)

    client.captureMessage("message")
    client.captureException(caught(ValueError("exception")))
    client.captureMessage("opted out", stack=False)

    with_stack, exception, opted_out = client.events
    assert with_stack["stacktrace"]["frames"]
    assert "stacktrace" not in exception
    assert "stacktrace" not in opted_out


def test_messages_have_no_stack_by_default(client: InMemoryClient) -> None:
    client.captureMessage("m")

    assert "stacktrace" not in client.events[-1]


def test_capture_query_sends_the_query_and_engine_but_not_the_params(
    client: InMemoryClient,
) -> None:
    client.captureQuery("SELECT * FROM t WHERE id = %s", params=(5,), engine="postgresql")

    event = client.events[-1]
    assert event["sentry.interfaces.Query"] == {
        "query": "SELECT * FROM t WHERE id = %s",
        "engine": "postgresql",
    }
    assert event["message"] == "SELECT * FROM t WHERE id = %s"
    assert "5" not in repr(event["sentry.interfaces.Query"])


class Greeting(raven.events.BaseEvent):
    """An event type defined outside raven, addressed by its dotted path."""

    def to_string(self, data: Dict[str, Any]) -> str:
        return "greeting for %s" % data["greeting"]["name"]

    def capture(self, name: str = "", **kwargs: Any) -> Dict[str, Any]:
        return {"greeting": {"name": name}}


@pytest.mark.parametrize("event_type", ["Message", "raven.events.Message"])
def test_capture_resolves_short_and_dotted_builtin_event_types(
    client: InMemoryClient, event_type: str
) -> None:
    client.capture(event_type, message="typed")

    assert client.events[-1]["sentry.interfaces.Message"]["message"] == "typed"


def test_capture_accepts_a_dotted_path_to_a_custom_event_type(client: InMemoryClient) -> None:
    client.capture("%s.Greeting" % __name__, name="Ada")

    assert client.events[-1]["greeting"] == {"name": "Ada"}
    assert client.events[-1]["message"] == "greeting for Ada"


# -- event ids --------------------------------------------------------------------------------


def test_capture_returns_the_sent_event_id_as_32_hex_digits_of_a_uuid4(
    client: InMemoryClient,
) -> None:
    event_id = client.captureMessage("m")

    assert isinstance(event_id, str)
    assert re.fullmatch(r"[0-9a-f]{32}", event_id)
    assert uuid.UUID(event_id).version == 4
    assert uuid.UUID(event_id).variant == uuid.RFC_4122
    assert client.events[-1]["event_id"] == event_id


def test_every_event_gets_a_new_id(client: InMemoryClient) -> None:
    ids = {client.captureMessage("same") for _ in range(200)}

    assert len(ids) == 200


def test_last_event_id_is_the_id_of_the_last_capture(client: InMemoryClient) -> None:
    assert client.last_event_id is None

    first = client.captureMessage("one")
    assert client.last_event_id == first
    second = client.captureMessage("two")
    assert client.last_event_id == second


def test_last_event_id_is_kept_per_thread(client: InMemoryClient) -> None:
    main_id = client.captureMessage("main thread")
    seen: Dict[str, Any] = {}

    def worker() -> None:
        seen["before"] = client.last_event_id
        seen["captured"] = client.captureMessage("worker thread")
        seen["after"] = client.last_event_id

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()

    assert seen["before"] is None
    assert seen["after"] == seen["captured"] != main_id
    assert client.last_event_id == main_id


def test_last_event_id_is_kept_per_asyncio_task(client: InMemoryClient) -> None:
    async def scenario() -> List[Any]:
        first_captured = asyncio.Event()
        second_captured = asyncio.Event()

        async def first() -> Any:
            own = client.captureMessage("first task")
            first_captured.set()
            await second_captured.wait()  # the other task captures in between
            return own, client.last_event_id

        async def second() -> Any:
            await first_captured.wait()
            own = client.captureMessage("second task")
            second_captured.set()
            return own, client.last_event_id

        return list(await asyncio.gather(first(), second()))

    (first_own, first_seen), (second_own, second_seen) = asyncio.run(scenario())

    assert first_seen == first_own
    assert second_seen == second_own
    assert first_own != second_own


# -- enabled, disabled, DSN -------------------------------------------------------------------


def test_a_client_without_a_dsn_is_disabled_and_captures_nothing() -> None:
    client = Client(install_sys_hook=False, hook_libraries=[])

    assert not client.is_enabled()
    assert client.captureMessage("m") is None
    assert client.captureException(caught(ValueError("e"))) is None
    assert client.get_public_dsn() is None
    assert client.last_event_id is None


def test_a_client_with_a_dsn_is_enabled() -> None:
    client = Client(
        "https://public@sentry.example.com/1", install_sys_hook=False, hook_libraries=[]
    )

    assert client.is_enabled()
    assert client.remote.project == "1"
    assert client.remote.public_key == "public"


def test_sentry_dsn_environment_variable_is_used_without_a_dsn_argument(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTRY_DSN", "https://envkey@sentry.example.com/7")

    from_env = Client(install_sys_hook=False, hook_libraries=[])
    explicit = Client(
        "https://argkey@sentry.example.com/8", install_sys_hook=False, hook_libraries=[]
    )

    assert from_env.is_enabled()
    assert (from_env.remote.public_key, from_env.remote.project) == ("envkey", "7")
    assert (explicit.remote.public_key, explicit.remote.project) == ("argkey", "8")


def test_public_dsn_drops_the_secret_and_the_scheme() -> None:
    client = Client(
        "https://public:secret@sentry.example.com:9000/prefix/42",
        install_sys_hook=False,
        hook_libraries=[],
    )

    assert client.get_public_dsn() == "//public@sentry.example.com:9000/prefix/42"
    assert client.get_public_dsn("https") == "https://public@sentry.example.com:9000/prefix/42"


@pytest.mark.parametrize(
    ("dsn", "named_part"),
    [
        ("bad", "scheme"),
        ("sentry.example.com/1", "scheme"),
        ("https://sentry.example.com/1", "public key"),
        ("https://public@sentry.example.com", "project"),
        ("https://public@sentry.example.com/", "project"),
        ("https://public@sentry.example.com:notaport/1", "port"),
        ("https://public@sentry.example.com:99999/1", "port"),
        ("gopher://public@sentry.example.com/1", "gopher"),
        ("https://public@/1", "host"),
        ("https://public@sentry.example.com/1?timeout=abc", "timeout"),
    ],
)
def test_a_malformed_dsn_raises_invalid_dsn_naming_the_bad_part(dsn: str, named_part: str) -> None:
    with pytest.raises(InvalidDsn, match=named_part):
        Client(dsn, install_sys_hook=False, hook_libraries=[])


def test_invalid_dsn_is_a_configuration_error_and_a_value_error() -> None:
    with pytest.raises(InvalidDsn) as info:
        Client("bad", install_sys_hook=False, hook_libraries=[])

    assert isinstance(info.value, ConfigurationError)
    assert isinstance(info.value, ValueError)


def test_invalid_dsn_message_does_not_reveal_the_secret_key() -> None:
    with pytest.raises(InvalidDsn) as info:
        Client(
            "https://public:s3cr3t@sentry.example.com:bad/1",
            install_sys_hook=False,
            hook_libraries=[],
        )

    assert "s3cr3t" not in str(info.value)


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"sample_rate": 2},
        {"sample_rate": -0.1},
        {"sample_rate": "often"},
        {"string_max_length": "x"},
        {"string_max_length": -1},
        {"list_max_length": "many"},
        {"tags": 3},
    ],
)
def test_a_bad_option_value_raises_configuration_error_naming_the_option(
    options: Dict[str, Any],
) -> None:
    (name,) = options

    with pytest.raises(ConfigurationError, match=name):
        Client(install_sys_hook=False, hook_libraries=[], **options)


def test_an_unknown_option_warns_and_is_ignored() -> None:
    with pytest.warns(UnknownOptionWarning, match="no_such_option"):
        client = Client(install_sys_hook=False, hook_libraries=[], no_such_option=1)

    assert not hasattr(client, "no_such_option")


def test_legacy_options_of_raven_6_10_do_not_warn() -> None:
    Client(install_sys_hook=False, hook_libraries=[], timeout=3, machine="host-a")


def test_release_environment_site_name_and_tags_options_reach_every_event(
    make_client: Any,
) -> None:
    client = make_client(
        release="1.2.3",
        environment="staging",
        site="eu-site",
        name="web-7",
        tags={"team": "core"},
    )

    client.captureMessage("m", tags={"request": "r1"})

    event = client.events[-1]
    assert event["release"] == "1.2.3"
    assert event["environment"] == "staging"
    assert event["server_name"] == "web-7"
    assert event["tags"] == {"team": "core", "site": "eu-site", "request": "r1"}


def test_an_explicit_site_tag_beats_the_site_option(make_client: Any) -> None:
    client = make_client(site="option-site")

    client.captureMessage("m", tags={"site": "tag-site"})

    assert client.events[-1]["tags"]["site"] == "tag-site"


def test_tags_given_to_capture_beat_data_tags_which_beat_client_tags(make_client: Any) -> None:
    client = make_client(tags={"a": "client", "b": "client", "c": "client"})

    client.captureMessage("m", data={"tags": {"b": "data", "c": "data"}}, tags={"c": "call"})

    assert client.events[-1]["tags"] == {"a": "client", "b": "data", "c": "call"}


def test_tag_values_are_sent_as_text(client: InMemoryClient) -> None:
    client.captureMessage("m", tags={"number": 5, "flag": True})

    assert client.events[-1]["tags"] == {"number": "5", "flag": "True"}


def test_no_release_or_environment_keys_without_configuration(client: InMemoryClient) -> None:
    client.captureMessage("m")

    assert "release" not in client.events[-1]
    assert "environment" not in client.events[-1]


def test_context_option_is_the_default_extra(make_client: Any) -> None:
    client = make_client(context={"deployment": "blue"})

    client.captureMessage("m", extra={"call": 1})

    assert client.events[-1]["extra"] == {"deployment": "'blue'", "call": "1"}


def test_default_extra_is_a_copy_of_sys_argv(client: InMemoryClient) -> None:
    client.captureMessage("m")

    assert client.events[-1]["extra"]["sys.argv"] == tuple("'%s'" % a for a in sys.argv[:50])


@pytest.mark.parametrize(
    ("variable", "option", "event_key"),
    [
        ("SENTRY_RELEASE", "release", "release"),
        ("SENTRY_ENVIRONMENT", "environment", "environment"),
        ("SENTRY_NAME", "name", "server_name"),
    ],
)
def test_options_fall_back_to_their_environment_variables(
    make_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    option: str,
    event_key: str,
) -> None:
    monkeypatch.setenv(variable, "from-env")

    from_env = make_client()
    from_env.captureMessage("m")
    explicit = make_client(**{option: "from-option"})
    explicit.captureMessage("m")

    assert from_env.events[-1][event_key] == "from-env"
    assert explicit.events[-1][event_key] == "from-option"


def test_heroku_slug_commit_is_the_release_when_sentry_release_is_unset(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEROKU_SLUG_COMMIT", "abc123")
    heroku = make_client()
    monkeypatch.setenv("SENTRY_RELEASE", "sentry-release")
    both = make_client()

    assert heroku.release == "abc123"
    assert both.release == "sentry-release"


def test_name_defaults_to_the_host_name(client: InMemoryClient) -> None:
    import socket

    client.captureMessage("m")

    assert client.events[-1]["server_name"] == socket.gethostname()


def test_repos_module_names_become_the_absolute_path_of_the_module(make_client: Any) -> None:
    client = make_client(
        repos={"raven": {"name": "getsentry/raven-python"}, "/srv/app": {"name": "me/app"}}
    )

    client.captureMessage("m")

    assert client.events[-1]["repos"] == {
        os.path.abspath(raven.__file__): {"name": "getsentry/raven-python"},
        "/srv/app": {"name": "me/app"},
    }


def test_string_and_list_limits_apply_to_extra_and_locals(make_client: Any) -> None:
    client = make_client(string_max_length=5, list_max_length=2)
    long_local = "abcdefghij"  # noqa: F841
    list_local = [1, 2, 3, 4]  # noqa: F841

    client.captureMessage("m", extra={"text": "0123456789", "items": [1, 2, 3]}, stack=True)

    event = client.events[-1]
    assert event["extra"]["text"] == "'01234'"
    assert event["extra"]["items"] == ("1", "2")
    assert frames_of(event)[-1]["vars"]["long_local"] == "'abcde'"
    assert frames_of(event)[-1]["vars"]["list_local"] == ("1", "2")


def test_zero_limits_mean_the_defaults(make_client: Any) -> None:
    client = make_client(string_max_length=0, list_max_length=0)

    client.captureMessage("m", extra={"text": "x" * 1000, "items": list(range(100))})

    assert client.events[-1]["extra"]["text"] == "'%s'" % ("x" * 400)
    assert len(client.events[-1]["extra"]["items"]) == 50


# -- ignore_exceptions ------------------------------------------------------------------------


class AppError(Exception):
    pass


class SpecificAppError(AppError):
    pass


@pytest.mark.parametrize(
    ("ignored", "exception", "captured"),
    [
        (["KeyError"], KeyError("k"), False),
        (["builtins.KeyError"], KeyError("k"), False),
        (["KeyError"], ValueError("v"), True),
        (["builtins.Key*"], KeyError("k"), False),
        (["builtins.Key*"], ValueError("v"), True),
        (["%s.*" % __name__], SpecificAppError("s"), False),
        ([KeyError], KeyError("k"), False),
        ([LookupError], KeyError("subclass of a class entry"), False),
        ([AppError], SpecificAppError("subclass of a class entry"), False),
        (["LookupError"], KeyError("strings never match subclasses"), True),
        (["AppError"], SpecificAppError("strings never match subclasses"), True),
        (["%s.AppError" % __name__], SpecificAppError("dotted names neither"), True),
        ([SpecificAppError], AppError("a base class is not ignored"), True),
    ],
)
def test_ignore_exceptions_filters_by_name_dotted_name_prefix_and_class(
    make_client: Any, ignored: List[Any], exception: BaseException, captured: bool
) -> None:
    client = make_client(ignore_exceptions=ignored)
    exc = caught(exception)

    assert client.should_capture((type(exc), exc, exc.__traceback__)) is captured
    event_id = client.captureException(exc)

    assert (event_id is not None) is captured
    assert len(client.events) == int(captured)
    assert client.stats.dropped.get("ignored", 0) == int(not captured)


# -- sampling ---------------------------------------------------------------------------------


def test_an_event_dropped_by_sampling_returns_none_and_is_counted(make_client: Any) -> None:
    client = make_client(sample_rate=0.0)

    assert client.captureMessage("dropped") is None
    assert client.captureException(caught(ValueError("dropped too"))) is None

    assert client.events == []
    assert client.stats.dropped == {"sample_rate": 2}


def test_a_sampled_out_event_does_not_become_the_last_event_id(make_client: Any) -> None:
    client = make_client()
    sent = client.captureMessage("sent")

    assert client.captureMessage("dropped", sample_rate=0) is None

    assert client.last_event_id == sent


def test_a_per_call_sample_rate_beats_the_client_rate(make_client: Any) -> None:
    never = make_client(sample_rate=0)
    always = make_client(sample_rate=1)

    assert never.captureMessage("m", sample_rate=1) is not None
    assert always.captureMessage("m", sample_rate=0) is None
    assert always.stats.dropped == {"sample_rate": 1}


def test_sampling_decisions_follow_the_seeded_random_generator(make_client: Any) -> None:
    client = make_client(sample_rate=0.5, _random_seed=1234)

    kept = [client.captureMessage("m") is not None for _ in range(100)]

    reference = random.Random(1234)
    assert kept == [reference.random() < 0.5 for _ in range(100)]
    assert 20 < sum(kept) < 80
    assert client.stats.dropped["sample_rate"] == kept.count(False)


# -- in_app -----------------------------------------------------------------------------------


def test_frames_have_no_in_app_key_without_include_paths(client: InMemoryClient) -> None:
    client.captureException(caught(ValueError("x")))
    client.captureMessage("m", stack=True)

    for event in client.events:
        assert all("in_app" not in frame for frame in all_frames(event))


def test_include_paths_mark_matching_frames_in_app_and_others_not(make_client: Any) -> None:
    client = make_client(include_paths=[__name__])

    client.captureMessage("m", stack=True)

    frames = frames_of(client.events[-1])
    ours = [f for f in frames if f["module"] == __name__]
    theirs = [f for f in frames if f["module"] != __name__]
    assert ours and all(f["in_app"] is True for f in ours)
    assert theirs and all(f["in_app"] is False for f in theirs)


def test_exclude_paths_win_over_include_paths(make_client: Any) -> None:
    client = make_client(include_paths=[__name__.split(".")[0]], exclude_paths=[__name__])

    client.captureException(caught(ValueError("x")))

    assert frames_of(client.events[-1])[-1]["in_app"] is False


def test_raven_frames_are_never_in_app(make_client: Any) -> None:
    from raven.utils.imports import import_string

    client = make_client(include_paths=["raven", __name__])
    try:
        import_string("raven.no_such_module_here")
    except ImportError:
        client.captureException()

    frames = frames_of(client.events[-1])
    raven_frames = [f for f in frames if str(f["module"]).startswith("raven.")]
    assert raven_frames and all(f["in_app"] is False for f in raven_frames)
    assert [f["in_app"] for f in frames if f["module"] == __name__] == [True]


# -- processors option ------------------------------------------------------------------------


def test_processors_may_be_dotted_paths(make_client: Any) -> None:
    client = make_client(processors=["raven.processors.RemovePostDataProcessor"])

    client.captureMessage("m", data={"request": {"url": "http://x/", "data": "a=b"}})

    assert "data" not in client.events[-1]["request"]


def test_processors_may_be_classes_taking_the_client(make_client: Any) -> None:
    seen: List[Any] = []

    class Recording(raven.processors.Processor):
        def get_data(self, data: Dict[str, Any], **kwargs: Any) -> None:
            seen.append(self.client)

    client = make_client(processors=[Recording])
    client.captureMessage("m")

    assert seen == [client]


def test_a_plain_callable_processor_receives_the_event_and_a_hint(make_client: Any) -> None:
    calls: List[Any] = []

    def add_tag(event: Dict[str, Any], hint: Any) -> Dict[str, Any]:
        calls.append(hint)
        event["tags"]["processed"] = "yes"
        return event

    client = make_client(processors=[add_tag])
    client.captureMessage("m")

    assert client.events[-1]["tags"]["processed"] == "yes"
    assert len(calls) == 1 and isinstance(calls[0], dict)


def test_a_plain_callable_processor_returning_none_drops_the_event_and_counts_it(
    make_client: Any,
) -> None:
    client = make_client(processors=[lambda event, hint: None])

    assert client.captureMessage("m") is None
    assert client.events == []
    assert client.stats.dropped == {"event_processor": 1}
    assert client.last_event_id is None


def test_the_processors_option_replaces_the_default_scrubber(make_client: Any) -> None:
    default = make_client()
    custom = make_client(processors=[lambda event, hint: event])

    default.captureMessage("m", extra={"password": "hunter2"})
    custom.captureMessage("m", extra={"password": "hunter2"})

    assert default.events[-1]["extra"]["password"] != "'hunter2'"
    assert custom.events[-1]["extra"]["password"] == "'hunter2'"


# -- capture_exceptions -----------------------------------------------------------------------


def test_capture_exceptions_decorates_a_plain_function(client: InMemoryClient) -> None:
    @client.capture_exceptions
    def fails(x: int) -> None:
        """Documentation survives."""
        raise ValueError(x)

    with pytest.raises(ValueError):
        fails(1)

    assert fails.__name__ == "fails"
    assert fails.__doc__ == "Documentation survives."
    assert [values(e)[-1]["value"] for e in client.events] == ["1"]


def test_capture_exceptions_decorates_a_bound_method(client: InMemoryClient) -> None:
    class Service:
        def run(self, x: int) -> None:
            raise KeyError(x)

    run = client.capture_exceptions(Service().run)

    with pytest.raises(KeyError):
        run(2)
    assert [values(e)[-1]["type"] for e in client.events] == ["KeyError"]


def test_capture_exceptions_decorates_a_functools_partial(client: InMemoryClient) -> None:
    run = client.capture_exceptions(functools.partial(raise_value_error, "partial"))

    with pytest.raises(ValueError):
        run()
    assert [values(e)[-1]["value"] for e in client.events] == ["partial"]


def test_capture_exceptions_with_an_exception_tuple_captures_only_those(
    client: InMemoryClient,
) -> None:
    @client.capture_exceptions((KeyError, IndexError))
    def fails(exc: BaseException) -> None:
        raise exc

    with pytest.raises(ValueError):
        fails(ValueError("not listed"))
    with pytest.raises(IndexError):
        fails(IndexError("listed"))

    assert [values(e)[-1]["value"] for e in client.events] == ["listed"]


def test_capture_exceptions_returns_the_function_result(client: InMemoryClient) -> None:
    @client.capture_exceptions
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, b=3) == 5
    assert client.events == []


def test_capture_exceptions_as_a_context_manager_captures_once_and_reraises(
    client: InMemoryClient,
) -> None:
    with pytest.raises(OSError, match="disk"), client.capture_exceptions():
        raise OSError("disk")

    assert len(client.events) == 1
    assert values(client.events[0])[-1]["value"] == "disk"


def test_capture_exceptions_passes_its_keyword_arguments_to_the_capture(
    client: InMemoryClient,
) -> None:
    capturing = client.capture_exceptions(tags={"section": "billing"}, level="warning")

    with pytest.raises(ValueError), capturing:
        raise ValueError("x")

    assert client.events[-1]["tags"]["section"] == "billing"
    assert client.events[-1]["level"] == "warning"


# -- breadcrumbs through the client -----------------------------------------------------------


def test_capture_breadcrumb_takes_the_buffer_order_and_the_documented_order(
    client: InMemoryClient,
) -> None:
    client.captureBreadcrumb(1700000000.0, "warning", "timestamp first", "old.order")
    client.captureBreadcrumb("message first", 1700000001.0, "info", "new.order")
    client.capture_breadcrumb(message="by keyword", category="kw", data={"k": 1})

    client.captureMessage("m")

    crumbs = client.events[-1]["breadcrumbs"]["values"]
    assert [(c["message"], c["level"], c["category"]) for c in crumbs] == [
        ("timestamp first", "warning", "old.order"),
        ("message first", "info", "new.order"),
        ("by keyword", None, "kw"),
    ]
    assert [c["timestamp"] for c in crumbs[:2]] == [1700000000.0, 1700000001.0]
    assert crumbs[2]["data"] == {"k": 1}


def test_capture_breadcrumb_records_in_this_client_only(make_client: Any) -> None:
    first, second = make_client(), make_client()

    first.captureBreadcrumb(message="for the first client")
    first.captureMessage("m")
    second.captureMessage("m")

    assert [c["message"] for c in first.events[-1]["breadcrumbs"]["values"]] == [
        "for the first client"
    ]
    assert "breadcrumbs" not in second.events[-1]


# -- already captured -------------------------------------------------------------------------


def test_the_same_exception_captured_twice_is_sent_once(client: InMemoryClient) -> None:
    try:
        raise_value_error()
    except ValueError:
        first = client.captureException()
        second = client.captureException()

    assert first is not None
    assert second is None
    assert len(client.events) == 1


def test_a_cleared_context_forgets_which_exceptions_were_sent(client: InMemoryClient) -> None:
    exc = caught(ValueError("again"))
    client.captureException(exc)

    client.context.clear()

    assert client.captureException(exc) is not None


def test_different_exceptions_are_all_sent_even_in_a_tight_loop(client: InMemoryClient) -> None:
    ids = []
    for i in range(500):
        try:
            raise ValueError(i)
        except ValueError:
            ids.append(client.captureException())

    assert None not in ids
    assert len(set(ids)) == 500
    assert [values(e)[-1]["value"] for e in client.events] == [str(i) for i in range(500)]


# -- context helpers --------------------------------------------------------------------------


def test_user_context_replaces_the_user(client: InMemoryClient) -> None:
    client.user_context({"id": 1, "email": "a@example.com"})
    client.user_context({"id": 2})

    client.captureMessage("m")

    assert client.events[-1]["user"] == {"id": 2}


def test_tags_and_extra_context_merge_key_by_key(client: InMemoryClient) -> None:
    client.tags_context({"a": "1", "b": "1"})
    client.tags_context({"b": "2"})
    client.extra_context({"x": 1})
    client.extra_context({"y": 2})

    client.captureMessage("m")

    assert client.events[-1]["tags"] == {"a": "1", "b": "2"}
    assert client.events[-1]["extra"]["x"] == "1"
    assert client.events[-1]["extra"]["y"] == "2"


def test_http_context_becomes_the_request(client: InMemoryClient) -> None:
    client.http_context({"url": "http://example.com/a", "method": "GET"})
    client.http_context({"url": "http://example.com/b", "method": "POST"})

    client.captureMessage("m")

    assert client.events[-1]["request"] == {"url": "http://example.com/b", "method": "POST"}


def test_context_helpers_return_none(client: InMemoryClient) -> None:
    assert client.user_context({"id": 1}) is None
    assert client.http_context({"url": "http://x/"}) is None
    assert client.extra_context({"a": 1}) is None
    assert client.tags_context({"a": "1"}) is None


def test_capture_data_wins_over_the_context(client: InMemoryClient) -> None:
    client.user_context({"id": "from context"})
    client.tags_context({"a": "context"})

    client.captureMessage("m", data={"user": {"id": "from data"}}, tags={"a": "call"})

    assert client.events[-1]["user"] == {"id": "from data"}
    assert client.events[-1]["tags"] == {"a": "call"}


# -- excepthooks ------------------------------------------------------------------------------


@pytest.fixture
def previous_hooks() -> List[Any]:
    """Replace the interpreter's excepthooks with recorders (restored after the test)."""
    calls: List[Any] = []
    raven.base.__excepthook__ = None
    raven.base.__threading_excepthook__ = None
    sys.excepthook = lambda *exc_info: calls.append(("sys", exc_info[1]))
    threading.excepthook = lambda args: calls.append(("thread", args.exc_value))
    return calls


def test_the_sys_hook_captures_uncaught_exceptions_as_fatal_then_calls_the_previous_hook(
    make_client: Any, previous_hooks: List[Any]
) -> None:
    client = make_client(install_sys_hook=True)
    exc = caught(ValueError("uncaught"))

    sys.excepthook(type(exc), exc, exc.__traceback__)

    assert raven.base.get_excepthook_client() is client
    assert [(e["level"], values(e)[-1]["value"]) for e in client.events] == [("fatal", "uncaught")]
    assert previous_hooks == [("sys", exc)]


def test_the_thread_hook_captures_exceptions_escaping_a_thread_as_fatal(
    make_client: Any, previous_hooks: List[Any]
) -> None:
    client = make_client(install_sys_hook=True)
    failure = KeyError("in a thread")

    def target() -> None:
        raise failure

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()

    assert [(e["level"], values(e)[-1]["type"]) for e in client.events] == [("fatal", "KeyError")]
    assert previous_hooks == [("thread", failure)]


def test_the_thread_hook_ignores_system_exit(make_client: Any, previous_hooks: List[Any]) -> None:
    client = make_client(install_sys_hook=True)

    thread = threading.Thread(target=sys.exit)
    thread.start()
    thread.join()

    assert client.events == []
    assert [kind for kind, _ in previous_hooks] == ["thread"]


def test_without_install_sys_hook_the_hooks_are_left_alone(
    make_client: Any, previous_hooks: List[Any]
) -> None:
    before = (sys.excepthook, threading.excepthook)

    make_client(install_sys_hook=False)

    assert (sys.excepthook, threading.excepthook) == before


# -- robustness -------------------------------------------------------------------------------


class Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    def __str__(self) -> str:
        raise RuntimeError("str refused")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq refused")

    def __hash__(self) -> int:
        raise RuntimeError("hash refused")


def test_locals_whose_repr_raises_never_break_a_capture(client: InMemoryClient) -> None:
    hostile = Hostile()

    try:
        raise ValueError(hostile)
    except ValueError:
        exception_id = client.captureException()
    message_id = client.captureMessage("m", stack=True, extra={"hostile": hostile})

    assert exception_id and message_id
    exception_event, message_event = client.events
    assert frames_of(exception_event)[-1]["vars"]["hostile"] == str(Hostile)
    assert frames_of(message_event)[-1]["vars"]["hostile"] == str(Hostile)
    assert message_event["extra"]["hostile"] == str(Hostile)
    assert isinstance(values(exception_event)[-1]["value"], str)


class FailingTransport(Transport):
    def send(self, url: str, data: bytes, headers: Dict[str, str]) -> None:
        raise OSError("network is down")


def test_raise_send_errors_lets_transport_errors_reach_the_caller() -> None:
    client = Client(
        "http://public@127.0.0.1:9/1",
        transport=FailingTransport,
        raise_send_errors=True,
        install_sys_hook=False,
        hook_libraries=[],
    )

    with pytest.raises(OSError, match="network is down"):
        client.captureMessage("m")


@pytest.mark.logs_sentry_errors
def test_without_raise_send_errors_a_failed_send_is_kept_for_retry_and_counted_if_abandoned(
    sentry_errors: List[logging.LogRecord],
) -> None:
    client = Client(
        "http://public@127.0.0.1:9/1",
        transport=FailingTransport,
        install_sys_hook=False,
        hook_libraries=[],
    )

    event_id = client.captureMessage("m")

    assert event_id is not None
    assert client.stats.dropped == {}  # not lost: queued for a retry
    assert client.state.did_fail()
    assert any("network is down" in r.getMessage() for r in sentry_errors)
    report = client.close(timeout=0)
    assert report.dropped == {"shutdown_timeout": 1}
    assert report.delivered == 0


# -- exception chains, groups, hidden and deep frames -----------------------------------------


def test_chained_exceptions_are_sent_oldest_first_and_the_caught_one_last(
    client: InMemoryClient,
) -> None:
    try:
        try:
            try:
                raise KeyError("root cause")
            except KeyError as e:
                raise ValueError("explicit cause") from e
        except ValueError:
            raise RuntimeError("implicit context")
    except RuntimeError:
        client.captureException()

    event = client.events[-1]
    assert [(v["type"], v["value"]) for v in values(event)] == [
        ("KeyError", "'root cause'"),
        ("ValueError", "explicit cause"),
        ("RuntimeError", "implicit context"),
    ]
    assert event["message"] == "RuntimeError: implicit context"


def test_raise_from_none_hides_the_context(client: InMemoryClient) -> None:
    try:
        try:
            raise KeyError("hidden")
        except KeyError:
            raise ValueError("shown") from None
    except ValueError:
        client.captureException()

    assert [v["type"] for v in values(client.events[-1])] == ["ValueError"]


def test_a_cycle_in_the_exception_chain_ends_the_chain(client: InMemoryClient) -> None:
    first, second = caught(ValueError("first")), caught(KeyError("second"))
    first.__context__ = second
    second.__context__ = first

    client.captureException(first)

    assert sorted(v["type"] for v in values(client.events[-1])) == ["KeyError", "ValueError"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in Python 3.11")
def test_an_exception_group_sends_its_members_linked_to_the_group(
    client: InMemoryClient,
) -> None:
    try:
        raise ExceptionGroup("several", [ValueError("a"), TypeError("b")])  # noqa: F821
    except Exception:
        client.captureException()

    event = client.events[-1]
    group = values(event)[-1]
    members = values(event)[:-1]
    assert group["type"] == "ExceptionGroup"
    assert group["mechanism"]["is_exception_group"] is True
    assert group["mechanism"]["exception_id"] == 0
    assert "parent_id" not in group["mechanism"]
    assert sorted((m["type"], m["value"]) for m in members) == [
        ("TypeError", "b"),
        ("ValueError", "a"),
    ]
    for member in members:
        assert member["mechanism"]["parent_id"] == 0
        assert member["mechanism"]["source"] in ("exceptions[0]", "exceptions[1]")
    ids = [v["mechanism"]["exception_id"] for v in values(event)]
    assert sorted(ids) == [0, 1, 2]
    assert event["message"].startswith("ExceptionGroup: several")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in Python 3.11")
def test_nested_exception_groups_link_each_member_to_its_own_group(
    client: InMemoryClient,
) -> None:
    inner = ExceptionGroup("inner", [KeyError("deep")])  # noqa: F821
    try:
        raise ExceptionGroup("outer", [inner, ValueError("shallow")])  # noqa: F821
    except Exception:
        client.captureException()

    by_value = {v["value"]: v["mechanism"] for v in values(client.events[-1])}
    outer_id = next(m["exception_id"] for k, m in by_value.items() if k.startswith("outer"))
    inner_id = next(m["exception_id"] for k, m in by_value.items() if k.startswith("inner"))
    assert by_value["'deep'"]["parent_id"] == inner_id
    assert by_value["shallow"]["parent_id"] == outer_id
    assert next(m for k, m in by_value.items() if k.startswith("inner"))["parent_id"] == outer_id


def test_frames_with_traceback_hide_are_left_out(client: InMemoryClient) -> None:
    def hidden_helper() -> None:
        __traceback_hide__ = True
        raise ValueError("from a hidden frame")

    def visible_caller() -> None:
        hidden_helper()

    try:
        visible_caller()
    except ValueError:
        client.captureException()

    functions = [f["function"] for f in frames_of(client.events[-1])]
    assert functions[-1] == "visible_caller"
    assert "hidden_helper" not in functions


def test_a_recursion_error_is_captured_quickly_with_its_middle_frames_slimmed(
    client: InMemoryClient,
) -> None:
    def recurse(depth: int) -> int:
        return recurse(depth + 1)

    try:
        recurse(0)
    except RecursionError:
        started = time.perf_counter()
        event_id = client.captureException()
        elapsed = time.perf_counter() - started

    assert event_id is not None
    assert elapsed < 2.0
    frames = frames_of(client.events[-1])
    assert 50 < len(frames) <= 1100
    assert frames[0]["function"] == (
        "test_a_recursion_error_is_captured_quickly_with_its_middle_frames_slimmed"
    )
    assert frames[-1]["function"] == "recurse"
    assert "vars" in frames[0] and "vars" in frames[-1]
    assert "pre_context" in frames[-1]
    middle = frames[len(frames) // 2]
    assert "vars" not in middle and "pre_context" not in middle and "post_context" not in middle
    assert middle["function"] == "recurse" and middle["lineno"] > 0


def test_the_event_has_the_standard_top_level_keys(make_client: Any) -> None:
    client = make_client()

    client.captureMessage("m")

    event = client.events[-1]
    for key in (
        "event_id",
        "timestamp",
        "level",
        "message",
        "platform",
        "sdk",
        "server_name",
        "modules",
        "tags",
        "extra",
        "repos",
        "time_spent",
        "project",
    ):
        assert key in event, key
    assert event["platform"] == "python"
    assert event["sdk"] == {"name": "raven-python", "version": raven.VERSION}
    assert event["modules"]["python"] == "%d.%d.%d" % sys.version_info[:3]


def test_an_in_memory_client_is_a_client(client: InMemoryClient) -> None:
    assert isinstance(client, Client)


@pytest.mark.logs_sentry_errors
def test_a_full_send_queue_is_counted_as_queue_overflow_without_backing_off() -> None:
    from raven.base import Client

    client = Client(
        "http://public@127.0.0.1:9/1", queue_bytes=1, install_sys_hook=False, hook_libraries=[]
    )

    assert client.captureMessage("no room") is not None

    assert client.stats.dropped == {"queue_overflow": 1}
    assert client.state.should_try()


def test_send_on_a_client_without_a_dsn_does_nothing_quietly() -> None:
    client = Client(install_sys_hook=False)

    assert client.send(message="x") is None
    assert client.stats.dropped == {}


def test_a_transport_named_by_dotted_path_is_imported_when_the_client_is_built() -> None:
    client = Client(
        "http://public@127.0.0.1:9/1",
        transport="raven.transport.http.HTTPTransport",
        install_sys_hook=False,
    )
    assert type(client.remote.get_transport()).__name__ == "HTTPTransport"

    with pytest.raises(ConfigurationError, match=re.escape("raven.transport.nope.Missing")):
        Client(
            "http://public@127.0.0.1:9/1",
            transport="raven.transport.nope.Missing",
            install_sys_hook=False,
        )
