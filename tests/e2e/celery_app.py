"""The Celery app a worker subprocess runs in the e2e tests (``celery -A celery_app worker``).

Configured from the environment: ``RAVEN_E2E_BROKER_URL`` (the test's redis-server),
``RAVEN_E2E_DSN`` (the Bugsink project) and ``RAVEN_E2E_RUN`` (a tag on every event, so the
test finds its own among what other tests stored). raven is set up the way an application
does it: a client, then ``register_signal`` and ``register_logger_signal``.
"""

from __future__ import annotations

import logging
import os

from celery import Celery

from raven import Client
from raven.contrib.celery import register_logger_signal, register_signal

app = Celery("celery_app", broker=os.environ["RAVEN_E2E_BROKER_URL"])
app.conf.update(
    broker_connection_retry_on_startup=True,  # Celery >= 5.3 warns when it is left unset
    worker_prefetch_multiplier=1,
    task_ignore_result=True,  # no result backend: the test reads what Bugsink stored
)

client = Client(
    dsn=os.environ["RAVEN_E2E_DSN"],
    tags={"e2e_run": os.environ["RAVEN_E2E_RUN"]},
    install_sys_hook=False,
)
register_signal(client, ignore_expected=True)
register_logger_signal(client)

log = logging.getLogger("shop.tasks")


class CardDeclined(Exception):
    pass


class CouponExpired(Exception):
    """Expected: the task declares it in ``throws``, so it is a result, not an error."""


@app.task(name="shop.charge")
def charge(order: str, amount: int, currency: str = "EUR") -> None:
    client.tags_context({"order": order})
    raise CardDeclined("card declined for order %s (%d %s)" % (order, amount, currency))


@app.task(name="shop.redeem", throws=(CouponExpired,))
def redeem(code: str) -> None:
    raise CouponExpired("coupon %s expired" % code)


@app.task(name="shop.refund")
def refund(order: str) -> None:
    log.error("refund for order %s failed", order)
