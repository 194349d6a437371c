"""End to end: a Lambda handler run by awslambdaric's real runtime loop reports to a real Bugsink.

The runtime (``python -m awslambdaric shop_lambda.handler``) runs in a subprocess and talks to
a fake Runtime API on 127.0.0.1 (``tests/servers/lambda_runtime.py``). When the runtime posts
the invocation's outcome, the fake API looks in Bugsink before answering: the event must
already be stored then, because a real Lambda freezes the process as soon as it has answered.
With the threaded transport that holds only because ``capture_exceptions`` flushes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from servers.bugsink import Bugsink
from servers.lambda_runtime import FakeRuntimeAPI, Outcome

pytestmark = pytest.mark.e2e

HANDLER = textwrap.dedent(
    '''
    """The function under test: a checkout behind API Gateway."""

    import logging
    import os

    from raven.contrib.awslambda import LambdaClient
    from raven.transport.threaded import ThreadedHTTPTransport

    options = {"install_sys_hook": False}
    if os.environ["SHOP_TRANSPORT"] == "threaded":
        options["transport"] = ThreadedHTTPTransport
    client = LambdaClient(**options)  # SENTRY_DSN, SENTRY_RELEASE from the environment
    client.flush_timeout = 15.0  # a freshly started Bugsink can take a while to answer
    log = logging.getLogger("shop.checkout")


    class PaymentDeclined(Exception):
        pass


    @client.capture_exceptions
    def handler(event, context):
        order = event["pathParameters"]["order"]
        log.warning("checking out order %s", order)
        if event["httpMethod"] == "GET":
            client.captureMessage("order %s looked up in %s" % (order, context.aws_request_id))
            return {"statusCode": 200, "body": order}
        raise PaymentDeclined("card declined for %s in %s" % (order, context.aws_request_id))
    '''
)


def api_gateway_event(method: str, order: str) -> Dict[str, Any]:
    return {
        "resource": "/orders/{order}",
        "path": "/orders/" + order,
        "httpMethod": method,
        "pathParameters": {"order": order},
        "headers": {"Host": "shop.example.com", "X-Request-Id": "req-" + order},
        "queryStringParameters": {"step": "pay"},
        "requestContext": {
            "identity": {"user": "ada", "sourceIp": "203.0.113.7", "userAgent": "curl/8"}
        },
        "body": None,
    }


class Runtime:
    """The fake Runtime API and the awslambdaric subprocess that polls it."""

    def __init__(self, api: FakeRuntimeAPI, proc: subprocess.Popen, log_path: Path) -> None:
        self.api = api
        self.proc = proc
        self.log_path = log_path

    def result(self, request_id: str) -> Outcome:
        try:
            return self.api.wait_for_result(request_id, timeout=60)
        except AssertionError:
            output = self.log_path.read_text(errors="replace")
            raise AssertionError("no outcome; the runtime's output:\n" + output) from None


@pytest.fixture(params=["sync", "threaded"])
def runtime(request: pytest.FixtureRequest, bugsink: Bugsink, tmp_path: Path) -> Iterator[Runtime]:
    (tmp_path / "shop_lambda.py").write_text(HANDLER)

    def stored_events(outcome: Outcome) -> List[Dict[str, Any]]:
        # what Bugsink holds at the moment the runtime posts the outcome (by event id: an
        # event resent after a timed-out first attempt is still one event)
        found = {e["event_id"]: e for e in bugsink.events() if outcome.request_id in _text_of(e)}
        return list(found.values())

    api = FakeRuntimeAPI(on_outcome=stored_events).start()
    env = dict(
        os.environ,
        AWS_LAMBDA_RUNTIME_API=api.address,
        AWS_LAMBDA_FUNCTION_NAME="shop-checkout",
        AWS_LAMBDA_FUNCTION_VERSION="3",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
        AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/shop-checkout",
        AWS_LAMBDA_LOG_STREAM_NAME="2026/11/22/[3]e2e",
        AWS_REGION="eu-west-1",
        SENTRY_DSN=bugsink.dsn,
        SENTRY_RELEASE="shop@3.0.0",
        SHOP_TRANSPORT=request.param,
    )
    log_path = tmp_path / "runtime.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", "shop_lambda.handler"],
            cwd=str(tmp_path),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Runtime(api, proc, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        api.stop()


def _text_of(event: Dict[str, Any]) -> str:
    values = (event.get("exception") or {}).get("values") or [{}]
    logentry = event.get("logentry") or {}
    return "%s %s %s" % (
        values[-1].get("value"),
        logentry.get("formatted"),
        logentry.get("message"),
    )


def test_the_failure_is_stored_before_the_runtime_posts_the_error(runtime):
    request_id = runtime.api.invoke(api_gateway_event("POST", "A-17"))

    outcome = runtime.result(request_id)

    assert outcome.kind == "error"
    assert outcome.body["errorType"] == "PaymentDeclined"
    [event] = outcome.observed  # already in Bugsink when the runtime posted the error
    [value] = event["exception"]["values"]
    assert value["value"] == "card declined for A-17 in %s" % request_id
    assert value["stacktrace"]["frames"][-1]["function"] == "handler"
    assert event["request"]["url"] == "https://shop.example.com/orders/A-17"
    assert event["request"]["method"] == "POST"
    assert event["request"]["query_string"] == "step=pay"
    assert event["request"]["headers"]["X-Request-Id"] == "req-A-17"
    assert event["user"]["username"] == "ada"
    assert event["user"]["ip_address"] == "203.0.113.7"
    assert event["tags"]["lambda"] == "shop-checkout"
    assert event["tags"]["region"] == "eu-west-1"
    assert event["release"] == "shop@3.0.0"
    assert event["extra"]["aws_request_id"] == repr(request_id)
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["checking out order A-17"]


def test_events_of_a_successful_invocation_are_stored_before_it_answers(runtime):
    first = runtime.api.invoke(api_gateway_event("GET", "B-2"))
    second = runtime.api.invoke(api_gateway_event("POST", "B-3"))

    looked_up = runtime.result(first)
    failed = runtime.result(second)

    assert looked_up.kind == "response"
    assert looked_up.body == {"statusCode": 200, "body": "B-2"}
    [message] = looked_up.observed
    assert message["logentry"]["message"] == "order B-2 looked up in %s" % first
    [error] = failed.observed
    # the second invocation does not report the first one's breadcrumbs
    assert [c["message"] for c in error["breadcrumbs"]["values"]] == ["checking out order B-3"]
