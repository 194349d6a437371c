"""``raven.contrib.zconfig``: a ``<sentry>`` section in a ZConfig logging configuration builds a
logging ``SentryHandler`` (``ZConfig.configureLoggers``, as ZConfig users write it)."""

from __future__ import annotations

import logging
from typing import Any, Iterator
from unittest import mock

import pytest
from ZConfig import configureLoggers

from raven.base import Client
from raven.contrib.zconfig import Factory
from raven.handlers.logging import SentryHandler
from raven.utils.testutils import InMemoryClient


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, given back as it was (ZConfig sets its level and adds handlers)."""
    logger = logging.getLogger()
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def configure(body: str) -> SentryHandler:
    configureLoggers(
        """
        <logger>
          %%import raven.contrib.zconfig
          <sentry>
            %s
          </sentry>
        </logger>
        """
        % body
    )
    handler = logging.getLogger().handlers[-1]
    assert isinstance(handler, SentryHandler)
    return handler


def test_a_minimal_section_passes_every_key_to_the_client(root: logging.Logger) -> None:
    with mock.patch("raven.handlers.logging.Client") as client_cls:
        handler = configure("dsn https://abc:def@example.com/42")
    assert handler.level == logging.ERROR
    client_cls.assert_called_with(
        dsn="https://abc:def@example.com/42",
        site=None,
        name=None,
        release=None,
        environment=None,
        exclude_paths=None,
        include_paths=None,
        sample_rate=1.0,
        list_max_length=None,
        string_max_length=None,
        auto_log_stacks=None,
        processors=None,
        level=logging.ERROR,
    )


def test_every_key(root: logging.Logger) -> None:
    with mock.patch("raven.handlers.logging.Client") as client_cls:
        handler = configure(
            """
            level WARNING
            dsn https://abc:def@example.com/42
            site test-site
            name test
            release 42.0
            environment testing
            exclude_paths /a /b
            include_paths /c /d
            sample_rate 0.5
            list_max_length 9
            string_max_length 99
            auto_log_stacks true
            processors x y z
            """
        )
    assert handler.level == logging.WARNING
    client_cls.assert_called_with(
        dsn="https://abc:def@example.com/42",
        site="test-site",
        name="test",
        release="42.0",
        environment="testing",
        exclude_paths=["/a", "/b"],
        include_paths=["/c", "/d"],
        sample_rate=0.5,
        list_max_length=9,
        string_max_length=99,
        auto_log_stacks=True,
        processors=["x", "y", "z"],
        level=logging.WARNING,
    )


def test_a_real_client_gets_the_options_and_no_handler_option(root: logging.Logger) -> None:
    # filterwarnings=error: an option the client does not know (level) would fail here
    handler = configure(
        """
        dsn https://abc:def@example.com/42
        release 42.0
        sample_rate 0.25
        string_max_length 99
        processors raven.processors.SanitizeKeysProcessor
        """
    )
    client = handler.client
    assert type(client) is Client
    assert (client.release, client.sample_rate, client.string_max_length) == ("42.0", 0.25, 99)
    assert client.processors == ("raven.processors.SanitizeKeysProcessor",)
    assert client.remote.project == "42"


def test_the_configured_handler_sends_the_loggers_errors(root: logging.Logger) -> None:
    with mock.patch("raven.handlers.logging.Client", InMemoryClient):
        handler = configure("dsn https://abc:def@example.com/42")
    assert isinstance(handler.client, InMemoryClient)
    logging.getLogger("zconfig.app").warning("below the level")
    logging.getLogger("zconfig.app").error("an error for %s", "zope")
    [event] = handler.client.events
    assert event["message"] == "an error for zope"
    assert event["logger"] == "zconfig.app"


def test_the_factory_is_zconfigs_kind_of_factory() -> None:
    from ZConfig.components.logger.factory import Factory as ZConfigFactory

    section: Any = mock.Mock(level=0)
    factory = Factory(section)
    assert isinstance(factory, ZConfigFactory)
    assert factory.getLevel() == logging.ERROR
