"""A small "shop" written against raven 6.10's API, as an existing application would be.

Run by scripts/demo.py with SENTRY_DSN set. It reports three things:

1. a caught exception, in a function with interesting locals;
2. an error logged after a few info/warning lines, which travel along as breadcrumbs (through
   ``raven.handlers.logging.SentryHandler`` when this raven has it, else ``captureMessage``);
3. a chained exception (``raise ... from ...``).

Prints one JSON line per report to stdout: ``{"kind": ..., "event_id": ...}``. The events are
sent by the default (threaded) transport and delivered when the process exits, as with raven 6.10.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os

from raven import Client

log = logging.getLogger("shop.checkout")


class ConfigError(Exception):
    pass


def report(kind: str, event_id: object) -> None:
    print(json.dumps({"kind": kind, "event_id": event_id}), flush=True)


def price_per_coupon(cart: dict) -> float:
    subtotal = sum(item["price"] * item["qty"] for item in cart["items"])
    coupons = cart["coupons"]
    customer = cart["customer"]
    log.debug("pricing %d coupons for %s", len(coupons), customer)
    return subtotal / len(coupons)  # no coupons: ZeroDivisionError


def read_workers(settings: dict) -> int:
    raw = settings["workers"]
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError("setting 'workers' must be a number, got %r" % raw) from exc


def has_sentry_handler() -> bool:
    try:
        return importlib.util.find_spec("raven.handlers.logging") is not None
    except ModuleNotFoundError:  # no raven.handlers package at all
        return False


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="  app | %(levelname)-7s %(name)s: %(message)s")
    client = Client(
        os.environ["SENTRY_DSN"],
        release="shop@1.4.2",
        environment="demo",
        tags={"service": "checkout"},
    )
    client.user_context({"id": "c-1001", "email": "ada@example.org"})

    # 1. a caught exception with locals
    cart = {
        "customer": "c-1001",
        "items": [
            {"sku": "tea-earl-grey", "price": 4.5, "qty": 2},
            {"sku": "mug", "price": 9.0, "qty": 1},
        ],
        "coupons": [],
    }
    try:
        price_per_coupon(cart)
    except ZeroDivisionError:
        report("caught exception", client.captureException(extra={"cart_size": len(cart["items"])}))

    # 2. an error log message, with breadcrumbs before it
    log.info("loading cart for customer %s", cart["customer"])
    log.info("reserving stock for %d items", len(cart["items"]))
    log.warning("payment provider slow: %.1f s", 2.4)
    if has_sentry_handler():
        from raven.handlers.logging import SentryHandler

        handler = SentryHandler(client, level=logging.ERROR)
        log.addHandler(handler)
        log.error("payment declined for order %s", "o-778")
        log.removeHandler(handler)
        report("error log (SentryHandler)", client.last_event_id)
    else:
        log.error("payment declined for order %s", "o-778")
        event_id = client.captureMessage(
            "payment declined for order %s", params=("o-778",), level="error"
        )
        report("error log (captureMessage)", event_id)

    # 3. an exception chain
    try:
        read_workers({"workers": "twelve"})
    except ConfigError:
        report("exception chain", client.captureException())


if __name__ == "__main__":
    main()
