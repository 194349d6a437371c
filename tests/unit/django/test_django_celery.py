"""``CeleryClient``: a Django client whose events are queued as Celery tasks (Celery 5: shared
tasks, no ``celery.task``) and sent by the worker's client."""

from __future__ import annotations

import contextlib
import importlib
import logging
from typing import Any, Iterator, List
from unittest import mock

import pytest

pytest.importorskip("celery")

from celery import Celery
from celery.contrib.testing.app import setup_default_app
from kombu.exceptions import OperationalError

import raven.contrib.django.celery as django_celery
from raven.contrib.django.celery import CeleryClient, send_raw, send_raw_integrated
from servers.sink import Sink


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    try:
        yield server
    finally:
        server.stop()


def make_client(dsn: str = "http://public:secret@example.com/1", **options: Any) -> CeleryClient:
    return CeleryClient(dsn=dsn, install_sys_hook=False, hook_libraries=[], **options)


def celery_app(**conf: Any) -> Celery:
    app = Celery("raven-tests", broker="memory://", set_as_current=False)
    app.conf.update(broker_transport_options={"polling_interval": 0.05}, **conf)
    return app


@contextlib.contextmanager
def current(app: Celery) -> Iterator[Celery]:
    """``app`` is the current Celery app (the one shared tasks use) inside the block."""
    with setup_default_app(app):
        app.set_current()
        app.set_default()
        yield app


@pytest.fixture
def worker_client(sink: Sink) -> Iterator[CeleryClient]:
    """The client the tasks find as the configured one (the worker's ``get_client()``)."""
    client = make_client(sink.dsn())
    with mock.patch("raven.contrib.django.models.get_client", return_value=client):
        yield client


# -- queueing (raven 6.10's tests) --------------------------------------------------------------


@mock.patch("raven.contrib.django.celery.send_raw")
def test_send_encoded_queues_the_send_raw_task(send_raw: mock.Mock) -> None:
    make_client().send_encoded("foo")

    send_raw.delay.assert_called_once_with("foo")


@mock.patch("raven.contrib.django.celery.send_raw")
def test_a_capture_goes_all_the_way_down_to_the_task(send_raw: mock.Mock) -> None:
    make_client().captureMessage(message="test")

    assert send_raw.delay.call_count == 1


@mock.patch("raven.contrib.django.celery.send_raw_integrated")
def test_send_integrated_queues_the_event_dict(send_raw_integrated: mock.Mock) -> None:
    make_client().send_integrated({"message": "m"})

    send_raw_integrated.delay.assert_called_once_with({"message": "m"})


def test_the_tasks_carry_the_sentry_routing_key() -> None:
    app = celery_app()
    with current(app), mock.patch.object(app, "send_task") as send_task:
        send_raw.delay(b"{}", auth_header=None)
        send_raw_integrated.delay({"message": "m"})

    names = [c.args[0] for c in send_task.call_args_list]
    assert names == [
        "raven.contrib.django.celery.send_raw",
        "raven.contrib.django.celery.send_raw_integrated",
    ]
    assert [c.kwargs["routing_key"] for c in send_task.call_args_list] == ["sentry", "sentry"]


# -- sending from the task ----------------------------------------------------------------------


def test_an_eager_task_sends_once_with_the_configured_client(
    sink: Sink, worker_client: CeleryClient
) -> None:
    with current(celery_app(task_always_eager=True)):
        event_id = make_client(sink.dsn()).captureMessage("through celery")

    [event] = sink.wait_for_events(1)
    assert event["event_id"] == event_id
    assert event["logentry"]["message"] == "through celery"
    worker_client.flush(5)
    assert len(sink.events) == 1  # sent, not queued again


def test_send_integrated_encodes_and_sends_in_the_task(
    sink: Sink, worker_client: CeleryClient
) -> None:
    event_id = "fedcba9876543210fedcba9876543210"
    with current(celery_app(task_always_eager=True)):
        make_client(sink.dsn()).send_integrated({"event_id": event_id, "message": "dict"})

    [event] = sink.wait_for_events(1)
    assert event["event_id"] == event_id


def test_the_event_survives_the_trip_through_a_broker(
    sink: Sink, worker_client: CeleryClient
) -> None:
    app = celery_app(task_serializer="json")
    with current(app):
        event_id = make_client(sink.dsn()).captureMessage("through the broker")
        # what a worker does: take the message off the queue, decode it, run the task
        with app.connection_for_read() as connection:
            message = connection.default_channel.basic_get("celery", no_ack=True)
        args, kwargs, _ = message.decode()
        app.tasks[message.headers["task"]](*args, **kwargs)

    assert message.content_type == "application/json"
    [event] = sink.wait_for_events(1)
    assert event["event_id"] == event_id  # the encoded body (bytes) survived JSON


# -- when the broker fails ----------------------------------------------------------------------


def test_an_unreachable_broker_means_sending_directly(
    sink: Sink, sentry_errors: List[logging.LogRecord], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentry.errors")
    with mock.patch("raven.contrib.django.celery.send_raw") as send_raw:
        send_raw.delay.side_effect = OperationalError("connection refused")
        client = make_client(sink.dsn())
        event_id = client.captureMessage("the broker is down")

    [event] = sink.wait_for_events(1)
    assert event["event_id"] == event_id
    assert [(r.levelno, r.getMessage()) for r in sentry_errors] == [
        (
            logging.WARNING,
            "raven: Celery could not queue the event (is the broker reachable?); "
            "sending it directly",
        )
    ]


def test_raise_send_errors_lets_the_broker_error_through() -> None:
    with mock.patch("raven.contrib.django.celery.send_raw") as send_raw:
        send_raw.delay.side_effect = OperationalError("connection refused")
        with pytest.raises(OperationalError):
            make_client(raise_send_errors=True).send_encoded(b"{}")


# -- the app modules ----------------------------------------------------------------------------


def test_the_app_modules_import_without_djcelery() -> None:
    importlib.import_module("raven.contrib.django.celery.models")
    tasks = importlib.import_module("raven.contrib.django.celery.tasks")

    from raven.contrib.django.models import client

    assert tasks.client is client
    assert (tasks.send_raw, tasks.send_raw_integrated) == (
        django_celery.send_raw,
        django_celery.send_raw_integrated,
    )
