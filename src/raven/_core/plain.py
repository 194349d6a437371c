"""Bounded conversion of free-form data (breadcrumb data, raw interfaces) to plain JSON values.

Unlike the 6.10 serializer used for locals and ``extra``, strings stay unquoted here: these
values are shown as JSON by the server, as raven 6.10 sent them, but a hostile object can no
longer break the encoding, and size is bounded.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, List, Optional


__all__ = ["bounded_repr", "plain"]


#: containers visited by one :func:`plain` call at most: depth and breadth bounds alone still
#: allow 50**5 of them, and a structure that shares its parts (``x = [x, x]`` twenty times)
#: is exponential to walk or ``repr`` in full
MAX_CONTAINERS = 2000

_reprs: Dict[int, Any] = {}


def bounded_repr(value: Any, max_string: int) -> str:
    """``repr(value)`` cut to ``max_string``, built without visiting more than a few hundred
    parts of a container (a plain ``repr`` of a deep or shared structure may never finish)."""
    r = _reprs.get(max_string)
    if r is None:
        r = _make_repr()
        r.maxlevel = 3
        r.maxdict = r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = 10
        r.maxstring = r.maxother = r.maxlong = max(max_string, 12)
        if len(_reprs) > 16:
            _reprs.clear()
        _reprs[max_string] = r
    try:
        text = r.repr(value)
    except Exception:
        return _type_text(value)
    return text if len(text) <= max_string else text[:max_string]


def _make_repr() -> Any:
    import reprlib

    class _FailFast(reprlib.Repr):
        """reprlib, except that a part whose ``repr`` raises fails the whole text (as ``str``
        of the container would), instead of being tried again for every part."""

        def repr_instance(self, x: Any, level: int) -> str:
            s = repr(x)
            if len(s) > self.maxother:
                i = max(0, (self.maxother - 3) // 2)
                j = max(0, self.maxother - 3 - i)
                s = s[:i] + "..." + s[len(s) - j :]
            return s

    return _FailFast()


def _type_text(value: Any) -> str:
    try:
        return str(type(value))
    except Exception:  # pragma: no cover
        return "<unrepresentable>"


#: types whose ``repr`` raised (a recursing ``__repr__`` costs a thousand frames per call):
#: their next instances are named by type at once
_failing_reprs: Dict[type, bool] = {}


def _safe_repr(value: Any, max_string: int) -> str:
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return bounded_repr(value, max_string)
    t = type(value)
    if t in _failing_reprs:
        return _type_text(value)
    try:
        r = repr(value)
    except Exception:
        if len(_failing_reprs) > 256:
            _failing_reprs.clear()
        _failing_reprs[t] = True
        return _type_text(value)
    return r if len(r) <= max_string else r[:max_string]


def plain(
    value: Any,
    max_string: int = 1024,
    max_items: int = 50,
    max_depth: int = 5,
    _depth: int = 0,
    _seen: frozenset = frozenset(),
    _budget: Optional[List[int]] = None,
) -> Any:
    """``value`` as str/int/float/bool/None/list/dict, cut to the given limits; never raises."""
    if _budget is None:
        _budget = [MAX_CONTAINERS]
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
            _budget[0] -= 1
            if _depth >= max_depth or _budget[0] < 0:
                return bounded_repr(value, max_string)
            seen = _seen | {id(value)}
            d = _depth + 1
            if isinstance(value, dict):
                out = {}
                for i, (k, v) in enumerate(value.items()):
                    if i >= max_items:
                        break
                    if type(k) is str:
                        key = k
                    elif isinstance(k, (bytes, bytearray)):
                        key = bytes(k[:max_string]).decode("utf-8", "replace")
                    else:
                        key = _safe_repr(k, max_string)
                    out[key] = plain(v, max_string, max_items, max_depth, d, seen, _budget)
                return out
            items = []
            for i, v in enumerate(value):
                if i >= max_items:
                    break
                items.append(plain(v, max_string, max_items, max_depth, d, seen, _budget))
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
