"""``raven.contrib.structlog.SentryProcessor`` in a real structlog processor chain."""

from __future__ import annotations

import logging
from typing import Any, List

import pytest
import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars

from raven.contrib.structlog import SentryProcessor


class RefundFailed(Exception):
    pass


def make_logger(client: Any, **options: Any) -> Any:
    """A logger whose rendered lines are returned by each call (structlog's ReturnLogger)."""
    return structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[
            merge_contextvars,
            structlog.processors.add_log_level,
            SentryProcessor(client, **options),
            structlog.processors.format_exc_info,
            structlog.processors.KeyValueRenderer(sort_keys=True),
        ],
        context_class=dict,
    )


@pytest.fixture(autouse=True)
def _no_bound_contextvars():
    clear_contextvars()
    yield
    clear_contextvars()


def test_an_error_is_sent_with_the_bound_context_and_rendered_as_before(client):
    log = make_logger(client, tag_keys=["tenant"]).bind(tenant="acme", order=17)
    bind_contextvars(request_id="req-9")

    line = log.error("refund failed", amount=12.5)

    [event] = client.events
    assert event["message"] == "refund failed"
    assert event["level"] == logging.ERROR
    assert event["tags"] == {"tenant": "acme"}
    assert (event["extra"]["order"], event["extra"]["amount"]) == ("17", "12.5")
    assert event["extra"]["request_id"] == "'req-9'"
    assert (
        line == "amount=12.5 event='refund failed' level='error' order=17 request_id='req-9' "
        "tenant='acme'"
    )


def test_log_exception_sends_the_exception_being_handled(client):
    log = make_logger(client)

    try:
        raise RefundFailed("card expired")
    except RefundFailed:
        line = log.exception("refund crashed", order=3)

    [event] = client.events
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("RefundFailed", "card expired")
    assert event["message"] == "refund crashed"
    assert event["extra"]["order"] == "3"
    assert "RefundFailed: card expired" in line  # format_exc_info still saw exc_info


def test_an_exception_passed_as_exc_info_is_sent(client):
    error = RefundFailed("bank offline")
    try:
        raise error
    except RefundFailed:
        pass

    make_logger(client).critical("refund gave up", exc_info=error)

    [event] = client.events
    assert event["exception"]["values"][0]["value"] == "bank offline"
    assert event["level"] == logging.CRITICAL


def test_events_below_the_level_are_not_sent(client):
    log = make_logger(client, level="WARNING")

    log.info("refund started")
    log.debug("details")
    log.warning("refund slow")

    assert [e["message"] for e in client.events] == ["refund slow"]


def test_without_add_log_level_the_method_name_gives_the_level(client):
    log = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[SentryProcessor(client)],
        wrapper_class=structlog.BoundLogger,
        context_class=dict,
    )

    result: List[Any] = [log.info("fine"), log.err("broken")]

    assert [e["message"] for e in client.events] == ["broken"]
    assert result[1] == ((), {"event": "broken"})  # the event dict went on unchanged


def test_an_unknown_level_fails_at_configuration_time(client):
    with pytest.raises(ValueError, match="unknown log level"):
        SentryProcessor(client, level="loud")


@pytest.mark.logs_sentry_errors
def test_a_failure_to_report_never_reaches_the_logging_call(client, sentry_errors, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("capture broke")

    monkeypatch.setattr(client, "captureMessage", broken)

    line = make_logger(client).error("still logged")

    assert "still logged" in line
    assert any("structlog" in r.getMessage() for r in sentry_errors)
