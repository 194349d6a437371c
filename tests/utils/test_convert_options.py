"""raven.utils.conf.convert_options: framework settings become Client keyword arguments."""

from __future__ import annotations

import types
from typing import Any

import pytest

from raven.utils.conf import convert_options

ALL_KEYS = {
    "include_paths",
    "exclude_paths",
    "timeout",
    "name",
    "auto_log_stacks",
    "string_max_length",
    "list_max_length",
    "site",
    "processors",
    "sanitize_keys",
    "dsn",
    "context",
    "tags",
    "release",
    "repos",
    "environment",
    "ignore_exceptions",
    "sample_rate",
    "transport",
}


class DummyTransport:
    pass


@pytest.fixture(autouse=True)
def no_sentry_dsn_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)


def test_sentry_settings_and_defaults_from_a_dict() -> None:
    options = convert_options(
        {
            "SENTRY_FOO": "foo",
            "FOO": "bar",
            "SENTRY_RELEASE": "a",
            "SENTRY_IGNORE_EXCEPTIONS": ["b"],
        },
        defaults={"environment": "production"},
    )
    assert options["release"] == "a"
    assert options["ignore_exceptions"] == ["b"]
    assert options["environment"] == "production"
    assert "foo" not in options


def test_every_option_is_present_and_unset_ones_are_none() -> None:
    options = convert_options({})
    assert set(options) == ALL_KEYS
    assert options["include_paths"] == []
    assert options["exclude_paths"] == []
    assert all(options[k] is None for k in ALL_KEYS - {"include_paths", "exclude_paths"})


def test_settings_object_attributes_are_read_like_django_settings() -> None:
    settings = types.SimpleNamespace(SENTRY_DSN="http://public@example.com/1", SENTRY_SITE="s")
    options = convert_options(settings)
    assert options["dsn"] == "http://public@example.com/1"
    assert options["site"] == "s"


@pytest.mark.parametrize("config_name", ["SENTRY_CONFIG", "RAVEN_CONFIG"])
def test_config_dict_beats_sentry_settings_and_defaults(config_name: str) -> None:
    settings = {config_name: {"release": "from-config"}, "SENTRY_RELEASE": "from-setting"}
    options = convert_options(settings, defaults={"release": "from-defaults"})
    assert options["release"] == "from-config"


def test_sentry_config_is_used_instead_of_raven_config_not_merged() -> None:
    settings = {"SENTRY_CONFIG": {"release": "1"}, "RAVEN_CONFIG": {"environment": "prod"}}
    options = convert_options(settings)
    assert options["release"] == "1"
    assert options["environment"] is None


def test_an_empty_sentry_config_falls_through_to_raven_config() -> None:
    options = convert_options({"SENTRY_CONFIG": {}, "RAVEN_CONFIG": {"release": "r"}})
    assert options["release"] == "r"


def test_unknown_keys_in_the_config_dict_pass_through() -> None:
    options = convert_options({"RAVEN_CONFIG": {"capture_locals": False}})
    assert options["capture_locals"] is False


def test_the_config_dict_is_copied_not_modified() -> None:
    config: dict[str, Any] = {"dsn": "http://public@example.com/1"}
    convert_options({"RAVEN_CONFIG": config})
    assert config == {"dsn": "http://public@example.com/1"}


def test_dsn_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", "http://env@example.com/2")
    assert convert_options({})["dsn"] == "http://env@example.com/2"
    assert convert_options({"SENTRY_DSN": "http://s@example.com/3"})["dsn"] == (
        "http://s@example.com/3"
    )


def test_a_dsn_key_in_defaults_hides_the_environment_even_when_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Flask passes defaults={'dsn': dsn}; as in 6.10 the environment is not consulted then
    # (Client itself still falls back to SENTRY_DSN when given no dsn).
    monkeypatch.setenv("SENTRY_DSN", "http://env@example.com/2")
    assert convert_options({}, defaults={"dsn": None})["dsn"] is None


def test_transport_string_is_imported() -> None:
    path = f"{__name__}.DummyTransport"
    assert convert_options({"SENTRY_TRANSPORT": path})["transport"] is DummyTransport
    assert convert_options({"RAVEN_CONFIG": {"transport": path}})["transport"] is DummyTransport


def test_transport_setting_beats_config_dict_which_beats_defaults() -> None:
    class Other:
        pass

    both = {"SENTRY_TRANSPORT": DummyTransport, "RAVEN_CONFIG": {"transport": Other}}
    assert convert_options(both)["transport"] is DummyTransport
    config_only = {"RAVEN_CONFIG": {"transport": Other}}
    assert (
        convert_options(config_only, defaults={"transport": DummyTransport})["transport"] is Other
    )
    assert convert_options({}, defaults={"transport": Other})["transport"] is Other
