"""raven.utils.transaction.TransactionStack: a culprit stack per thread and per asyncio task."""

from __future__ import annotations

import asyncio
import threading

import pytest

from raven.utils.transaction import TransactionContext, TransactionStack


def test_push_peek_and_pop_down_to_an_entry() -> None:
    stack = TransactionStack()
    assert stack.push("foo") == "foo"
    bar = stack.push(["bar"])
    stack.push({"baz": True})
    assert len(stack) == 3
    assert stack.peek() == {"baz": True}

    assert stack.pop(bar) is bar  # pops {"baz": True} and bar
    assert list(stack) == ["foo"]

    assert stack.pop() == "foo"
    assert len(stack) == 0
    assert stack.peek() is None


def test_pop_matches_by_identity_not_equality() -> None:
    stack = TransactionStack()
    first = ["x"]
    stack.push(first)
    stack.push(["x"])
    assert stack.pop(first) is first
    assert len(stack) == 0


def test_popping_an_entry_that_is_not_there_empties_the_stack() -> None:
    stack = TransactionStack()
    stack.push("a")
    assert stack.pop("not-pushed") is None
    assert len(stack) == 0


def test_popping_an_empty_stack_raises_index_error() -> None:
    with pytest.raises(IndexError):
        TransactionStack().pop()


def test_clear_and_iteration_bottom_first() -> None:
    stack = TransactionStack()
    stack.push("a")
    stack.push("b")
    assert list(stack) == ["a", "b"]
    assert stack.stack == ["a", "b"]
    stack.clear()
    assert list(stack) == []


def test_calling_the_stack_gives_a_context_manager() -> None:
    stack = TransactionStack()
    with stack("outer") as ctx:
        assert isinstance(ctx, TransactionContext)
        with stack("inner"):
            assert stack.peek() == "inner"
        assert stack.peek() == "outer"
    assert stack.peek() is None


def test_the_context_manager_pops_on_error_too() -> None:
    stack = TransactionStack()
    with pytest.raises(RuntimeError), stack("view"):
        raise RuntimeError
    assert len(stack) == 0


def test_two_stacks_are_independent() -> None:
    a, b = TransactionStack(), TransactionStack()
    a.push("a")
    assert b.peek() is None


def test_threads_do_not_see_each_others_entries() -> None:
    stack = TransactionStack()
    stack.push("main")
    seen: dict[str, list[object]] = {}
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        stack.push(name)
        barrier.wait()  # both threads have pushed before either looks
        seen[name] = list(stack)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("t1", "t2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert seen == {"t1": ["t1"], "t2": ["t2"]}
    assert list(stack) == ["main"]


def test_concurrent_asyncio_tasks_do_not_see_each_others_entries() -> None:
    stack = TransactionStack()

    async def handle(
        name: str, started: asyncio.Event, other_started: asyncio.Event
    ) -> list[object]:
        with stack(name):
            started.set()
            await other_started.wait()  # the other task has pushed by now
            return list(stack)

    async def main() -> tuple[list[object], list[object], list[object]]:
        stack.push("loop")
        e1, e2 = asyncio.Event(), asyncio.Event()
        r1, r2 = await asyncio.gather(handle("req-1", e1, e2), handle("req-2", e2, e1))
        return r1, r2, list(stack)

    r1, r2, after = asyncio.run(main())
    # Each task starts from a copy of the parent's stack and only ever sees its own pushes.
    assert r1 == ["loop", "req-1"]
    assert r2 == ["loop", "req-2"]
    assert after == ["loop"]
