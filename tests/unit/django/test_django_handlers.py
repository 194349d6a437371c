"""The Django logging handler, its deprecated alias, and the serializers for Django values."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy

from raven.contrib.django.handlers import SentryHandler
from raven.contrib.django.models import client, get_client
from raven.utils.serializer import transform

Events = List[Dict[str, Any]]


def record(**attrs: Any) -> logging.LogRecord:
    rec = logging.LogRecord("shop", logging.ERROR, __file__, 1, "order %s failed", ("A-1",), None)
    rec.__dict__.update(attrs)
    return rec


def test_the_handler_reports_through_the_configured_client_with_its_tags(events: Events) -> None:
    handler = SentryHandler(level=logging.WARNING, tags={"team": "shop"})
    assert handler.level == logging.WARNING
    assert handler.client == get_client()
    handler.emit(record())
    [event] = events
    assert event["message"] == "order A-1 failed"
    assert event["tags"]["team"] == "shop"
    assert "request" not in event


def test_the_handler_does_not_build_the_client_until_used(monkeypatch: Any) -> None:
    import raven.contrib.django.models as models

    built: List[Any] = []
    real = models.get_client
    monkeypatch.setattr(models, "get_client", lambda *a, **k: built.append(1) or real(*a, **k))
    handler = SentryHandler()
    assert built == []
    handler.client.is_enabled()
    assert built


def test_a_records_request_becomes_the_events_request_and_user(events: Events) -> None:
    request = RequestFactory().post("/checkout/", {"card": "4242"})
    request.user = User(pk=4, username="ada", email="ada@example.com")
    SentryHandler().emit(record(request=request))
    [event] = events
    assert event["request"]["url"] == "http://testserver/checkout/"
    assert event["user"]["id"] == 4


def test_the_old_module_path_still_works_and_warns_when_used(events: Events) -> None:
    from raven.contrib.django.logging import SentryHandler as OldHandler

    with pytest.warns(DeprecationWarning, match="raven.contrib.django.handlers"):
        handler = OldHandler()
    handler.emit(record())
    assert len(events) == 1


def test_lazy_strings_are_serialized_as_their_value() -> None:
    assert transform(gettext_lazy("Hello")) == "'Hello'"
    assert transform(lazy(lambda: 42, int)()) == transform(42) == "42"


def test_querysets_are_named_never_evaluated(django_assert_no_queries: Any) -> None:
    assert transform(User.objects.all()) == "<QuerySet: model=User>"


def test_requests_in_extra_are_named_without_their_query_string() -> None:
    request = RequestFactory().get("/search/", {"token": "secret"})
    assert transform(request) == "<WSGIRequest: GET '/search/'>"


def test_django_values_in_an_event(events: Events) -> None:
    client.captureMessage(
        "values", extra={"label": gettext_lazy("Order"), "users": User.objects.all()}
    )
    [event] = events
    assert event["extra"]["label"] == "'Order'"
    assert event["extra"]["users"] == "<QuerySet: model=User>"


@pytest.fixture
def django_assert_no_queries() -> Any:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        yield queries
    assert len(queries) == 0
