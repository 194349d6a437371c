"""``raven.contrib.loguru.SentrySink`` added to loguru's real logger."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest
from loguru import logger

from raven.contrib.loguru import SentrySink


class ShipmentLost(Exception):
    pass


@pytest.fixture
def sink(client: Any) -> Iterator[SentrySink]:
    sentry = SentrySink(client)
    handler_id = logger.add(sentry, level="DEBUG", format="{message}")
    try:
        yield sentry
    finally:
        logger.remove(handler_id)


def test_an_error_record_is_sent_with_the_bound_extra_and_earlier_records_as_breadcrumbs(
    client, sink
):
    log = logger.bind(order=17, carrier="DHL")
    log.debug("not even a breadcrumb")
    log.info("label printed")
    log.success("handed over")
    log.warning("scan missing")
    log.error("shipment {} lost", 17)

    [event] = client.events
    assert event["message"] == "shipment 17 lost"
    assert event["level"] == 40
    assert event["logger"] == __name__
    assert event["extra"]["order"] == "17"
    assert event["extra"]["carrier"] == "'DHL'"
    crumbs = [(c["level"], c["message"]) for c in event["breadcrumbs"]["values"]]
    assert crumbs == [
        ("info", "label printed"),
        ("info", "handed over"),
        ("warning", "scan missing"),
    ]
    assert event["breadcrumbs"]["values"][0]["category"] == __name__
    assert event["breadcrumbs"]["values"][0]["data"] == {"order": 17, "carrier": "DHL"}


def test_logger_exception_sends_the_exception(client, sink):
    try:
        raise ShipmentLost("parcel 9 lost")
    except ShipmentLost:
        logger.exception("tracking failed")

    [event] = client.events
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ShipmentLost", "parcel 9 lost")
    assert event["message"] == "tracking failed"


def test_levels_are_configurable(client):
    handler_id = logger.add(
        SentrySink(client, level="WARNING", breadcrumb_level=None), level="DEBUG"
    )
    try:
        logger.info("quiet")
        logger.warning("loud")
    finally:
        logger.remove(handler_id)

    [event] = client.events
    assert event["message"] == "loud"
    assert "breadcrumbs" not in event


def test_breadcrumbs_stay_with_the_task_that_logged(client, sink):
    async def ship(parcel: str) -> None:
        logger.info("packing {}", parcel)
        await asyncio.sleep(0)
        logger.info("labelling {}", parcel)
        await asyncio.sleep(0)
        logger.error("lost {}", parcel)

    async def main() -> None:
        await asyncio.gather(ship("p1"), ship("p2"))

    asyncio.run(main())

    for event in client.events:
        parcel = event["message"].split()[-1]
        crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
        assert crumbs == ["packing " + parcel, "labelling " + parcel]


def test_an_unknown_level_fails_at_configuration_time(client):
    with pytest.raises(ValueError, match="unknown loguru level"):
        SentrySink(client, level="LOUD")
