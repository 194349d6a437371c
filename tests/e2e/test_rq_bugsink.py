"""End to end: RQ workers on a real Redis report failing jobs to a real Bugsink.

The worker runs in a subprocess, as in production: a forking ``Worker`` (each job in a work
horse that ends with ``os._exit``, so only the handler's flush gets the event out) and the
in-process ``SimpleWorker``. This process only enqueues jobs by name and reads Bugsink.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from servers.bugsink import Bugsink
from servers.redis import RedisServer

pytestmark = pytest.mark.e2e

JOBS = textwrap.dedent(
    '''
    """Jobs of the shop's payment queue."""

    import logging

    log = logging.getLogger("shop.payments")


    class ChargeFailed(Exception):
        pass


    def charge(order, amount, currency="EUR"):
        log.warning("charging %s %s for %s", amount, currency, order)
        raise ChargeFailed("card declined for %s" % order)
    '''
)

WORKER = textwrap.dedent(
    '''
    """A burst worker for one queue, reporting to Sentry."""

    import sys

    from redis import Redis
    from rq import Queue, SimpleWorker, Worker

    from raven import Client
    from raven.contrib.rq import register_sentry

    redis_url, queue_name, worker_kind, run = sys.argv[1:5]
    client = Client(install_sys_hook=False, tags={"e2e_run": run})  # SENTRY_DSN: environment
    connection = Redis.from_url(redis_url)
    worker_class = SimpleWorker if worker_kind == "simple" else Worker
    worker = worker_class([Queue(queue_name, connection=connection)], connection=connection)
    register_sentry(client, worker)
    worker.work(burst=True)
    client.close(10)
    '''
)


@pytest.mark.parametrize("worker_kind", ["forking", "simple"])
def test_a_failing_job_is_stored_with_its_function_and_arguments(
    worker_kind: str, bugsink: Bugsink, redis_server: RedisServer, tmp_path: Path
):
    (tmp_path / "shop_jobs.py").write_text(JOBS)
    (tmp_path / "worker.py").write_text(WORKER)
    run = uuid.uuid4().hex
    queue_name = "payments-" + run
    connection = Redis.from_url(redis_server.url)
    try:
        job = Queue(queue_name, connection=connection).enqueue(
            "shop_jobs.charge", "A-17", 42, currency="USD"
        )
        output = run_worker(tmp_path, bugsink.dsn, redis_server.url, queue_name, worker_kind, run)
        job.refresh()
        assert job.is_failed, output
    finally:
        connection.close()

    # stored by the time the worker exited: the work horse flushed before its os._exit
    [event] = [e for e in bugsink.events() if e.get("tags", {}).get("e2e_run") == run]
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ChargeFailed", "card declined for A-17")
    assert value["stacktrace"]["frames"][-1]["function"] == "charge"
    assert event["transaction"] == "shop_jobs.charge"
    assert event["tags"]["rq.queue"] == queue_name
    extra = event["extra"]
    assert extra["job_id"] == repr(job.id)
    assert extra["func"] == "'shop_jobs.charge'"
    assert extra["args"] == ["'A-17'", "42"]
    assert extra["kwargs"] == {"'currency'": "'USD'"}
    crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
    assert "charging 42 USD for A-17" in crumbs


def run_worker(directory: Path, dsn: str, *args: str) -> str:
    """Run ``worker.py`` to the end of its burst (stopped by pid if it hangs); its output."""
    log_path = directory / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "worker.py", *args],
            cwd=str(directory),
            env={**os.environ, "SENTRY_DSN": dsn},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    output = log_path.read_text(errors="replace")
    assert proc.returncode == 0, output
    return output
