"""The browser relay (``raven.contrib.django.views.report``): who may post, what is forwarded,
and a clear 400 (never a 500) for what is not an event."""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, Iterator, List
from unittest import mock

import pytest
from django.test import Client as WebClient
from django.test import override_settings
from django.urls import reverse

from raven.contrib.django.models import client
from raven.contrib.django.views import is_valid_origin
from servers.sink import Sink

ORIGIN = "https://app.example.com"
STORE = "/sentry/api/1/store/"

pytestmark = pytest.mark.usefixtures("relay_urls")


@pytest.fixture
def relay_urls() -> Iterator[None]:
    with override_settings(ROOT_URLCONF="djangoproject.report_urls", SENTRY_ALLOW_ORIGIN="*"):
        yield


@pytest.fixture
def web() -> WebClient:
    return WebClient()


def post(web: WebClient, body: Any, path: str = STORE, **headers: Any) -> Any:
    headers.setdefault("HTTP_ORIGIN", ORIGIN)
    return web.post(path, data=body, content_type="application/json", **headers)


# -- is_valid_origin ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "origin", "valid"),
    [
        (None, ORIGIN, False),
        ([], ORIGIN, False),
        ("*", ORIGIN, True),
        ("*", None, True),
        ([ORIGIN], ORIGIN, True),
        (["HTTPS://App.Example.com"], "https://APP.example.COM", True),
        ([ORIGIN], "https://other.example.com", False),
        ([ORIGIN], None, False),
        (ORIGIN, ORIGIN, True),  # a lone string: 6.10 compared it character by character
        ([re.compile(r"https?://(.*\.)?example\.com")], "http://example.com", True),
        ([re.compile(r"https?://(.*\.)?example\.com")], ORIGIN, True),
        # the pattern must match the whole origin, not a prefix of it (6.10 used match())
        ([re.compile(r"https?://(.*\.)?example\.com")], "https://example.com.evil.net", False),
        ([re.compile(r"https://a\.test"), "https://b.test"], "https://b.test", True),
    ],
)
def test_allowed_origins(allowed: Any, origin: Any, valid: bool) -> None:
    with override_settings(SENTRY_ALLOW_ORIGIN=allowed):
        assert is_valid_origin(origin) is valid


def test_without_the_setting_no_origin_is_valid() -> None:
    with override_settings():
        from django.conf import settings

        del settings.SENTRY_ALLOW_ORIGIN
        assert is_valid_origin(ORIGIN) is False


# -- forwarding ---------------------------------------------------------------------------------


def test_a_posted_event_is_forwarded_with_cors_headers(
    web: WebClient, events: List[Dict[str, Any]]
) -> None:
    response = post(web, '{"message": "boom in js", "platform": "javascript"}')

    assert response.status_code == 200
    assert events == [{"auth_header": None, "message": "boom in js", "platform": "javascript"}]
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert "Origin" in response["Vary"]
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("header", ["HTTP_X_SENTRY_AUTH", "HTTP_AUTHORIZATION"])
def test_the_browsers_auth_header_goes_along(
    web: WebClient, events: List[Dict[str, Any]], header: str
) -> None:
    auth = "Sentry sentry_key=public, sentry_version=7"

    assert post(web, "{}", **{header: auth}).status_code == 200

    assert events == [{"auth_header": auth}]


def test_a_get_carries_the_event_and_auth_in_the_query(
    web: WebClient, events: List[Dict[str, Any]]
) -> None:
    response = web.get(
        STORE,
        {"sentry_version": "7", "sentry_key": "public", "sentry_data": '{"message": "hi"}'},
        HTTP_ORIGIN=ORIGIN,
    )

    assert response.status_code == 200
    assert events == [
        {"auth_header": "Sentry sentry_version=7, sentry_key=public", "message": "hi"}
    ]


def test_the_report_path_and_the_named_store_route_reach_the_view(
    web: WebClient, events: List[Dict[str, Any]]
) -> None:
    assert reverse("raven-report", kwargs={"project_id": "my-project_1"}) == (
        "/sentry/api/my-project_1/store/"
    )
    assert post(web, '{"message": "a"}', path="/sentry/report/").status_code == 200
    assert [e["message"] for e in events] == ["a"]


def test_an_options_preflight_is_answered_without_sending(
    web: WebClient, events: List[Dict[str, Any]]
) -> None:
    response = web.options(STORE, HTTP_ORIGIN=ORIGIN)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-Sentry-Auth" in response["Access-Control-Allow-Headers"]
    assert events == []


def test_posting_needs_no_csrf_token(events: List[Dict[str, Any]]) -> None:
    assert post(WebClient(enforce_csrf_checks=True), "{}").status_code == 200
    assert len(events) == 1


def test_an_auth_header_key_in_the_event_does_not_break_the_call(
    web: WebClient, events: List[Dict[str, Any]]
) -> None:
    assert post(web, '{"auth_header": "forged", "message": "m"}').status_code == 200
    assert events == [{"auth_header": None, "message": "m"}]


# -- refusals -----------------------------------------------------------------------------------


def test_a_foreign_origin_is_forbidden(web: WebClient, events: List[Dict[str, Any]]) -> None:
    with override_settings(SENTRY_ALLOW_ORIGIN=[ORIGIN]):
        response = post(web, "{}", HTTP_ORIGIN="https://evil.example.net")

    assert response.status_code == 403
    assert events == []


@mock.patch("raven.contrib.django.views.is_valid_origin")
def test_the_origin_check_is_the_patchable_module_function(
    is_valid_origin: mock.Mock, web: WebClient
) -> None:
    web.get(STORE, HTTP_ORIGIN="http://example.com")

    is_valid_origin.assert_called_once_with("http://example.com")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "No event"),
        ("[1", "not valid JSON"),
        ("[1, 2]", "must be a JSON object, not list"),
        ('"text"', "must be a JSON object, not str"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
)
def test_what_is_not_an_event_gets_a_400_with_the_reason(
    web: WebClient, events: List[Dict[str, Any]], body: Any, reason: str
) -> None:
    response = post(web, body)

    assert response.status_code == 400
    assert reason in response.content.decode()
    assert events == []


def test_a_get_without_sentry_data_is_a_400(web: WebClient) -> None:
    response = web.get(STORE, HTTP_ORIGIN=ORIGIN)

    assert response.status_code == 400
    assert "sentry_data" in response.content.decode()


def test_an_oversized_event_gets_a_413(web: WebClient, events: List[Dict[str, Any]]) -> None:
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        response = post(web, '{"message": "%s"}' % ("x" * 200))

    assert response.status_code == 413
    assert events == []


def test_other_methods_are_not_allowed(web: WebClient) -> None:
    assert web.put(STORE, "{}", HTTP_ORIGIN=ORIGIN).status_code == 405


def test_a_client_without_dsn_drops_the_event_quietly(web: WebClient) -> None:
    with override_settings(SENTRY_CLIENT="raven.contrib.django.DjangoClient"):
        assert not client.is_enabled()
        assert post(web, '{"message": "m"}').status_code == 200


@pytest.mark.logs_sentry_errors
def test_a_failing_send_is_a_502_and_logged(
    web: WebClient, sentry_errors: List[logging.LogRecord]
) -> None:
    with mock.patch.object(client.__class__, "send", side_effect=RuntimeError("broken transport")):
        response = post(web, "{}")

    assert response.status_code == 502
    assert [r.getMessage() for r in sentry_errors] == [
        "raven: could not forward an event from a browser"
    ]


# -- through a real client ----------------------------------------------------------------------


def test_the_event_reaches_sentry_with_the_browsers_auth(web: WebClient) -> None:
    auth = "Sentry sentry_key=public, sentry_version=7, sentry_client=raven-js/3.27.0"
    event_id = "0123456789abcdef0123456789abcdef"
    with Sink() as sink:
        dsn = sink.dsn(secret="server-secret")
        config = {"dsn": dsn, "install_sys_hook": False, "hook_libraries": []}
        with override_settings(
            SENTRY_CLIENT="raven.contrib.django.DjangoClient", RAVEN_CONFIG=config
        ):
            body = '{"event_id": "%s", "message": "TypeError: x is undefined"}' % event_id
            assert post(web, body, HTTP_X_SENTRY_AUTH=auth).status_code == 200
            [event] = sink.wait_for_events(1)
            [received] = sink.requests

    assert event["event_id"] == event_id
    assert event["logentry"]["formatted"] == "TypeError: x is undefined"
    assert received.header("X-Sentry-Auth") == auth
