"""``raven.contrib.rq`` on a real RQ ``SimpleWorker`` over fakeredis (the e2e test uses Redis)."""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator

import fakeredis
import pytest
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry

from raven.contrib.rq import SentryRQHandler, register_sentry

log = logging.getLogger("shop.jobs")


class ChargeFailed(Exception):
    pass


def charge(order: str, amount: int, currency: str = "EUR") -> None:
    log.warning("charging %s", order)
    raise ChargeFailed("card declined for %s" % order)


#: the client of the running test, for jobs that record context through it
CLIENT: Dict[str, Any] = {}


def prepare(order: str) -> str:
    CLIENT["client"].tags_context({"prepared": order})
    log.warning("prepared %s", order)
    return order


@pytest.fixture
def redis() -> Iterator[Any]:
    connection = fakeredis.FakeRedis()
    try:
        yield connection
    finally:
        connection.flushall()
        connection.close()


def test_a_failing_job_is_reported_with_its_call(client, redis):
    queue = Queue("payments", connection=redis)
    job = queue.enqueue(charge, "A-17", 42, currency="USD")
    worker = SimpleWorker([queue], connection=redis)
    register_sentry(client, worker)

    worker.work(burst=True)

    [event] = client.events
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ChargeFailed", "card declined for A-17")
    assert event["transaction"] == "test_rq.charge"
    assert event["tags"] == {"rq.queue": "payments"}
    extra = event["extra"]
    assert extra["job_id"] == repr(job.id)
    assert extra["func"] == "'test_rq.charge'"
    assert extra["args"] == ("'A-17'", "42")
    assert extra["kwargs"] == {"'currency'": "'USD'"}
    assert extra["queue"] == "'payments'"
    assert "test_rq.charge('A-17', 42, currency='USD')" in extra["description"]
    assert "charging A-17" in [c["message"] for c in event["breadcrumbs"]["values"]]
    # the handler let rq's own handling go on: the job is in the failed registry
    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()


def test_each_job_starts_with_a_fresh_context(client, redis, monkeypatch):
    monkeypatch.setitem(CLIENT, "client", client)
    queue = Queue("payments", connection=redis)
    queue.enqueue(prepare, "A-1")
    queue.enqueue(charge, "A-2", 10)
    worker = SimpleWorker([queue], connection=redis)
    register_sentry(client, worker)

    worker.work(burst=True)

    [event] = client.events
    assert "prepared" not in event["tags"]
    crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
    assert "prepared A-1" not in crumbs
    assert "charging A-2" in crumbs


def test_the_handler_can_be_given_to_the_worker_directly(client, redis):
    queue = Queue("default", connection=redis)
    queue.enqueue(charge, "B-3", 5)
    other_handler_saw = []

    def other(job: Any, *exc_info: Any) -> bool:
        other_handler_saw.append(job.func_name)
        return True

    worker = SimpleWorker(
        [queue], connection=redis, exception_handlers=[SentryRQHandler(client), other]
    )
    worker.work(burst=True)

    assert len(client.events) == 1
    assert other_handler_saw == ["test_rq.charge"]


def test_the_handler_returns_true_and_flushes(client):
    class Job:
        id = "job-1"
        origin = "mail"
        func_name = "mail.send"
        args = ()
        kwargs: dict = {}
        description = "mail.send()"

    flushed = []
    client.flush = lambda timeout=None: flushed.append(timeout)  # type: ignore[method-assign]
    handler = SentryRQHandler(client, flush_timeout=2.5)

    try:
        raise ChargeFailed("x")
    except ChargeFailed as exc:
        assert handler(Job(), type(exc), exc, exc.__traceback__) is True

    assert flushed == [2.5]
    assert client.events[0]["tags"] == {"rq.queue": "mail"}


def test_a_job_whose_call_cannot_be_read_is_still_reported(client):
    class BrokenJob:
        id = "job-2"
        origin = "default"

        @property
        def func_name(self) -> str:
            raise ValueError("cannot deserialize")

        args = kwargs = description = func_name

    try:
        raise ChargeFailed("y")
    except ChargeFailed as exc:
        assert SentryRQHandler(client)(BrokenJob(), type(exc), exc, exc.__traceback__) is True

    [event] = client.events
    assert (event["extra"]["job_id"], event["extra"]["queue"]) == ("'job-2'", "'default'")
    assert not {"func", "args", "kwargs", "description"} & set(event["extra"])
    assert "transaction" not in event
