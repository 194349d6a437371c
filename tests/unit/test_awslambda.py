"""``raven.contrib.awslambda.LambdaClient`` with awslambdaric's own ``LambdaContext``."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any, Dict, List, Optional

import pytest
from awslambdaric.lambda_context import LambdaContext

from raven.contrib.awslambda import LambdaClient, get_default_tags
from raven.transport.http import HTTPTransport
from raven.transport.threaded import ThreadedHTTPTransport

log = logging.getLogger("shop.lambda")

LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "checkout",
    "AWS_LAMBDA_FUNCTION_VERSION": "7",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/checkout",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/22/[7]abc",
    "AWS_REGION": "eu-west-1",
}


class MemoryLambdaClient(LambdaClient):
    """A LambdaClient that keeps its events, and the flushes it was asked for."""

    def __init__(self, **kwargs: Any) -> None:
        self.events: List[Dict[str, Any]] = []
        self.flushes: List[Optional[float]] = []
        kwargs.setdefault("install_sys_hook", False)
        kwargs.setdefault("hook_libraries", [])
        super().__init__(**kwargs)

    def is_enabled(self) -> bool:
        return True

    def send(self, **kwargs: Any) -> None:  # type: ignore[override]
        self.events.append(kwargs)

    def flush(self, timeout: Optional[float] = None) -> Any:
        self.flushes.append(timeout)
        return super().flush(timeout)


class CheckoutFailed(Exception):
    pass


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LAMBDA_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def client(lambda_env: None) -> MemoryLambdaClient:
    return MemoryLambdaClient()


def make_context(seconds_left: float = 30.0, client_context: Any = None) -> LambdaContext:
    return LambdaContext(
        "req-42",
        client_context,
        {"cognitoIdentityId": "eu-west-1:abc", "cognitoIdentityPoolId": "eu-west-1:pool"},
        int((time.time() + seconds_left) * 1000),
        "arn:aws:lambda:eu-west-1:123456789012:function:checkout",
    )


REST_EVENT = {
    "resource": "/orders/{id}",
    "path": "/orders/17",
    "httpMethod": "POST",
    "headers": {"Host": "api.example.com", "Content-Type": "application/json"},
    "multiValueQueryStringParameters": {"step": ["pay"], "tag": ["a", "b"]},
    "queryStringParameters": {"step": "pay", "tag": "b"},
    "requestContext": {
        "identity": {
            "cognitoIdentityId": "eu-west-1:abc",
            "cognitoIdentityPoolId": "eu-west-1:pool",
            "cognitoAuthenticationType": "authenticated",
            "user": "ada",
            "sourceIp": "203.0.113.9",
            "userAgent": "curl/8",
        }
    },
    "body": json.dumps({"sku": "A-7", "password": "hunter2"}),
    "isBase64Encoded": False,
}

HTTP_API_EVENT = {
    "version": "2.0",
    "rawPath": "/orders/18",
    "rawQueryString": "step=ship",
    "cookies": ["session=abc"],
    "headers": {
        "host": "fn.lambda-url.eu-west-1.on.aws",
        "content-type": "application/x-www-form-urlencoded",
    },
    "requestContext": {
        "http": {"method": "PUT", "path": "/orders/18", "sourceIp": "198.51.100.4"},
        "authorizer": {"jwt": {"claims": {"sub": "user-99", "username": "grace"}}},
    },
    "body": base64.b64encode(b"qty=2&qty=3").decode("ascii"),
    "isBase64Encoded": True,
}


def test_a_failing_handler_is_reported_with_the_invocation_then_raised(client):
    @client.capture_exceptions
    def handler(event: Dict[str, Any], context: Any) -> None:
        log.warning("checking out %s", event["path"])
        raise CheckoutFailed("card declined")

    with pytest.raises(CheckoutFailed):
        handler(REST_EVENT, make_context())

    [event] = client.events
    assert event["exception"]["values"][0]["value"] == "card declined"
    assert event["request"] == {
        "url": "https://api.example.com/orders/17",
        "method": "POST",
        "query_string": "step=pay&tag=a&tag=b",
        "headers": REST_EVENT["headers"],
        "env": {"REMOTE_ADDR": "203.0.113.9"},
        "data": {"sku": "A-7", "password": "********"},
    }
    assert event["user"] == {
        "id": "eu-west-1:abc",
        "username": "ada",
        "ip_address": "203.0.113.9",
        "cognito_identity_pool_id": "eu-west-1:pool",
        "cognito_authentication_type": "authenticated",
        "user_agent": "curl/8",
    }
    assert event["tags"] == {
        "lambda": "checkout",
        "version": "7",
        "memory_size": "256",
        "log_group": "/aws/lambda/checkout",
        "log_stream": "2026/11/22/[7]abc",
        "region": "eu-west-1",
    }
    # extra values are kept as reprs, keys included (raven 6.10's format)
    extra = event["extra"]
    assert extra["aws_request_id"] == "'req-42'"
    context = extra["context"]
    assert context["'function_name'"] == "'checkout'"
    assert context["'invoked_function_arn'"] == (
        "'arn:aws:lambda:eu-west-1:123456789012:function:checkout'"
    )
    assert context["'identity'"]["'cognito_identity_id'"] == "'eu-west-1:abc'"
    assert 0 < int(context["'remaining_time_in_millis'"]) <= 30000
    assert extra["event"]["'path'"] == "'/orders/17'"
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["checking out /orders/17"]


def test_an_http_api_event_gives_its_request_and_caller(client):
    client.captureMessage("slow order", event=HTTP_API_EVENT, context=make_context())

    [event] = client.events
    assert event["request"] == {
        "url": "https://fn.lambda-url.eu-west-1.on.aws/orders/18",
        "method": "PUT",
        "query_string": "step=ship",
        "headers": HTTP_API_EVENT["headers"],
        "env": {"REMOTE_ADDR": "198.51.100.4"},
        "cookies": "session=abc",
        "data": {"qty": ["2", "3"]},
    }
    assert event["user"] == {"ip_address": "198.51.100.4", "id": "user-99", "username": "grace"}


def test_the_mobile_client_context_is_reported(client):
    mobile = {
        "client": {
            "installation_id": "inst-1",
            "app_title": "Shop",
            "app_version_name": "2.1",
            "app_version_code": "21",
            "app_package_name": "com.example.shop",
        },
        "custom": {"cart": "3 items"},
        "env": {"platform": "android"},
    }

    client.captureMessage("from the app", event={}, context=make_context(client_context=mobile))

    mobile_context = client.events[0]["extra"]["client_context"]
    assert mobile_context["'client.app_title'"] == "'Shop'"
    assert mobile_context["'custom'"] == {"'cart'": "'3 items'"}


def test_events_that_are_not_http_have_no_request_or_user(client):
    client.captureMessage("queue message", event={"Records": [{"body": "x"}]}, context=None)

    [event] = client.events
    assert "request" not in event and "user" not in event
    assert event["extra"]["event"] == {"'Records'": ({"'body'": "'x'"},)}


def test_release_and_environment_come_from_the_environment(client, monkeypatch):
    monkeypatch.setenv("SENTRY_RELEASE", "shop@1.2.3")
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")

    client.captureMessage("hello")

    event = client.events[0]
    assert (event["release"], event["environment"]) == ("shop@1.2.3", "staging")


def test_tags_of_unset_variables_are_left_out(monkeypatch):
    for name in get_default_tags().values():
        monkeypatch.delenv(name, raising=False)
    client = MemoryLambdaClient(tags={"team": "payments"})

    client.captureMessage("outside Lambda")

    assert client.events[0]["tags"] == {"team": "payments"}


def test_the_flush_before_returning_stays_within_the_invocations_time(client):
    @client.capture_exceptions
    def handler(event: Any, context: Any) -> str:
        return "done"

    assert handler({}, make_context(seconds_left=1.5)) == "done"
    assert handler({}, make_context(seconds_left=0.2)) == "done"
    assert handler({}, make_context(seconds_left=600)) == "done"

    short, none_left, plenty = client.flushes
    assert 0 < short <= 1.0
    assert none_left == 0
    assert plenty == client.flush_timeout


def test_the_handlers_context_is_cleared_after_each_invocation(client):
    @client.capture_exceptions
    def handler(event: Dict[str, Any], context: Any) -> None:
        if event.get("user"):
            client.user_context({"id": event["user"]})
            client.tags_context({"order": event["order"]})
            return
        raise CheckoutFailed("anonymous checkout")

    handler({"user": "ada", "order": "A-1"}, make_context())
    with pytest.raises(CheckoutFailed):
        handler({}, make_context())

    [event] = client.events
    assert "user" not in event
    assert "order" not in event["tags"]


def test_only_the_listed_exceptions_are_reported(client):
    @client.capture_exceptions((KeyError,))
    def lookup(event: Dict[str, Any], context: Any) -> Any:
        return event["items"][event["index"]]

    with pytest.raises(KeyError):
        lookup({"index": 0}, make_context())
    with pytest.raises(IndexError):
        lookup({"items": [], "index": 0}, make_context())

    assert [e["exception"]["values"][0]["type"] for e in client.events] == ["KeyError"]


def test_exceptions_by_keyword_bound_methods_and_with_blocks(client):
    class Handlers:
        def refund(self, event: Any, context: Any) -> None:
            raise CheckoutFailed("refund failed")

    refund = client.capture_exceptions(Handlers().refund)
    by_keyword = client.capture_exceptions(exceptions=(ValueError,))(
        lambda event, context: int("x")
    )

    with pytest.raises(CheckoutFailed):
        refund({}, make_context())
    with pytest.raises(ValueError):
        by_keyword({}, make_context())
    with pytest.raises(ZeroDivisionError), client.capture_exceptions():
        raise ZeroDivisionError("in a with block")

    assert [e["exception"]["values"][0]["type"] for e in client.events] == [
        "CheckoutFailed",
        "ValueError",
        "ZeroDivisionError",
    ]


def test_the_synchronous_transport_is_the_default_and_another_can_be_chosen(lambda_env):
    dsn = "https://public:secret@sentry.example.com/1"
    default = LambdaClient(dsn, install_sys_hook=False)
    threaded = LambdaClient(dsn, install_sys_hook=False, transport=ThreadedHTTPTransport)

    assert isinstance(default.remote.get_transport(), HTTPTransport)
    assert isinstance(threaded.remote.get_transport(), ThreadedHTTPTransport)


@pytest.mark.logs_sentry_errors
def test_a_malformed_event_is_logged_and_still_reported(client, sentry_errors):
    class Unreadable(dict):
        def get(self, *args: Any) -> Any:
            raise RuntimeError("no")

    client.captureMessage("odd event", event=Unreadable(path="/x"), context=make_context())

    assert len(client.events) == 1
    assert any("Lambda invocation" in r.getMessage() for r in sentry_errors)
