"""End to end: an error logged through the logging ``SentryHandler``, as Bugsink stored it."""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, List

import pytest

from raven import Client
from raven.handlers.logging import SentryHandler
from raven.transport.http import HTTPTransport

pytestmark = pytest.mark.e2e


def charge(customer: str, cents: int) -> None:
    balance = 100
    if cents > balance:
        raise RuntimeError("card declined for %s" % customer)


def tags_of(event: Dict[str, Any]) -> Dict[str, str]:
    tags = event.get("tags") or {}
    return dict(tags) if isinstance(tags, dict) else {k: v for k, v in tags}


def breadcrumbs_of(event: Dict[str, Any]) -> List[Dict[str, Any]]:
    crumbs = event.get("breadcrumbs") or []
    return crumbs["values"] if isinstance(crumbs, dict) else crumbs


@pytest.fixture
def billing_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("e2e.billing")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger
    logger.handlers[:] = []
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def test_a_logged_error_with_exception_extra_tags_and_breadcrumbs(
    bugsink: Any, billing_logger: logging.Logger
) -> None:
    client = Client(dsn=bugsink.dsn, transport=HTTPTransport, install_sys_hook=False)
    handler = SentryHandler(client, tags={"component": "billing"}, level=logging.ERROR)
    billing_logger.addHandler(handler)

    billing_logger.info("loading invoice %s", 42)
    billing_logger.warning("card for %s expires soon", "acme")
    try:
        charge("acme", 2500)
    except RuntimeError:
        billing_logger.exception(
            "payment of %s cents failed for %s",
            2500,
            "acme",
            extra={"invoice": 42, "gateway": "stripe", "tags": {"attempt": "2"}},
        )
    event_id = client.last_event_id
    assert event_id, "the handler sent no event"

    event = bugsink.wait_for_event(event_id)

    assert event["logger"] == "e2e.billing"
    assert event["level"] == "error"
    assert event["logentry"]["message"] == "payment of %s cents failed for %s"
    assert event["logentry"]["formatted"] == "payment of 2500 cents failed for acme"

    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("RuntimeError", "card declined for acme")
    functions = [frame["function"] for frame in value["stacktrace"]["frames"]]
    assert functions[-2:] == [
        "test_a_logged_error_with_exception_extra_tags_and_breadcrumbs",
        "charge",
    ]

    assert str(event["extra"]["invoice"]) == "42"
    assert "stripe" in event["extra"]["gateway"]
    assert tags_of(event)["component"] == "billing"
    assert tags_of(event)["attempt"] == "2"

    crumbs = [c for c in breadcrumbs_of(event) if c.get("category") == "e2e.billing"]
    assert [(c["level"], c["message"]) for c in crumbs] == [
        ("info", "loading invoice 42"),
        ("warning", "card for acme expires soon"),
    ]
    client.close(5)
