"""The stack of transaction names (culprits) for the request or task being handled."""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from types import TracebackType

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Optional

__all__ = ["TransactionContext", "TransactionStack"]


class TransactionContext:
    """Push a transaction name on entry and pop it (and anything above it) on exit."""

    __slots__ = ("context", "stack")

    def __init__(self, stack: TransactionStack, context: Any) -> None:
        self.stack = stack
        self.context = context

    def __enter__(self) -> TransactionContext:
        self.stack.push(self.context)
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stack.pop(self.context)


class TransactionStack:
    """A stack local to the current thread *and* the current asyncio task.

    raven 6.10 kept this in a ``threading.local``, so requests served concurrently on one
    event loop (sanic, aiohttp, tornado, ASGI Django) pushed onto one shared stack. Here the
    stack is an immutable tuple in a ``ContextVar``: every push or pop stores a new tuple, so a
    task that was started with a copy of its parent's context can never change what the parent
    or a sibling task sees. A new thread starts with an empty stack, as before.

    Each instance owns its own ``ContextVar``. Contexts hold their variables strongly, so an
    instance is meant to live as long as its client does, not to be created per request.
    """

    __slots__ = ("_var",)

    def __init__(self) -> None:
        self._var: ContextVar[tuple[Any, ...]] = ContextVar(
            f"raven.transaction.{id(self):x}", default=()
        )

    def __len__(self) -> int:
        return len(self._var.get())

    def __iter__(self) -> Iterator[Any]:
        # Iterating a snapshot: pushes during iteration don't affect it.
        return iter(self._var.get())

    def __call__(self, context: Any) -> TransactionContext:
        return TransactionContext(self, context)

    @property
    def stack(self) -> list[Any]:
        """A list copy of the stack, bottom first (6.10 exposed its list under this name)."""
        return list(self._var.get())

    def clear(self) -> None:
        """Empty the stack for the current thread or task."""
        self._var.set(())

    def peek(self) -> Any:
        """Return the innermost transaction name, or None when the stack is empty."""
        items = self._var.get()
        return items[-1] if items else None

    def push(self, context: Any) -> Any:
        """Push ``context`` and return it."""
        self._var.set((*self._var.get(), context))
        return context

    def pop(self, context: Any = None) -> Any:
        """Pop the top entry, or everything down to and including ``context``.

        Returns the popped entry (``context`` itself when it was found). ``context`` is matched
        by identity, as in 6.10. When it is not on the stack the stack ends up empty and None is
        returned, also as in 6.10. Popping an empty stack with no argument raises IndexError.
        """
        items = self._var.get()
        if context is None:
            if not items:
                raise IndexError("pop from an empty TransactionStack")
            self._var.set(items[:-1])
            return items[-1]

        for index in range(len(items) - 1, -1, -1):
            if items[index] is context:
                self._var.set(items[:index])
                return context
        self._var.set(())
        return None
