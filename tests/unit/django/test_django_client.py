"""DjangoClient: what a request, its user, its route and a template error put into an event."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import django
import pytest
from django.contrib.auth.models import User
from django.core.signals import got_request_exception
from django.http import HttpRequest
from django.test import Client as Browser
from django.test import RequestFactory, override_settings

from raven.contrib.django import DjangoClient
from raven.contrib.django.client import format_sql, is_authenticated
from raven.contrib.django.models import client

Events = List[Dict[str, Any]]


def browser() -> Browser:
    if django.VERSION >= (3, 0):
        return Browser(raise_request_exception=False)
    return Browser()


def fail(path: str, **kwargs: Any) -> Any:
    """GET/POST a failing view; returns the response (Django 2.2's client re-raises instead)."""
    method = kwargs.pop("method", "get")
    b = browser()
    try:
        return getattr(b, method)(path, **kwargs)
    except Exception:  # Django < 3.0 re-raises the view's exception in the test client
        return None


def only(events: Events) -> Dict[str, Any]:
    assert len(events) == 1, [e.get("message") for e in events]
    return events[0]


# -- the request interface --------------------------------------------------------------------


def test_a_failing_view_is_reported_with_its_request_route_and_event_id(events: Events) -> None:
    response = fail("/orders/17/pay/?step=confirm", HTTP_X_REQUEST_ID="req-7")

    event = only(events)
    [value] = event["exception"]["values"]
    assert value["type"] == "PaymentDeclined"
    assert value["value"] == "card declined for order 17"
    request = event["request"]
    assert request["method"] == "GET"
    assert request["url"] == "http://testserver/orders/17/pay/"
    assert request["query_string"] == "step=confirm"
    assert request["headers"]["X-Request-Id"] == "req-7"
    assert request["env"] == {
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
    }
    assert request["data"] is None
    # path() route, without the trailing "Z" 6.10 left from the compiled regex
    assert event["transaction"] == "/orders/{order_id}/pay/"
    assert event["user"] == {"ip_address": "127.0.0.1"}
    if response is not None:
        assert response.status_code == 500
        assert response["X-Sentry-ID"] == event["event_id"]


def test_routes_through_include_path_and_re_path(events: Events) -> None:
    fail("/items/5/")
    fail("/items/legacy/blue-shoe/")
    assert [e["transaction"] for e in events] == ["/items/{pk}/", "/items/legacy/{slug}/"]


def test_django_frames_are_not_in_app_and_the_projects_are(events: Events) -> None:
    fail("/boom/")
    frames = only(events)["exception"]["values"][0]["stacktrace"]["frames"]
    in_app = {f["module"]: f["in_app"] for f in frames}
    assert in_app["djangoproject.views"] is True
    assert all(not flag for module, flag in in_app.items() if module.startswith("django."))
    assert any(module.startswith("django.") for module in in_app)


def test_cookies_are_reported_and_the_session_cookie_kept(events: Events) -> None:
    b = browser()
    b.cookies["theme"] = "dark"
    try:
        b.get("/boom/")
    except ValueError:
        pass
    assert only(events)["request"]["cookies"] == {"theme": "dark"}


def test_a_host_django_refuses_is_still_reported(events: Events) -> None:
    with override_settings(ALLOWED_HOSTS=["example.com"]):
        request = RequestFactory().get("/boom/", HTTP_HOST="evil.test")
        client.captureMessage("probe", request=request)
    assert only(events)["request"]["url"] == "http://evil.test/boom/"


def test_request_sentry_holds_the_event_id_and_project(events: Events) -> None:
    request = RequestFactory().get("/ok/")
    event_id = client.captureMessage("hi", request=request)
    assert request.sentry == {"project_id": client.remote.project, "id": event_id}


def test_the_site_tag_names_the_current_site(events: Events) -> None:
    client.captureMessage("hi")
    assert only(events)["tags"]["site"] == "example.com"


def test_a_configured_site_wins_over_django_sites(events: Events) -> None:
    with override_settings(RAVEN_CONFIG={"site": "shop", "install_sys_hook": False}):
        client.captureMessage("hi")
        assert only(client.events)["tags"]["site"] == "shop"


# -- the body -----------------------------------------------------------------------------------


def post_echo(events: Events, query: str, body: Any, content_type: str) -> Dict[str, Any]:
    """POST to the echo view, which reports, then returns what it read itself."""
    response = browser().post("/echo/?" + query, body, content_type=content_type)
    assert response.status_code == 200, response.content
    return response.json()  # type: ignore[no-any-return]


FORM = "application/x-www-form-urlencoded"


def test_a_form_body_is_a_dict_scrubbed_and_the_view_still_reads_it(events: Events) -> None:
    seen = post_echo(events, "read=none", "user=ada&password=hunter2&tag=a&tag=b", FORM)

    assert only(events)["request"]["data"] == {
        "user": "ada",
        "password": "********",
        "tag": ["a", "b"],
    }
    assert seen["post"] == {"user": "ada", "password": "hunter2", "tag": "b"}
    assert seen["body"] == "user=ada&password=hunter2&tag=a&tag=b"


def test_a_json_body_is_parsed_and_scrubbed(events: Events) -> None:
    body = json.dumps({"order": 7, "card": {"password": "1234"}})
    seen = post_echo(events, "read=none", body, "application/json")
    assert only(events)["request"]["data"] == {"order": 7, "card": {"password": "********"}}
    assert json.loads(seen["body"]) == {"order": 7, "card": {"password": "1234"}}


def test_a_multipart_form_the_view_parsed_is_reported_without_files(events: Events) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("a.txt", b"file content")
    response = browser().post("/echo/?read=post", {"name": "ada", "upload": upload})
    assert response.status_code == 200
    assert only(events)["request"]["data"] == {"name": "ada"}


def test_a_body_the_view_streamed_is_unavailable(events: Events) -> None:
    seen = post_echo(events, "read=stream", '{"a": 1}', "application/json")
    assert seen["seen"] == '{"a": 1}'
    assert only(events)["request"]["data"] == "<unavailable>"


def test_a_body_over_max_body_size_is_not_read(events: Events) -> None:
    seen = post_echo(events, "read=none", "x=" + "y" * 20000, FORM)
    assert only(events)["request"]["data"] == "<unavailable>"
    assert seen["post"] == {"x": "y" * 20000}  # the view reads it all the same


def test_max_body_size_is_an_option(events: Events) -> None:
    with override_settings(RAVEN_CONFIG={"max_body_size": 0, "install_sys_hook": False}):
        post_echo(events, "read=none", "a=1", FORM)
        assert only(client.events)["request"]["data"] == "<unavailable>"


def test_a_bad_max_body_size_fails_at_configuration() -> None:
    from raven.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="max_body_size"):
        DjangoClient(max_body_size="big", install_sys_hook=False)


def test_a_chunked_body_without_length_is_unavailable(events: Events) -> None:
    request = RequestFactory().post("/x/", b"", content_type="application/json")
    request.META.pop("CONTENT_LENGTH", None)
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    client.captureMessage("chunked", request=request)
    empty = RequestFactory().post("/x/", b"", content_type="application/json")
    client.captureMessage("empty", request=empty)
    assert [e["request"]["data"] for e in events] == ["<unavailable>", None]


def test_text_is_sent_as_text_and_binary_is_not(events: Events) -> None:
    post_echo(events, "read=body", "plain words", "text/plain")
    post_echo(events, "read=body", b"\xff\xfe\x00binary", "application/octet-stream")
    assert [e["request"]["data"] for e in events] == ["plain words", "<unavailable>"]


def test_a_body_read_before_a_failure_is_reported(events: Events) -> None:
    fail("/echo/?read=body&fail=1", method="post", data='{"a": 2}', content_type="application/json")
    assert only(events)["request"]["data"] == {"a": 2}


# -- the user ------------------------------------------------------------------------------------


def test_a_logged_in_user_is_reported_with_id_email_and_username(events: Events) -> None:
    user = User.objects.create_user("grace", "grace@example.com", "pw")
    b = browser()
    b.force_login(user)
    try:
        b.get("/boom/", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1")
    except ValueError:
        pass
    assert only(events)["user"] == {
        "ip_address": "203.0.113.9",
        "id": user.pk,
        "email": "grace@example.com",
        "username": "grace",
    }
    user.delete()


def test_user_context_fields_win_over_the_request_user(events: Events) -> None:
    request = RequestFactory().get("/ok/", HTTP_X_TEST_USER="3")
    request.user = User(pk=3, username="user3", email="user3@example.com")
    client.user_context({"email": "override@example.com", "plan": "gold"})
    client.captureMessage("hi", request=request)
    assert only(events)["user"] == {
        "ip_address": "127.0.0.1",
        "id": 3,
        "email": "override@example.com",
        "username": "user3",
        "plan": "gold",
    }


class BrokenUser:
    is_authenticated = True
    pk = 9

    @property
    def email(self) -> str:
        raise RuntimeError("the user table is gone")


def test_a_broken_user_keeps_what_could_be_read(events: Events) -> None:
    request = RequestFactory().get("/ok/")
    request.user = BrokenUser()
    client.captureMessage("hi", request=request)
    assert only(events)["user"] == {"ip_address": "127.0.0.1", "id": 9}


def test_get_user_info_also_takes_a_user(events: Events) -> None:
    user = User(pk=12, username="old", email="old@example.com")
    assert client.get_user_info(user) == {"id": 12, "email": "old@example.com", "username": "old"}


def test_is_authenticated_reads_the_method_of_old_user_classes() -> None:
    class Old:
        def is_authenticated(self) -> bool:
            return False

    assert is_authenticated(Old()) is False
    assert is_authenticated(User(username="x")) is True


# -- templates --------------------------------------------------------------------------------


def test_a_template_error_carries_the_template_and_its_path_as_culprit(events: Events) -> None:
    fail("/template-error/")
    event = only(events)
    assert event["culprit"] == "error.html"
    template = event["template"]
    assert template["filename"] == "error.html"
    assert template["abs_path"].endswith("/templates/error.html")
    assert template["lineno"] == 4
    assert template["context_line"] == "<p>{{ thing.explode }}</p>\n"
    assert template["pre_context"] == ["<html>\n", "<body>\n", "<h1>Order</h1>\n"]
    assert template["post_context"] == ["<p>footer</p>\n", "</body>\n", "</html>\n"]


def test_a_template_syntax_error_points_at_its_line(events: Events) -> None:
    fail("/template-syntax-error/")
    event = only(events)
    assert event["exception"]["values"][-1]["type"] == "TemplateSyntaxError"
    assert event["culprit"] == "syntax_error.html"
    assert event["template"]["context_line"] == "{% load nonexistent_library %}\n"


# -- signals and breadcrumbs ---------------------------------------------------------------------


def test_got_request_exception_captures_with_the_request(events: Events) -> None:
    request = RequestFactory().post("/somewhere/", {"a": "1"})
    try:
        int("hello")
    except ValueError:
        got_request_exception.send(sender=None, request=request)
    event = only(events)
    assert event["exception"]["values"][0]["type"] == "ValueError"
    assert event["request"]["url"] == "http://testserver/somewhere/"


def test_a_request_starts_with_a_fresh_context(events: Events) -> None:
    client.tags_context({"left": "over"})
    client.captureBreadcrumb(message="stale crumb")
    fail("/boom/")
    event = only(events)
    assert "left" not in event["tags"]
    assert "stale crumb" not in json.dumps(event.get("breadcrumbs"))


def test_queries_are_breadcrumbs_with_their_parameters(events: Events) -> None:
    fail("/query/")
    crumbs = only(events)["breadcrumbs"]["values"]
    queries = [c for c in crumbs if c["category"] == "query"]
    assert len(queries) == 1
    sql = queries[0]["message"]
    assert sql.startswith("SELECT ")
    assert """"auth_user"."username" = 'ada'' OR 1=1'""" in sql
    assert """"auth_user"."id" > 5""" in sql


def test_format_sql_quotes_strings_and_shows_null() -> None:
    sql, params = format_sql("SELECT %s, %s, %s, %s", ["it's", None, 5, b"raw"])
    assert sql == "SELECT %s, %s, %s, %s"
    assert params == ["'it''s'", "NULL", "5", "'raw'"]


def test_format_sql_cuts_long_strings_and_takes_dict_params() -> None:
    sql, params = format_sql("WHERE a = %(a)s AND b = %(b)s", {"b": "x" * 300, "a": 1})
    assert sql == "WHERE a = %s AND b = %s"
    assert params == ["1", "'" + "x" * 256 + "\u2026'"]


def test_a_request_that_is_not_an_http_request_is_ignored(events: Events) -> None:
    client.captureMessage("hi", request="not a request")
    assert "request" not in only(events)


def test_a_plain_http_request_is_enough(events: Events) -> None:
    request = HttpRequest()
    request.method = "POST"
    request.META = {"SERVER_NAME": "example.org", "SERVER_PORT": "80"}
    request.path = "/raw/"
    client.captureMessage("hi", request=request)
    assert only(events)["request"]["url"] == "http://example.org/raw/"
    assert only(events)["request"]["data"] == "<unavailable>"
