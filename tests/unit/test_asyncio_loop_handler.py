"""``raven.contrib.asyncio.install_loop_handler``: exceptions nobody handled on an event loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from typing import Any, Dict, List

import pytest

from raven.contrib.asyncio import install_loop_handler

log = logging.getLogger("shop.jobs")


class SyncFailed(Exception):
    pass


def test_a_task_exception_nobody_retrieved_is_reported_with_the_tasks_context(client, caplog):
    async def sync_stock(sku: str) -> None:
        client.tags_context({"sku": sku})
        client.user_context({"id": "worker-" + sku})
        log.warning("syncing %s", sku)
        raise SyncFailed("stock sync failed for " + sku)

    async def main() -> None:
        install_loop_handler(client)
        client.tags_context({"in": "main"})
        tasks = [asyncio.ensure_future(sync_stock(sku)) for sku in ("A-1", "B-2")]
        await asyncio.sleep(0.01)
        del tasks  # nobody awaited them: the loop reports them when they are collected
        gc.collect()

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(main())

    events = sorted(client.events, key=lambda e: e["tags"]["sku"])
    assert [e["exception"]["values"][0]["value"] for e in events] == [
        "stock sync failed for A-1",
        "stock sync failed for B-2",
    ]
    for event, sku in zip(events, ("A-1", "B-2")):
        assert event["tags"] == {"sku": sku, "in": "main"}
        assert event["user"] == {"id": "worker-" + sku}
        assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["syncing " + sku]
        assert event["transaction"].endswith("sync_stock")
        assert event["extra"]["asyncio.message"] == "'Task exception was never retrieved'"
    # the loop's default handler still logged them, as it does without raven
    logged = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert sum(m.startswith("Task exception was never retrieved") for m in logged) == 2


def test_a_callback_exception_is_reported_with_the_callbacks_context(client):
    def restock() -> None:
        client.tags_context({"callback": "restock"})
        raise SyncFailed("restock failed")

    async def main() -> None:
        install_loop_handler(client)
        asyncio.get_running_loop().call_soon(restock)
        await asyncio.sleep(0.01)

    asyncio.run(main())

    [event] = client.events
    assert event["exception"]["values"][0]["value"] == "restock failed"
    assert event["tags"] == {"callback": "restock"}
    assert "restock" in event["extra"]["asyncio.handle"]


def test_the_previous_handler_is_called_after_the_report(client):
    seen: List[Dict[str, Any]] = []

    def previous(loop: asyncio.AbstractEventLoop, context: Dict[str, Any]) -> None:
        seen.append({"events_before": len(client.events), **context})

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(previous)
        handler = install_loop_handler(client)
        loop.call_soon(lambda: 1 / 0)
        loop.call_exception_handler({"message": "just a message"})
        await asyncio.sleep(0.01)
        return handler

    handler = asyncio.run(main())

    assert handler.previous is previous
    assert [c["message"] for c in seen] == ["just a message", seen[1]["message"]]
    assert seen[1]["events_before"] == 1  # reported first, then handed on
    assert isinstance(seen[1]["exception"], ZeroDivisionError)
    assert len(client.events) == 1  # a context without an exception is not an event


def test_an_exception_someone_awaited_is_not_reported(client):
    async def fails() -> None:
        raise SyncFailed("handled by the caller")

    async def main() -> None:
        install_loop_handler(client)
        with pytest.raises(SyncFailed):
            await asyncio.ensure_future(fails())
        task = asyncio.ensure_future(asyncio.sleep(10))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    gc.collect()

    assert client.events == []


def test_the_failing_task_can_be_the_one_calling_the_handler(client):
    async def main() -> None:
        install_loop_handler(client)
        client.tags_context({"reporter": "itself"})
        try:
            raise SyncFailed("reported by hand")
        except SyncFailed as exc:
            asyncio.get_running_loop().call_exception_handler(
                {"message": "by hand", "exception": exc, "task": asyncio.current_task()}
            )

    asyncio.run(main())

    [event] = client.events
    assert event["tags"] == {"reporter": "itself"}


def test_outside_a_running_loop_the_loop_must_be_given(client):
    with pytest.raises(RuntimeError, match="loop="):
        install_loop_handler(client)

    loop = asyncio.new_event_loop()
    try:
        handler = install_loop_handler(client, loop=loop)
        assert loop.get_exception_handler() is handler
    finally:
        loop.close()


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the task factory is for 3.11 only")
def test_on_python_3_11_a_task_factory_keeps_task_contexts_unless_one_is_set(client):
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        install_loop_handler(client)
        ours = loop.get_task_factory()
        loop.set_task_factory(None)

        def custom(loop: Any, coro: Any, **kwargs: Any) -> asyncio.Task:
            return asyncio.Task(coro, loop=loop, **kwargs)

        loop.set_task_factory(custom)
        install_loop_handler(client)
        return ours, loop.get_task_factory()

    ours, after = asyncio.run(main())

    assert ours is not None
    assert after.__name__ == "custom"
