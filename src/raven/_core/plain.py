"""Bounded conversion of free-form data (breadcrumb data, raw interfaces) to plain JSON values.

Unlike the 6.10 serializer used for locals and ``extra``, strings stay unquoted here: these
values are shown as JSON by the server, as raven 6.10 sent them, but a hostile object can no
longer break the encoding, and size is bounded.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any


__all__ = ["plain"]


def _safe_repr(value: Any, max_string: int) -> str:
    try:
        r = repr(value)
    except Exception:
        try:
            return str(type(value))
        except Exception:  # pragma: no cover
            return "<unrepresentable>"
    return r if len(r) <= max_string else r[:max_string]


def plain(
    value: Any,
    max_string: int = 1024,
    max_items: int = 50,
    max_depth: int = 5,
    _depth: int = 0,
    _seen: frozenset = frozenset(),
) -> Any:
    """``value`` as str/int/float/bool/None/list/dict, cut to the given limits; never raises."""
    try:
        t = type(value)
        if t is str:
            return value if len(value) <= max_string else value[:max_string]
        if value is None or t is bool or t is int:
            return value
        if t is float:
            return value if value == value and abs(value) != float("inf") else repr(value)
        if isinstance(value, (dict, list, tuple, set, frozenset)):
            if id(value) in _seen:
                return "<...>"
            if _depth >= max_depth:
                return _safe_repr(value, max_string)
            seen = _seen | {id(value)}
            d = _depth + 1
            if isinstance(value, dict):
                out = {}
                for i, (k, v) in enumerate(value.items()):
                    if i >= max_items:
                        break
                    key = k if type(k) is str else _safe_repr(k, max_string)
                    out[key] = plain(v, max_string, max_items, max_depth, d, seen)
                return out
            items = []
            for i, v in enumerate(value):
                if i >= max_items:
                    break
                items.append(plain(v, max_string, max_items, max_depth, d, seen))
            return items
        if isinstance(value, str):
            return plain(str.__str__(value), max_string)
        if isinstance(value, (bytes, bytearray)):
            return bytes(value[:max_string]).decode("utf-8", "replace")
        if isinstance(value, (int, float)):
            return plain(float(value) if isinstance(value, float) else int(value))
        return _safe_repr(value, max_string)
    except Exception:
        return _safe_repr(type(value), max_string)
