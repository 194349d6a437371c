"""``raven.contrib.async.AsyncClient``: raven 6.10's deprecated client, loaded by importlib."""

from __future__ import annotations

import importlib
from typing import Any, Iterator

import pytest

from raven.transport.threaded import AsyncWorker
from servers.sink import Sink

raven_async: Any = importlib.import_module("raven.contrib.async")


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    try:
        yield server
    finally:
        server.stop()


def test_the_module_name_is_a_keyword_so_only_importlib_can_load_it():
    with pytest.raises(SyntaxError):
        compile("import raven.contrib.async", "<app>", "exec")
    assert raven_async.__name__ == "raven.contrib.async"
    assert {"AsyncClient", "AsyncWorker", "Client"} <= set(dir(raven_async))


def test_the_client_warns_that_it_is_deprecated():
    with pytest.warns(DeprecationWarning, match="AsyncClient is deprecated"):
        client = raven_async.AsyncClient(install_sys_hook=False)
    assert isinstance(client.worker, AsyncWorker)
    assert isinstance(client, raven_async.Client)


def test_events_go_through_the_normal_delivery(sink):
    worker = AsyncWorker()
    with pytest.warns(DeprecationWarning):
        client = raven_async.AsyncClient(worker, sink.dsn(), install_sys_hook=False)

    event_id = client.captureMessage("sent by an AsyncClient")
    client.flush(5)

    [event] = sink.wait_for_events(1)
    assert event["event_id"] == event_id
    assert event["logentry"]["message"] == "sent by an AsyncClient"
    assert client.worker is worker
    assert not worker.is_alive()  # 6.10 queued each send on it; it is no longer needed
    client.close(5)
