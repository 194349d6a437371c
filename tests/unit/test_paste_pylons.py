"""The Paste filter (``egg:raven#raven``) and the Pylons middleware, configured from ini/config."""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Dict, List

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # webob imports cgi (3.11+)
    import webtest
    from paste.deploy import loadapp

import raven.contrib.paste
from raven.base import Client
from raven.contrib.paste import sentry_filter_factory
from raven.contrib.pylons import Sentry as PylonsSentry
from raven.contrib.pylons import list_from_setting
from raven.exceptions import ConfigurationError
from raven.middleware import Sentry
from raven.utils.testutils import InMemoryClient

DSN = "http://public:secret@127.0.0.1:9/7"


def failing_app(environ: Dict[str, Any], start_response: Any) -> Any:
    raise ValueError("hello world")


def make_app(global_conf: Dict[str, Any], **local_conf: Any) -> Any:
    """The ``[app:…]`` of the ini files below (PasteDeploy's ``call:`` protocol)."""
    return failing_app


class RecordingClient(InMemoryClient):
    """Keeps the options it was built with, so a test sees what the configuration produced."""

    built: List[Dict[str, Any]] = []

    def __init__(self, **options: Any) -> None:
        RecordingClient.built.append(dict(options))
        options.setdefault("install_sys_hook", False)
        super().__init__(**options)


@pytest.fixture(autouse=True)
def _forget_built_clients() -> None:
    RecordingClient.built = []


# -- Paste ------------------------------------------------------------------------------------


def write_ini(tmp_path: Path, filter_keys: str) -> str:
    ini = tmp_path / "app.ini"
    ini.write_text(
        "[pipeline:main]\n"
        "pipeline = sentry app\n"
        "\n"
        "[filter:sentry]\n"
        "use = egg:raven#raven\n" + filter_keys + "\n"
        "[app:app]\n"
        "use = call:%s:make_app\n" % __name__,
        encoding="utf-8",
    )
    return "config:%s" % ini


def test_loadapp_wraps_the_app_in_the_middleware_from_the_egg_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(raven.contrib.paste, "Client", RecordingClient)
    uri = write_ini(tmp_path, "dsn = %s\nrelease = 1.2.3\n" % DSN)

    app = loadapp(uri)

    assert isinstance(app, Sentry)
    assert app.application is failing_app
    assert RecordingClient.built == [{"dsn": DSN, "release": "1.2.3"}]
    with pytest.raises(ValueError):
        webtest.TestApp(app).get("/an-error?foo=bar")
    [event] = app.client.events
    assert event["request"]["url"] == "http://localhost/an-error"
    assert event["release"] == "1.2.3"


def test_ini_strings_become_lists_and_booleans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(raven.contrib.paste, "Client", RecordingClient)
    uri = write_ini(
        tmp_path,
        "dsn = %s\n"
        "include_paths = myapp, otherapp\n"
        "exclude_paths = myapp.vendor\n"
        "auto_log_stacks = false\n"
        "install_sys_hook = Off\n"
        "string_max_length = 500\n" % DSN,
    )

    app = loadapp(uri)

    [options] = RecordingClient.built
    assert options["include_paths"] == ["myapp", "otherapp"]
    assert options["exclude_paths"] == ["myapp.vendor"]
    assert options["auto_log_stacks"] is False
    assert options["install_sys_hook"] is False
    client = app.client
    assert client.include_paths == {"myapp", "otherapp"}
    assert client.auto_log_stacks is False
    assert client.string_max_length == 500


def test_a_boolean_option_that_is_not_a_boolean_fails_loadapp(tmp_path: Path) -> None:
    uri = write_ini(tmp_path, "auto_log_stacks = sometimes\n")

    with pytest.raises(ConfigurationError, match="auto_log_stacks must be true or false"):
        loadapp(uri)


def test_the_factory_passes_python_values_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raven.contrib.paste, "Client", RecordingClient)

    middleware = sentry_filter_factory(
        failing_app, {"here": "/srv"}, dsn=DSN, include_paths=("a b",), auto_log_stacks=True
    )

    assert middleware.application is failing_app
    assert RecordingClient.built == [
        {"dsn": DSN, "include_paths": ("a b",), "auto_log_stacks": True}
    ]


def test_the_filter_is_registered_as_raven() -> None:
    [entry_point] = entry_points(group="paste.filter_app_factory", name="raven")

    assert entry_point.load() is sentry_filter_factory


# -- Pylons -----------------------------------------------------------------------------------


def test_pylons_builds_its_client_from_the_sentry_keys_of_the_config() -> None:
    config = {
        "sentry.dsn": DSN,
        "sentry.name": "web-1",
        "sentry.site": "shop",
        "sentry.include_paths": "shop  shop_lib",
        "sentry.exclude_paths": "shop.vendor",
        "debug": "false",
    }

    middleware = PylonsSentry(failing_app, config, client_cls=RecordingClient)

    assert RecordingClient.built == [
        {
            "dsn": DSN,
            "name": "web-1",
            "site": "shop",
            "include_paths": ["shop", "shop_lib"],
            "exclude_paths": ["shop.vendor"],
        }
    ]
    assert middleware.application is failing_app


def test_pylons_reports_a_failing_request(client: InMemoryClient) -> None:
    app = webtest.TestApp(PylonsSentry(failing_app, {}, client_cls=RecordingClient))

    with pytest.raises(ValueError):
        app.get("/boom")

    [options] = RecordingClient.built
    assert options == {
        "dsn": None,
        "name": None,
        "site": None,
        "include_paths": None,
        "exclude_paths": None,
    }
    event = app.app.client.events[-1]
    assert event["request"]["url"] == "http://localhost/boom"


def test_pylons_default_client_is_raven_client() -> None:
    middleware = PylonsSentry(failing_app, {"sentry.dsn": DSN})

    assert type(middleware.client) is Client
    assert middleware.client.remote.project == "7"


def test_list_from_setting_splits_on_whitespace_and_treats_empty_as_missing() -> None:
    config = {"a": "one two\tthree", "empty": ""}

    assert list_from_setting(config, "a") == ["one", "two", "three"]
    assert list_from_setting(config, "empty") is None
    assert list_from_setting(config, "missing") is None
