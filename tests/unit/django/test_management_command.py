"""``manage.py raven test``: the test message goes out through the project's client, and the
command says what the server did with it."""

from __future__ import annotations

from typing import Any, Dict, Iterator
from unittest import mock

import pytest
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError
from django.test import override_settings

from raven.contrib.django.management.commands import raven as command_module
from raven.contrib.django.models import client
from raven.scripts.runner import MESSAGE
from servers.sink import Sink

SECRET = "s3cr3t-k3y-0123456789"


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    try:
        yield server
    finally:
        server.stop()


def real_client_for(dsn: str) -> Any:
    """Settings under which the configured client is a real DjangoClient sending to ``dsn``."""
    return override_settings(
        SENTRY_CLIENT="raven.contrib.django.DjangoClient",
        RAVEN_CONFIG={"dsn": dsn, "install_sys_hook": False, "hook_libraries": []},
    )


def printed_event_id(out: str) -> str:
    [line] = [line for line in out.splitlines() if "Event ID was" in line]
    return line.rsplit("Event ID was ", 1)[1].strip("'")


# -- arguments ----------------------------------------------------------------------------------


@mock.patch("raven.contrib.django.management.commands.raven.send_test_message")
def test_the_610_call_sends_through_the_configured_client(send_test_message: mock.Mock) -> None:
    call_command("raven", command="test")

    send_test_message.assert_called_once_with(client, {"tags": None, "data": None})


@mock.patch("raven.contrib.django.management.commands.raven.send_test_message")
def test_data_and_tags_are_parsed_as_json(send_test_message: mock.Mock) -> None:
    call_command("raven", "test", "--data", '{"culprit": "here"}', "--tags", '{"site": "eu"}')

    send_test_message.assert_called_once_with(
        client, {"tags": {"site": "eu"}, "data": {"culprit": "here"}}
    )


@mock.patch("raven.contrib.django.management.commands.raven.send_test_message")
def test_data_and_tags_may_be_given_as_keywords(send_test_message: mock.Mock) -> None:
    call_command("raven", "test", tags={"site": "us"})

    send_test_message.assert_called_once_with(client, {"tags": {"site": "us"}, "data": None})


@mock.patch("raven.contrib.django.management.commands.raven.send_test_message")
def test_json_text_given_as_a_keyword_is_parsed_too(send_test_message: mock.Mock) -> None:
    call_command("raven", "test", data='{"logger": "mine"}')

    send_test_message.assert_called_once_with(client, {"tags": None, "data": {"logger": "mine"}})
    with pytest.raises(CommandError, match="--tags: invalid JSON"):
        call_command("raven", "test", tags="{nope")


@pytest.mark.parametrize(
    ("value", "complaint"),
    [("{nope", "invalid JSON"), ('["a", "list"]', "expected a JSON object")],
)
def test_bad_json_is_a_usage_error(value: str, complaint: str) -> None:
    with pytest.raises(CommandError, match=complaint):
        call_command("raven", "test", "--tags", value)
    assert client.events == []


@pytest.mark.parametrize("args", [(), ("tset",)])
def test_anything_but_test_is_refused_with_the_usage(args: Any) -> None:
    with pytest.raises(CommandError, match=r"Usage: manage.py raven test \[--data JSON\]"):
        call_command("raven", *args)
    assert client.events == []


def test_without_a_dsn_the_command_fails_and_says_how_to_give_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(CommandError, match=r"RAVEN_CONFIG = \{'dsn': ...\}"):
        call_command("raven", "test")

    assert "the DSN is not complete" in capsys.readouterr().err
    assert client.events == []


# -- delivery -----------------------------------------------------------------------------------


def test_the_event_reaches_the_server_and_the_command_says_so(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    with real_client_for(sink.dsn(secret=SECRET)):
        call_command("raven", "test", "--tags", '{"check": "command"}')

    out = capsys.readouterr().out
    assert out.endswith("Sentry accepted the event.\nsuccess!\n")
    assert SECRET not in out
    [event] = sink.events
    assert event["event_id"] == printed_event_id(out)
    assert event["logentry"]["message"] == MESSAGE
    assert event["tags"]["check"] == "command"
    assert event["culprit"] == "raven.scripts.runner"
    assert event["logger"] == "raven.test"


def test_data_replaces_the_default_request(sink: Sink) -> None:
    with real_client_for(sink.dsn()):
        call_command("raven", "test", data={"culprit": "my.view", "logger": "mine"})

    [event] = sink.events
    assert (event["culprit"], event["logger"]) == ("my.view", "mine")
    assert "request" not in event


@pytest.mark.logs_sentry_errors
def test_a_refused_event_makes_the_command_fail(sink: Sink) -> None:
    sink.respond(403, headers={"X-Sentry-Error": "unknown key"})

    with real_client_for(sink.dsn()), pytest.raises(CommandError) as raised:
        call_command("raven", "test")

    assert "not delivered (dropped: send_error: 1)" in str(raised.value)
    assert sink.events == []


@pytest.mark.logs_sentry_errors
def test_an_unreachable_server_makes_the_command_fail_after_the_timeout(sink: Sink) -> None:
    dsn = sink.dsn()
    sink.stop()

    with real_client_for(dsn), pytest.raises(CommandError) as raised:
        call_command("raven", "test", "--timeout", "0.2")

    assert "not delivered within 0.2 s: the server did not answer" in str(raised.value)


def test_a_client_that_sends_its_own_way_is_not_called_a_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the project's in-memory client keeps events instead of delivering them
    with override_settings(RAVEN_CONFIG={"dsn": "http://public@127.0.0.1:9/1"}):
        call_command("raven", "test")
        events: Dict[str, Any] = client.events

    assert "handed the event on without reporting its delivery" in capsys.readouterr().out
    assert [e["message"] for e in events] == [MESSAGE]


def test_the_command_module_keeps_its_610_names() -> None:
    assert command_module.DJANGO_18 is True
    assert get_commands()["raven"] == "raven.contrib.django"
