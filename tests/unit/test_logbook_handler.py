"""The Logbook ``SentryHandler``: construction, record -> event, raven's own channels, failures,
and the lazy import of Logbook."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any, Callable, Dict, Iterator, List
from unittest import mock

import logbook
import pytest

import raven.handlers.logbook as logbook_module
from raven.base import Client
from raven.handlers.logbook import SentryHandler
from raven.utils.testutils import InMemoryClient

DSN = "http://public:secret@example.com/1"


@pytest.fixture
def handler(client: InMemoryClient) -> SentryHandler:
    return SentryHandler(client)


@pytest.fixture
def logger(handler: SentryHandler) -> Iterator[logbook.Logger]:
    """A Logbook logger whose records go to ``handler`` (and nowhere else)."""
    with handler.applicationbound():
        yield logbook.Logger("app.logbook")


# -- construction -----------------------------------------------------------------------------


def test_a_client_as_the_argument_is_used(client: InMemoryClient) -> None:
    assert SentryHandler(client).client is client
    assert SentryHandler(client=client).client is client


def test_a_dsn_builds_a_client_with_the_client_options() -> None:
    handler = SentryHandler(DSN, install_sys_hook=False, release="1.0", level="ERROR")
    assert type(handler.client) is Client
    assert handler.client.remote.project == "1"
    assert handler.client.release == "1.0"
    assert handler.level == logbook.ERROR


def test_a_dsn_with_client_cls_builds_that_class_and_keeps_the_handler_arguments() -> None:
    handler = SentryHandler(DSN, client_cls=InMemoryClient, level="ERROR", bubble=True)
    assert type(handler.client) is InMemoryClient
    assert handler.level == logbook.ERROR
    assert handler.bubble is True


def test_another_client_factory_gets_every_argument_as_in_6_10() -> None:
    factory = mock.Mock()
    handler = SentryHandler(DSN, client_cls=factory, level="ERROR")
    factory.assert_called_once_with(dsn=DSN, level="ERROR")
    assert handler.client is factory.return_value


def test_logbook_arguments_go_to_the_logbook_handler(client: InMemoryClient) -> None:
    handler = SentryHandler(client=client, level="WARNING", bubble=True)
    assert (handler.level, handler.bubble) == (logbook.WARNING, True)


def test_no_client_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="client"):
        SentryHandler()


def test_another_positional_argument_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="must be either a Client instance or a DSN"):
        SentryHandler(object())


def test_the_6_10_module_names_are_there() -> None:
    assert logbook_module.Client is Client
    assert logbook_module.to_string("x") == b"x"
    assert issubclass(SentryHandler, logbook.Handler)
    assert SentryHandler.__module__ == "raven.handlers.logbook"


# -- record -> event --------------------------------------------------------------------------


def test_a_record_becomes_a_message_event(logger: logbook.Logger, client: InMemoryClient) -> None:
    logger.warning("hello {0}", "world", tags={"region": "eu"})
    [event] = client.events
    assert event["level"] == "warning"
    assert event["logger"] == "app.logbook"
    assert event["message"] == "hello world"
    assert event["sentry.interfaces.Message"] == {
        "message": "hello {0}",
        "params": ("'world'",),
        "formatted": "hello world",
    }
    assert event["tags"] == {"region": "eu"}
    assert "exception" not in event


def test_the_record_place_and_extra_go_to_extra(
    logger: logbook.Logger, client: InMemoryClient
) -> None:
    logger.error("with extra", extra={"invoice": 42})
    [event] = client.events
    extra = event["extra"]
    assert extra["function"] == "'test_the_record_place_and_extra_go_to_extra'"
    assert extra["filename"].endswith("test_logbook_handler.py'")
    assert int(extra["lineno"]) > 0
    assert str(extra["process"]) == str(os.getpid())
    assert "process_name" in extra
    assert str(extra["invoice"]) == "42"


def test_an_exception_makes_an_exception_event_with_the_message(
    logger: logbook.Logger, client: InMemoryClient
) -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("failed for {0}", "bob")
    [event] = client.events
    assert event["message"] == "failed for bob"
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "bad value")
    assert event["sentry.interfaces.Message"]["message"] == "failed for {0}"
    assert event["level"] == "error"


def test_a_record_whose_args_do_not_fit_sends_its_template(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    record = logbook.LogRecord("app", logbook.ERROR, "{0} and {1}", args=("one",))
    handler.emit(record)
    [event] = client.events
    assert event["message"] == "{0} and {1}"


# -- raven's own channels, recursion and failures ---------------------------------------------


@pytest.mark.parametrize("channel", ["raven", "raven.base", "sentry.errors", "sentry.errors.x"])
def test_raven_channels_are_printed_to_stderr_not_sent(
    handler: SentryHandler,
    client: InMemoryClient,
    capsys: pytest.CaptureFixture[str],
    channel: str,
) -> None:
    handler.emit(logbook.LogRecord(channel, logbook.ERROR, "raven trouble"))
    assert client.events == []
    assert capsys.readouterr() == ("", "raven trouble\n")


def test_records_logged_while_capturing_are_no_events(
    make_client: Callable[..., InMemoryClient], logger: logbook.Logger, handler: SentryHandler
) -> None:
    def chatty(event: Dict[str, Any], hint: Dict[str, Any]) -> Dict[str, Any]:
        logger.error("logged by a processor")
        return event

    handler.client = make_client(processors=[chatty])
    logger.error("the one event")
    [event] = handler.client.events
    assert event["message"] == "the one event"


@pytest.mark.logs_sentry_errors
def test_a_failure_is_logged_on_sentry_errors_not_raised(
    logger: logbook.Logger, client: InMemoryClient, sentry_errors: List[logging.LogRecord]
) -> None:
    with mock.patch.object(client, "capture", side_effect=RuntimeError("boom")):
        logger.error("lost")
    [record] = [r for r in sentry_errors if r.levelno >= logging.ERROR]
    assert "Logbook SentryHandler failed" in record.getMessage()
    assert client.events == []


def test_a_failure_is_raised_with_raise_send_errors(
    make_client: Callable[..., InMemoryClient],
) -> None:
    client = make_client(raise_send_errors=True)
    handler = SentryHandler(client)
    failing = mock.patch.object(client, "capture", side_effect=RuntimeError("boom"))
    with failing, pytest.raises(RuntimeError, match="boom"):
        handler.emit(logbook.LogRecord("app", logbook.ERROR, "x"))


# -- Logbook is imported on first use ---------------------------------------------------------


def test_without_logbook_the_module_imports_and_using_the_handler_says_what_to_install() -> None:
    script = (
        "import sys\n"
        "sys.modules['logbook'] = None\n"
        "import raven.handlers.logbook as m\n"
        "try:\n"
        "    m.SentryHandler\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "needs Logbook: pip install 'raven[logbook]'" in result.stdout


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        logbook_module.Nope  # noqa: B018
