"""End to end: a real Celery worker (a subprocess, Redis broker) reports failing tasks to Bugsink.

The worker runs ``tests/e2e/celery_app.py``, which sets raven up as an application does. This
test process only sends tasks by name (it never imports that module, so raven is not set up
here) and reads what Bugsink stored.

``RAVEN_TEST_CELERY_PYTHON`` runs the worker with another interpreter (a venv with another
Celery release, and raven installed), while this process keeps sending with its own Celery.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest
from celery import Celery

from servers.bugsink import Bugsink
from servers.redis import RedisServer

pytestmark = pytest.mark.e2e

APP_DIR = Path(__file__).resolve().parent
EVENT_TIMEOUT = 60.0  # includes the worker's start-up


class Worker:
    """``celery -A celery_app worker`` in a subprocess, its output in a file.

    Its events carry the tag ``e2e_run`` = :attr:`run`. Tests queue their tasks before
    starting it (each test has a broker database of its own), so nothing waits for it to be
    ready.
    """

    def __init__(self, proc: subprocess.Popen, log_path: Path, run: str) -> None:
        self.proc = proc
        self.log_path = log_path
        self.run = run

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(
                "the Celery worker exited (status %s):\n%s" % (self.proc.returncode, self.output())
            )

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not exit in ``timeout``."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@contextlib.contextmanager
def celery_worker(broker_url: str, dsn: str, log_path: Path, *options: str) -> Iterator[Worker]:
    run = uuid.uuid4().hex
    env = dict(os.environ)
    for name in list(env):
        # the worker is a plain Celery app: no DSN of ours, and no Django settings (a Django
        # test earlier in this process sets DJANGO_SETTINGS_MODULE; Celery would load Django)
        if name.startswith("SENTRY_") or name == "DJANGO_SETTINGS_MODULE":
            del env[name]
    env.update(
        RAVEN_E2E_BROKER_URL=broker_url,
        RAVEN_E2E_DSN=dsn,
        RAVEN_E2E_RUN=run,
        PYTHONPATH=os.pathsep.join(filter(None, [str(APP_DIR), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    python = os.environ.get("RAVEN_TEST_CELERY_PYTHON") or sys.executable
    command = [
        python, "-m", "celery", "-A", "celery_app", "worker",
        "--loglevel", "INFO",
        "--hostname", "raven-e2e-%s@%%h" % run[:8],
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        *options,
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, cwd=str(APP_DIR), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    worker = Worker(proc, log_path, run)
    try:
        yield worker
    finally:
        worker.stop()


_databases = itertools.count(1)


@pytest.fixture
def broker_url(redis_server: RedisServer) -> str:
    """A Redis database of this test's own (tasks a failed test left queued stay there)."""
    return "%s/%d" % (redis_server.url.rsplit("/", 1)[0], next(_databases) % 16)


@pytest.fixture
def sender(broker_url: str) -> Iterator[Celery]:
    """A Celery app that only sends tasks by name to the worker's broker."""
    app = Celery("sender", broker=broker_url, set_as_current=False)
    app.conf.update(broker_connection_retry_on_startup=True)
    yield app
    app.close()


def wait_for(
    bugsink: Bugsink, worker: Worker, found: Callable[[Dict[str, Any]], bool]
) -> List[Dict[str, Any]]:
    """The events of ``worker`` that Bugsink stored, once one of them is ``found``."""
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        events = [e for e in bugsink.events() if (e.get("tags") or {}).get("e2e_run") == worker.run]
        if any(found(event) for event in events):
            return events
        worker.check_running()
        if time.monotonic() > deadline:
            raise AssertionError(
                "no such event within %.0f s; stored: %r\nworker output:\n%s"
                % (EVENT_TIMEOUT, events, worker.output())
            )
        time.sleep(0.05)


def exception_of(event: Dict[str, Any]) -> Dict[str, Any]:
    return event["exception"]["values"][-1]


def message_of(event: Dict[str, Any]) -> Any:
    return (event.get("logentry") or {}).get("formatted")


def test_a_failing_task_in_a_worker_is_stored_with_its_task_and_arguments(
    bugsink: Bugsink, broker_url: str, sender: Celery, tmp_path: Path
) -> None:
    # queued before the worker starts: it takes them as soon as it is up, in this order
    charged = sender.send_task("shop.charge", args=["A-17", 42], kwargs={"currency": "USD"})
    sender.send_task("shop.redeem", args=["SPRING"])  # expected: throws=(CouponExpired,)
    sender.send_task("shop.refund", args=["A-17"])  # the sentinel: logs an error

    with celery_worker(
        broker_url, bugsink.dsn, tmp_path / "worker.log", "--pool", "solo"
    ) as worker:
        events = wait_for(
            bugsink, worker, lambda e: message_of(e) == "refund for order A-17 failed"
        )

    # one event per failure, in order: no CouponExpired (ignore_expected), and the charge
    # failure not a second time through Celery's own log record of it (CeleryFilter)
    failure, logged = events
    value = exception_of(failure)
    assert value["type"] == "CardDeclined"
    assert value["value"] == "card declined for order A-17 (42 USD)"
    assert value["stacktrace"]["frames"][-1]["function"] == "charge"
    assert failure["extra"]["task_id"] == repr(charged.id)
    assert failure["extra"]["task"] == "'shop.charge'"
    assert failure["extra"]["args"] == ["'A-17'", "42"]
    assert failure["extra"]["kwargs"] == {"'currency'": "'USD'"}
    assert failure["tags"]["celery_task_name"] == "shop.charge"
    assert failure["tags"]["order"] == "A-17"  # set by the task
    assert failure["transaction"] == "shop.charge"

    assert logged["logger"] == "shop.tasks"
    assert logged["transaction"] == "shop.refund"
    assert "order" not in logged["tags"]  # each task starts with a fresh context


def test_a_prefork_child_sends_its_event_before_it_exits(
    bugsink: Bugsink, broker_url: str, sender: Celery, tmp_path: Path
) -> None:
    """A pool process leaves with ``os._exit`` (no at-exit flush); raven flushes before."""
    charged = sender.send_task("shop.charge", args=["B-2", 7])

    with celery_worker(
        broker_url,
        bugsink.dsn,
        tmp_path / "worker.log",
        "--pool", "prefork", "--concurrency", "1", "--max-tasks-per-child", "1",
    ) as worker:  # fmt: skip
        [failure] = wait_for(bugsink, worker, lambda e: "exception" in e)

    assert exception_of(failure)["type"] == "CardDeclined"
    assert failure["extra"]["task_id"] == repr(charged.id)
    assert failure["transaction"] == "shop.charge"
