"""End to end: an asyncio service reports through the aiohttp transport, as Bugsink stored it.

Each of a few concurrent tasks (one per customer) sets its own user, tags and extra and fails
in its own way; every event is sent from the service's loop (no helper thread) and stored
with its own task's context only.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Dict, List

import pytest

from raven import Client
from raven.transport.aiohttp import AioHttpTransport, aclose

pytestmark = pytest.mark.e2e


class StockError(Exception):
    pass


async def reserve(client: Client, customer: str, sku: str) -> str:
    client.user_context({"id": customer, "email": "%s@example.com" % customer})
    client.tags_context({"customer": customer})
    client.extra_context({"sku": sku})
    client.captureBreadcrumb(message="reserving %s for %s" % (sku, customer), category="stock")
    await asyncio.sleep(0.01)  # the other customers' tasks run meanwhile
    try:
        raise StockError("%s is out of stock" % sku)
    except StockError:
        event_id = client.captureException()
    assert event_id
    return event_id


def test_concurrent_tasks_are_stored_each_with_its_own_context(bugsink) -> None:
    client = Client(
        dsn=bugsink.dsn,
        transport=AioHttpTransport,
        install_sys_hook=False,
        install_logging_hook=False,
    )
    customers = {"ada": "sku-1", "grace": "sku-2", "linus": "sku-3", "barbara": "sku-4"}
    threads_before = {t.ident for t in threading.enumerate()}

    async def main() -> Dict[str, str]:
        ids = await asyncio.gather(*(reserve(client, c, s) for c, s in customers.items()))
        helpers = {t.ident for t in threading.enumerate()} - threads_before
        assert helpers == set()  # sent from this loop, not from a raven thread
        report = await aclose(client, timeout=20)
        assert report.delivered == len(customers) and report.pending == 0
        return dict(zip(customers, ids))

    sent = asyncio.run(main())

    for customer, event_id in sent.items():
        event = bugsink.wait_for_event(event_id)
        [value] = event["exception"]["values"]
        assert value["type"] == "StockError"
        assert value["value"] == "%s is out of stock" % customers[customer]
        assert event["user"] == {"id": customer, "email": "%s@example.com" % customer}
        assert event["tags"]["customer"] == customer
        assert event["extra"]["sku"] == repr(customers[customer])
        crumbs: List[str] = [c["message"] for c in event["breadcrumbs"]["values"]]
        assert crumbs == ["reserving %s for %s" % (customers[customer], customer)]
