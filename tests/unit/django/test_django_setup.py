"""Settings, the proxy client, initialize() and the app: how raven is wired into Django."""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, List

import django
import pytest
from django.apps import apps
from django.conf import settings
from django.core.signals import got_request_exception, request_started
from django.test import RequestFactory, override_settings

import raven.contrib.django as raven_django
from raven.contrib.django import models
from raven.contrib.django.apps import RavenConfig, check_sentry_middleware
from raven.contrib.django.client import DjangoClient
from raven.contrib.django.models import (
    SentryDjangoHandler,
    client,
    get_client,
    initialize,
    install_middleware,
    sentry_exception_handler,
)
from raven.exceptions import InvalidDsn

Events = List[Dict[str, Any]]
NO_HOOK = {"install_sys_hook": False, "hook_libraries": []}


def handlers_connected() -> int:
    """How many SentryDjangoHandler instances receive got_request_exception."""
    count = 0
    for entry in got_request_exception.receivers:
        receiver = entry[1]
        target = receiver() if callable(receiver) and not hasattr(receiver, "__self__") else None
        method = target if target is not None else receiver
        if isinstance(getattr(method, "__self__", None), SentryDjangoHandler):
            count += 1
    return count


@pytest.fixture
def uninstalled() -> Iterator[None]:
    """raven as before ``initialize()``; set up again afterwards."""
    models._uninstall()
    try:
        yield
    finally:
        models._uninstall()
        initialize()


# -- the client and its settings -----------------------------------------------------------------


def test_the_proxy_stands_for_the_configured_client() -> None:
    real = get_client()
    assert isinstance(client, DjangoClient)
    assert client.__class__ is type(real)
    assert client == real
    assert hash(client) == hash(real)
    client.some_attribute = "set through the proxy"
    assert real.some_attribute == "set through the proxy"
    del client.some_attribute
    assert not hasattr(real, "some_attribute")
    assert repr(client) == repr(real)
    assert "captureException" in dir(client)


def test_the_client_is_built_once_until_reset() -> None:
    first = get_client()
    assert get_client() is first
    rebuilt = get_client(reset=True)
    assert rebuilt is not first
    assert get_client() is rebuilt


def test_a_named_client_class_is_built_without_replacing_the_configured_one() -> None:
    configured = get_client()
    other = get_client("raven.contrib.django.client.DjangoClient")
    assert type(other) is DjangoClient
    assert get_client() is configured


def test_raven_config_and_sentry_settings_become_client_options() -> None:
    config = dict(NO_HOOK, release="1.2.3", tags={"team": "shop"})
    with override_settings(RAVEN_CONFIG=config, SENTRY_ENVIRONMENT="staging"):
        assert client.release == "1.2.3"
        assert client.tags == {"team": "shop"}
        assert client.environment == "staging"
        # include_paths default to the installed apps
        assert client.include_paths == set(settings.INSTALLED_APPS)


def test_sentry_config_takes_precedence_over_raven_config() -> None:
    with override_settings(SENTRY_CONFIG=dict(NO_HOOK, release="sentry"), RAVEN_CONFIG={}):
        assert client.release == "sentry"


def test_sentry_include_paths_replace_the_installed_apps() -> None:
    with override_settings(SENTRY_INCLUDE_PATHS=["shop"]):
        assert client.include_paths == {"shop"}


def test_the_sentry_dsn_setting_configures_the_client() -> None:
    with override_settings(
        SENTRY_CLIENT="raven.contrib.django.DjangoClient",
        SENTRY_DSN="http://public@127.0.0.1:9/42",
    ):
        assert type(get_client()) is DjangoClient
        assert client.is_enabled()
        assert client.remote.project == "42"
        assert client.get_public_dsn() == "//public@127.0.0.1:9/42"


def test_a_settings_change_builds_the_client_again_and_restores_it_after() -> None:
    before = get_client()
    with override_settings(RAVEN_CONFIG=dict(NO_HOOK, release="temp")):
        assert get_client() is not before
        assert client.release == "temp"
    assert client.release is None


def test_an_unrelated_setting_keeps_the_client() -> None:
    before = get_client()
    with override_settings(SENTRY_ALLOW_ORIGIN="*", TIME_ZONE="Europe/Paris"):
        assert get_client() is before


@pytest.mark.logs_sentry_errors
def test_an_unimportable_client_class_is_logged_once_and_replaced(
    sentry_errors: List[logging.LogRecord],
) -> None:
    with override_settings(SENTRY_CLIENT="no.such.module.Client"):
        assert type(get_client()) is DjangoClient
        assert get_client() is get_client()
        client.is_enabled()
    errors = [r for r in sentry_errors if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "no.such.module.Client" in errors[0].getMessage()


# -- capture hooks ---------------------------------------------------------------------------------


def test_sentry_exception_handler_captures_the_handled_exception(events: Events) -> None:
    request = RequestFactory().get("/somewhere/")
    try:
        raise KeyError("missing")
    except KeyError:
        sentry_exception_handler(request=request)
    [event] = events
    assert event["exception"]["values"][0]["type"] == "KeyError"
    assert event["request"]["url"] == "http://testserver/somewhere/"


@pytest.mark.logs_sentry_errors
def test_a_failing_capture_is_logged_not_raised(monkeypatch: Any, sentry_errors: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("capture exploded")

    monkeypatch.setattr(get_client(), "captureException", broken)
    try:
        raise ValueError("app error")
    except ValueError:
        got_request_exception.send(sender=None, request=None)
    assert any("capture exploded" in r.getMessage() for r in sentry_errors)


def test_the_handler_connects_and_disconnects_the_request_signals(uninstalled: None) -> None:
    handler = SentryDjangoHandler()
    handler.install()
    try:
        assert handlers_connected() == 1
        assert any(
            getattr(entry[1], "__self__", None) is handler for entry in request_started.receivers
        )
    finally:
        handler.uninstall()
    assert handlers_connected() == 0


def test_initialize_runs_once() -> None:
    assert handlers_connected() == 1
    initialize()
    initialize()
    assert handlers_connected() == 1


def test_initialize_reports_a_bad_configuration_and_can_be_retried(uninstalled: None) -> None:
    with override_settings(SENTRY_CLIENT="raven.contrib.django.DjangoClient", SENTRY_DSN="nope"):
        with pytest.raises(InvalidDsn):
            initialize()
        assert handlers_connected() == 0
        assert models._initialized is False
    initialize()
    assert handlers_connected() == 1


def test_instrumentation_can_be_disabled(uninstalled: None) -> None:
    with override_settings(DISABLE_SENTRY_INSTRUMENTATION=True):
        initialize()
        assert handlers_connected() == 0


def test_initialize_leaves_the_middleware_setting_alone(uninstalled: None) -> None:
    with override_settings(MIDDLEWARE=["django.middleware.common.CommonMiddleware"]):
        initialize()
        assert settings.MIDDLEWARE == ["django.middleware.common.CommonMiddleware"]


def test_install_middleware_puts_it_first_unless_it_is_there() -> None:
    name = "raven.contrib.django.middleware.SentryMiddleware"
    with override_settings(MIDDLEWARE=("a.Middleware",)):
        install_middleware(name)
        assert list(settings.MIDDLEWARE) == [name, "a.Middleware"]
        assert isinstance(settings.MIDDLEWARE, tuple)
        install_middleware(name)
        assert list(settings.MIDDLEWARE) == [name, "a.Middleware"]
    with override_settings(MIDDLEWARE=["raven.contrib.django.middleware.SentryLogMiddleware"]):
        install_middleware(name, ["raven.contrib.django.middleware.SentryLogMiddleware", name])
        assert settings.MIDDLEWARE == ["raven.contrib.django.middleware.SentryLogMiddleware"]


# -- the app -------------------------------------------------------------------------------------


def test_the_app_is_raven_config() -> None:
    config = apps.get_app_config("raven_contrib_django")
    assert isinstance(config, RavenConfig)
    assert config.name == "raven.contrib.django"
    assert config.verbose_name == "Raven"
    if not (3, 2) <= django.VERSION[:2] < (4, 1):  # those warn when it is set
        assert raven_django.default_app_config == "raven.contrib.django.apps.RavenConfig"
    assert raven_django.DjangoClient is DjangoClient


def test_the_system_check_points_out_a_missing_sentry_middleware() -> None:
    assert check_sentry_middleware() == []
    with override_settings(MIDDLEWARE=[]):
        [message] = check_sentry_middleware()
    assert message.id == "raven.I001"
    assert "SentryMiddleware" in message.hint
    with override_settings(MIDDLEWARE=[], DISABLE_SENTRY_INSTRUMENTATION=True):
        assert check_sentry_middleware() == []


def test_the_system_check_is_registered() -> None:
    from django.core import checks

    with override_settings(MIDDLEWARE=[]):
        ids = [m.id for m in checks.run_checks(include_deployment_checks=False)]
    assert "raven.I001" in ids
