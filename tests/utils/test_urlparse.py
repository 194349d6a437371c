"""raven.utils.urlparse: transport schemes parse like http once registered."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest

from raven.utils import urlparse as raven_urlparse

LISTS = ("uses_netloc", "uses_query", "uses_relative", "uses_fragment", "uses_params")


@pytest.fixture
def restore_scheme_lists() -> Iterator[None]:
    saved = {name: list(getattr(urllib.parse, name)) for name in LISTS}
    yield
    for name, items in saved.items():
        getattr(urllib.parse, name)[:] = items


def test_reexports_urllib_parse_functions() -> None:
    assert raven_urlparse.urlparse is urllib.parse.urlparse
    assert raven_urlparse.parse_qsl is urllib.parse.parse_qsl


@pytest.mark.usefixtures("restore_scheme_lists")
def test_register_scheme_adds_the_scheme_to_every_uses_list() -> None:
    raven_urlparse.register_scheme("raventest+http")
    for name in LISTS:
        assert "raventest+http" in getattr(urllib.parse, name), name


@pytest.mark.usefixtures("restore_scheme_lists")
def test_register_scheme_is_idempotent() -> None:
    raven_urlparse.register_scheme("raventest+http")
    raven_urlparse.register_scheme("raventest+http")
    for name in LISTS:
        assert getattr(urllib.parse, name).count("raventest+http") == 1


@pytest.mark.usefixtures("restore_scheme_lists")
def test_a_registered_dsn_scheme_parses_into_host_and_query() -> None:
    raven_urlparse.register_scheme("raventest+https")
    parts = raven_urlparse.urlparse("raventest+https://key@sentry.example.com/1?timeout=3")
    assert parts.hostname == "sentry.example.com"
    assert parts.username == "key"
    assert parts.path == "/1"
    assert raven_urlparse.parse_qsl(parts.query) == [("timeout", "3")]
