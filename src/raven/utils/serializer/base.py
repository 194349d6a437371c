"""The ``Serializer`` base class for custom serializers, and raven 6.10's built-in rule classes.

The built-in classes document the rules and keep their import paths; the work itself is done
by :mod:`raven._core.walk`, which applies the same rules without asking each class in turn.
"""

from __future__ import annotations

import collections
import types

from raven.utils.serializer.manager import manager as serialization_manager

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any

__all__ = ("Serializer",)


def has_sentry_metadata(value: Any) -> bool:
    try:
        return callable(value.__getattribute__("__sentry__"))
    except Exception:
        return False


class Serializer:
    """Base of a custom serializer: register a subclass with ``raven.utils.serializer.register``.

    ``can(value)`` says whether it handles a value no built-in rule claims; ``serialize`` returns
    JSON-safe data and may call ``recurse`` for nested values.
    """

    types: tuple = ()

    def __init__(self, manager: Any) -> None:
        self.manager = manager

    def can(self, value: Any) -> bool:
        return isinstance(value, self.types)

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        return value

    def recurse(self, value: Any, max_depth: int = 6, _depth: int = 0, **kwargs: Any) -> Any:
        _depth += 1
        if _depth >= max_depth:
            try:
                return str(repr(value))[: kwargs.get("string_max_length")]
            except Exception:
                return str(type(value))
        return self.manager.transform(value, max_depth=max_depth, _depth=_depth, **kwargs)


def _cut(value: Any, kwargs: dict) -> Any:
    return value[: kwargs.get("string_max_length")]


class NamedtupleSerializer(Serializer):
    types = (tuple,)

    def can(self, value: Any) -> bool:
        return isinstance(value, tuple) and hasattr(value, "_fields")

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        limit = kwargs.get("list_max_length") or float("inf")
        items = list(value._asdict().items())
        return {k: self.recurse(v, **kwargs) for n, (k, v) in enumerate(items) if n < limit}


class IterableSerializer(Serializer):
    types = (tuple, list, set, frozenset)

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        limit = kwargs.get("list_max_length") or float("inf")
        return tuple(self.recurse(o, **kwargs) for n, o in zip(range(10**9), value) if n < limit)


class DictSerializer(Serializer):
    types = (dict,)

    def make_key(self, key: Any) -> str:
        return key if isinstance(key, str) else str(key)

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        limit = kwargs.get("list_max_length") or float("inf")
        out = {}
        for n, (k, v) in enumerate(value.items()):
            if n >= limit:
                break
            out[self.make_key(self.recurse(k, **kwargs))] = self.recurse(v, **kwargs)
        return out


class UnicodeSerializer(Serializer):
    types = (str,)

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        return "'%s'" % (_cut(value, kwargs),)


class StringSerializer(Serializer):
    types = (bytes,)

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        return repr(_cut(value, kwargs))


class TypeSerializer(Serializer):
    types = (type,)

    def can(self, value: Any) -> bool:
        return not isinstance(value, type) and has_sentry_metadata(value)

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        return self.recurse(value.__sentry__(), **kwargs)


class BooleanSerializer(Serializer):
    types = (bool,)

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        return repr(bool(value))


class FloatSerializer(Serializer):
    types = (float,)

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        return repr(float(value))


class IntegerSerializer(Serializer):
    types = (int,)

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        return repr(int(value))


class FunctionSerializer(Serializer):
    types = (types.FunctionType,)

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        return "<function %s from %s at 0x%x>" % (value.__name__, value.__module__, id(value))


for _cls in (
    NamedtupleSerializer,
    IterableSerializer,
    DictSerializer,
    UnicodeSerializer,
    StringSerializer,
    TypeSerializer,
    BooleanSerializer,
    FloatSerializer,
    IntegerSerializer,
    FunctionSerializer,
):
    serialization_manager._register_builtin(_cls)

# kept for code that reached for it through this module
namedtuple = collections.namedtuple
