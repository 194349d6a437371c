"""A small "shop" written against raven 6.10's API, as an existing application would be.

Run by scripts/demo.py with SENTRY_DSN set. It reports four things:

1. a caught exception, in a function with interesting locals;
2. an error logged through ``raven.handlers.logging.SentryHandler`` after a few info/warning
   lines, which travel along as breadcrumbs;
3. a chained exception (``raise ... from ...``);
4. a failing HTTP request to a WSGI app wrapped in ``raven.middleware.Sentry``, served on
   127.0.0.1 by wsgiref and requested over real HTTP.

Prints one JSON line per report to stdout: ``{"kind": ..., "event_id": ...}``, then closes the
client (waiting for the events to be delivered) and prints its delivery report.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

from raven import Client
from raven.handlers.logging import SentryHandler
from raven.middleware import Sentry

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


def orders_app(environ: dict, start_response: object) -> list:
    """A tiny WSGI app whose order page fails for an unknown order."""
    orders = {"o-100": "2 x tea"}
    order_id = environ.get("QUERY_STRING", "").partition("=")[2]
    logging.getLogger("shop.orders").info("looking up order %s", order_id)
    body = orders[order_id]  # KeyError for an unknown order
    start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
    return [body.encode()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def error_page(app: object, client: Client) -> object:
    """The outermost layer: a 500 page that shows the id of the event the middleware sent."""

    def wrapped(environ: dict, start_response: object) -> list:
        try:
            return list(app(environ, start_response))  # type: ignore[operator]
        except Exception:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])  # type: ignore[operator]
            return [str(client.last_event_id).encode()]

    return wrapped


def failing_request(client: Client) -> object:
    """Serve the app behind the middleware on 127.0.0.1, request a missing order, and return
    the event id its error page shows."""
    app = error_page(Sentry(orders_app, client), client)
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = "http://127.0.0.1:%d/orders?id=o-404" % server.server_port
        try:
            urllib.request.urlopen(url, timeout=10)
        except urllib.error.HTTPError as exc:
            log.info("GET %s answered %s", url, exc.code)
            return exc.read().decode() or None
        return None
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


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
    handler = SentryHandler(client, level=logging.ERROR)
    log.addHandler(handler)
    log.error("payment declined for order %s", "o-778")
    log.removeHandler(handler)
    report("error log (SentryHandler)", client.last_event_id)

    # 3. an exception chain
    try:
        read_workers({"workers": "twelve"})
    except ConfigError:
        report("exception chain", client.captureException())

    # 4. a failing request under the WSGI middleware
    report("failing WSGI request", failing_request(client))

    delivery = client.close(timeout=30)
    print(
        "  app | delivery: %d delivered, %d pending, dropped %s"
        % (delivery.delivered, delivery.pending, delivery.dropped or "none"),
        flush=True,
    )


if __name__ == "__main__":
    main()
