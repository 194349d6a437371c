"""The serializer registry (``register``) and ``transform``, the entry point for all values."""

from __future__ import annotations

import logging

from raven._core.walk import get_walker

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Iterator, List, Optional

__all__ = ["SerializationManager", "Serializer", "manager", "register", "transform"]

logger = logging.getLogger("sentry.errors.serializer")

DEFAULT_STRING_MAX_LENGTH = 400
DEFAULT_LIST_MAX_LENGTH = 50


class _Recurser:
    """What custom serializers see as their ``manager``: ``transform`` with per-call limits."""

    logger = logger

    def transform(self, value: Any, **kwargs: Any) -> Any:
        walker = get_walker(
            kwargs.get("string_max_length") or DEFAULT_STRING_MAX_LENGTH,
            kwargs.get("list_max_length") or DEFAULT_LIST_MAX_LENGTH,
            kwargs.get("max_depth") or 6,
            manager.extra,
        )
        return walker.walk(value, kwargs.get("_depth", 0), set())


class SerializationManager:
    """Holds the serializer classes; built-ins are applied by the walker, others on demand."""

    logger = logger

    def __init__(self) -> None:
        self._registry: List[type] = []
        self._builtin: set[type] = set()
        #: instances of the non-built-in serializers, shared (mutated in place) with the walkers
        self.extra: List[Any] = []

    @property
    def serializers(self) -> Iterator[type]:
        yield from self._registry

    def register(self, serializer: type) -> type:
        if serializer not in self._registry:
            self._registry.append(serializer)
            if serializer not in self._builtin:
                self.extra.append(serializer(_Recurser()))
        return serializer

    def _register_builtin(self, serializer: type) -> type:
        self._builtin.add(serializer)
        return self.register(serializer)


class Serializer:
    """raven 6.10's per-call transformer object: ``Serializer(manager).transform(value)``."""

    logger = logger

    def __init__(self, manager: SerializationManager) -> None:
        self.manager = manager
        self.context: set[int] = set()

    def close(self) -> None:
        self.context = set()

    def transform(self, value: Any, **kwargs: Any) -> Any:
        walker = get_walker(
            kwargs.get("string_max_length") or DEFAULT_STRING_MAX_LENGTH,
            kwargs.get("list_max_length") or DEFAULT_LIST_MAX_LENGTH,
            kwargs.get("max_depth") or 6,
            self.manager.extra,
        )
        return walker.walk(value, kwargs.get("_depth", 0), self.context)


manager = SerializationManager()
register = manager.register


def transform(value: Any, manager: SerializationManager = manager, **kwargs: Any) -> Any:
    """Turn ``value`` into JSON-safe data the way raven 6.10 did (strings arrive repr-quoted).

    Keyword arguments: ``string_max_length`` (default 400), ``list_max_length`` (default 50)
    and ``max_depth`` (default 6). Never raises.
    """
    walker = get_walker(
        kwargs.get("string_max_length") or DEFAULT_STRING_MAX_LENGTH,
        kwargs.get("list_max_length") or DEFAULT_LIST_MAX_LENGTH,
        kwargs.get("max_depth") or 6,
        manager.extra,
    )
    return walker(value)


def client_walker(string_max_length: Optional[int], list_max_length: Optional[int]) -> Any:
    """The walker a client with these limits uses (resolved once per client)."""
    return get_walker(
        string_max_length or DEFAULT_STRING_MAX_LENGTH,
        list_max_length or DEFAULT_LIST_MAX_LENGTH,
        6,
        manager.extra,
    )
