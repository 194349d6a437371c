"""``{% load raven %}{% sentry_public_dsn %}``: the public DSN for a page's browser client."""

from __future__ import annotations

import logging
from typing import List
from unittest import mock

import pytest
from django.template import Context, Template
from django.test import override_settings

from raven.contrib.django import DjangoClient
from raven.contrib.django.templatetags.raven import sentry_public_dsn


def render(source: str) -> str:
    return Template("{% load raven %}" + source).render(Context())


def with_dsn(dsn: str) -> override_settings:
    return override_settings(RAVEN_CONFIG={"dsn": dsn, "install_sys_hook": False})


def test_the_tag_gives_the_public_dsn_without_the_secret() -> None:
    with with_dsn("https://public:secret@sentry.example.com/42"):
        assert render("{% sentry_public_dsn %}") == "//public@sentry.example.com/42"


def test_the_scheme_argument_is_put_in_front() -> None:
    with with_dsn("http://public:secret@sentry.example.com/42"):
        assert render("{% sentry_public_dsn 'https' %}") == "https://public@sentry.example.com/42"


def test_without_a_dsn_the_tag_renders_nothing() -> None:
    assert render("[{% sentry_public_dsn %}]") == "[]"


@mock.patch.object(DjangoClient, "get_public_dsn")
def test_the_tag_asks_the_client_as_610_tests_expect(get_public_dsn: mock.Mock) -> None:
    sentry_public_dsn("https")

    get_public_dsn.assert_called_once_with("https")


@pytest.mark.logs_sentry_errors
def test_a_failing_client_does_not_break_the_page(
    sentry_errors: List[logging.LogRecord],
) -> None:
    with mock.patch.object(DjangoClient, "get_public_dsn", side_effect=RuntimeError("broken")):
        assert render("<p>{% sentry_public_dsn %}</p>") == "<p></p>"

    assert [r.getMessage() for r in sentry_errors] == [
        "raven: could not get the public DSN for a template"
    ]
