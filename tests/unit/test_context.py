"""``raven.context.Context``: what events of one thread or asyncio task carry, and nobody else's."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Dict, List

import pytest

from raven import breadcrumbs
from raven.context import Context, get_active_contexts
from raven.utils.testutils import InMemoryClient


def crumb_messages(event: Dict[str, Any]) -> List[Any]:
    return [c["message"] for c in event.get("breadcrumbs", {}).get("values", [])]


# -- data -------------------------------------------------------------------------------------


def test_merge_updates_tags_and_extra_key_by_key() -> None:
    context = Context()

    context.merge({"tags": {"a": "1", "b": "1"}, "extra": {"x": 1}})
    context.merge({"tags": {"b": "2"}, "extra": {"y": 2}})

    assert context["tags"] == {"a": "1", "b": "2"}
    assert context["extra"] == {"x": 1, "y": 2}


def test_merge_replaces_every_other_key_wholesale() -> None:
    context = Context()

    context.merge({"user": {"id": 1, "email": "a@example.com"}, "request": {"url": "http://a/"}})
    context.merge({"user": {"id": 2}})

    assert context["user"] == {"id": 2}
    assert context["request"] == {"url": "http://a/"}


def test_merge_of_empty_tags_keeps_the_existing_ones() -> None:
    context = Context()
    context.merge({"tags": {"a": "1"}})

    context.merge({"tags": {}})
    context.merge({"tags": None})

    assert context["tags"] == {"a": "1"}


def test_get_without_arguments_returns_the_whole_data() -> None:
    context = Context()
    context.merge({"user": {"id": 1}})

    assert context.get() == {"user": {"id": 1}}
    assert context.get() is context.data


def test_get_with_a_key_works_like_a_mapping() -> None:
    context = Context()
    context.merge({"user": {"id": 1}})

    assert context.get("user") == {"id": 1}
    assert context.get("missing") is None
    assert context.get("missing", "default") == "default"


def test_set_replaces_the_data() -> None:
    context = Context()
    context.merge({"tags": {"a": "1"}})

    context.set({"user": {"id": 3}})

    assert context.get() == {"user": {"id": 3}}


def test_the_context_is_a_read_only_mapping_view_of_its_data() -> None:
    context = Context()
    context.merge({"tags": {"a": "1"}, "user": {"id": 1}})

    assert context["user"] == {"id": 1}
    assert sorted(context) == ["tags", "user"]
    assert len(context) == 2
    assert "tags" in context
    assert dict(context) == {"tags": {"a": "1"}, "user": {"id": 1}}
    with pytest.raises(KeyError):
        context["missing"]


def test_contexts_are_equal_only_to_themselves_and_hash_by_identity() -> None:
    first, second = Context(), Context()

    assert first == first
    assert first != second  # same (empty) data, different contexts
    assert len({first, second, first}) == 2


def test_clear_forgets_data_breadcrumbs_and_seen_exceptions(client: InMemoryClient) -> None:
    client.tags_context({"a": "1"})
    client.captureBreadcrumb(message="crumb")
    try:
        raise ValueError("seen")
    except ValueError as e:
        exc = e
    client.captureException(exc)

    client.context.clear()

    assert dict(client.context) == {}
    assert client.context.breadcrumbs.get_buffer() == []
    assert client.captureException(exc) is not None


def test_the_context_refers_to_its_client_without_keeping_it_alive() -> None:
    import gc

    InMemoryClient(
        install_sys_hook=False, hook_libraries=[]
    )  # the first client stays alive as raven.base.Raven
    client = InMemoryClient(install_sys_hook=False, hook_libraries=[])
    context = client.context
    assert context.client is client

    del client
    gc.collect()

    assert context.client is None


# -- activation -------------------------------------------------------------------------------


def test_a_new_client_context_is_active_in_the_current_thread(client: InMemoryClient) -> None:
    assert client.context in get_active_contexts()


def test_deactivate_and_activate_control_where_recorded_breadcrumbs_go(
    client: InMemoryClient,
) -> None:
    client.context.deactivate()
    breadcrumbs.record(message="while inactive")
    assert client.context not in get_active_contexts()

    client.context.activate()
    breadcrumbs.record(message="while active")

    assert client.context in get_active_contexts()
    assert [c["message"] for c in client.context.breadcrumbs.get_buffer()] == ["while active"]


def test_merge_activates_the_context(client: InMemoryClient) -> None:
    client.context.deactivate()

    client.context.merge({"tags": {"a": "1"}})

    assert client.context in get_active_contexts()


def test_merge_with_activate_false_leaves_it_inactive(client: InMemoryClient) -> None:
    client.context.deactivate()

    client.context.merge({"tags": {"a": "1"}}, activate=False)

    assert client.context not in get_active_contexts()


def test_the_context_is_a_context_manager_that_activates_for_its_block(
    client: InMemoryClient,
) -> None:
    client.context.deactivate()

    with client.context as entered:
        assert entered is client.context
        assert client.context in get_active_contexts()

    assert client.context not in get_active_contexts()


def test_clear_deactivates_when_asked(client: InMemoryClient) -> None:
    client.context.clear(deactivate=True)

    assert client.context not in get_active_contexts()


def test_clear_in_the_client_creating_thread_keeps_the_context_active(
    client: InMemoryClient,
) -> None:
    client.context.clear()

    assert client.context in get_active_contexts()


def test_clear_in_another_thread_deactivates_the_context_there(client: InMemoryClient) -> None:
    seen: Dict[str, bool] = {}

    def worker() -> None:
        client.tags_context({"request": "1"})
        seen["active before"] = client.context in get_active_contexts()
        client.context.clear()
        seen["active after"] = client.context in get_active_contexts()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()

    assert seen == {"active before": True, "active after": False}
    assert client.context in get_active_contexts()  # the main thread is not affected


def test_a_client_created_after_a_deactivation_is_active_in_its_thread(make_client: Any) -> None:
    make_client().context.deactivate()

    later = make_client()
    breadcrumbs.record(message="for the later client")

    assert later.context in get_active_contexts()
    assert [c["message"] for c in later.context.breadcrumbs.get_buffer()] == [
        "for the later client"
    ]


# -- threads ----------------------------------------------------------------------------------


def test_a_new_thread_starts_with_an_empty_context(client: InMemoryClient) -> None:
    client.tags_context({"main": "yes"})
    seen: Dict[str, Any] = {}

    def worker() -> None:
        seen["data"] = dict(client.context)
        client.captureMessage("from the thread")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()

    assert seen["data"] == {}
    assert "main" not in client.events[-1]["tags"]


def test_a_thread_records_breadcrumbs_without_touching_the_context_first(
    client: InMemoryClient,
) -> None:
    def worker() -> None:
        breadcrumbs.record(message="first thing the thread does")
        client.captureMessage("m")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()

    assert crumb_messages(client.events[-1]) == ["first thing the thread does"]


def test_concurrent_threads_never_see_each_others_context(client: InMemoryClient) -> None:
    client.tags_context({"main": "yes"})
    everyone_has_set_up = threading.Barrier(4)
    log = logging.getLogger("app.threads")

    def request(name: str) -> None:
        client.tags_context({"request": name})
        client.user_context({"id": name})
        breadcrumbs.record(message="crumb of %s" % name)
        log.warning("log of %s", name)
        everyone_has_set_up.wait(timeout=10)
        client.captureMessage("event of %s" % name)

    threads = [threading.Thread(target=request, args=(name,)) for name in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(client.events) == 4
    for event in client.events:
        name = event["message"].rsplit(" ", 1)[-1]
        assert event["tags"] == {"request": name}
        assert event["user"] == {"id": name}
        assert crumb_messages(event) == ["crumb of %s" % name, "log of %s" % name]
    assert dict(client.context) == {"tags": {"main": "yes"}}


# -- asyncio tasks ----------------------------------------------------------------------------


def test_concurrent_asyncio_tasks_never_see_each_others_context(client: InMemoryClient) -> None:
    """The headline: on one event loop thread, each task keeps its own tags, user and crumbs."""
    log = logging.getLogger("app.tasks")

    async def main() -> None:
        client.tags_context({"parent": "set before the tasks"})
        client.user_context({"id": "parent"})
        breadcrumbs.record(message="parent crumb")
        everyone_has_set_up = asyncio.Barrier(3) if hasattr(asyncio, "Barrier") else None
        ready = [asyncio.Event() for _ in range(3)]

        async def request(index: int, name: str) -> None:
            client.tags_context({"request": name})
            client.extra_context({"request_extra": name})
            client.user_context({"id": name})
            breadcrumbs.record(message="crumb of %s" % name)
            log.warning("log of %s", name)
            # let every other task set up its context before anyone captures
            if everyone_has_set_up is not None:
                await everyone_has_set_up.wait()
            else:  # pragma: no cover - Python < 3.11
                ready[index].set()
                for event in ready:
                    await event.wait()
            await asyncio.sleep(0.001 * (3 - index))
            client.captureMessage("event of %s" % name)

        await asyncio.gather(*(request(i, name) for i, name in enumerate("abc")))

        # the tasks' changes stay in the tasks
        assert client.context["tags"] == {"parent": "set before the tasks"}
        assert client.context["user"] == {"id": "parent"}
        assert [c["message"] for c in client.context.breadcrumbs.get_buffer()] == ["parent crumb"]

    asyncio.run(main())

    assert len(client.events) == 3
    for event in client.events:
        name = event["message"].rsplit(" ", 1)[-1]
        assert event["tags"] == {"parent": "set before the tasks", "request": name}
        assert event["extra"]["request_extra"] == "'%s'" % name
        assert event["user"] == {"id": name}
        assert crumb_messages(event) == ["parent crumb", "crumb of %s" % name, "log of %s" % name]


def test_tasks_inherit_the_context_their_creator_had(client: InMemoryClient) -> None:
    async def main() -> List[Any]:
        client.tags_context({"tenant": "acme"})
        client.http_context({"url": "http://example.com/parent"})

        async def child() -> Any:
            return dict(client.context)

        return list(await asyncio.gather(child(), child()))

    first, second = asyncio.run(main())

    expected = {"tags": {"tenant": "acme"}, "request": {"url": "http://example.com/parent"}}
    assert first == second == expected


def test_clearing_the_context_in_a_task_leaves_the_parent_untouched(
    client: InMemoryClient,
) -> None:
    async def main() -> Dict[str, Any]:
        client.tags_context({"parent": "1"})
        breadcrumbs.record(message="parent crumb")

        async def child() -> None:
            client.context.clear()

        await asyncio.create_task(child())
        return {
            "data": dict(client.context),
            "crumbs": [c["message"] for c in client.context.breadcrumbs.get_buffer()],
        }

    assert asyncio.run(main()) == {"data": {"tags": {"parent": "1"}}, "crumbs": ["parent crumb"]}


def test_a_capture_in_a_task_skips_only_exceptions_that_task_already_sent(
    client: InMemoryClient,
) -> None:
    try:
        raise ValueError("shared")
    except ValueError as e:
        shared = e

    async def main() -> List[Any]:
        async def capture() -> Any:
            first = client.captureException(shared)
            await asyncio.sleep(0)
            return first, client.captureException(shared)

        return list(await asyncio.gather(capture(), capture()))

    (a_first, a_again), (b_first, b_again) = asyncio.run(main())

    assert a_first and b_first
    assert a_again is None and b_again is None
