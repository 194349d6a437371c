"""Results of pure functions of short lists of text, kept for the same strings.

Every event of a client with the default options carries ``sys.argv`` in its ``extra``, and
scrubbing and serializing that same list again for each event was a tenth of the cost of a
message capture. A scrub or a serialization of a list of ``str`` depends only on the strings,
so a result can be reused whenever the same strings come again.
"""

from __future__ import annotations

from itertools import repeat
from operator import is_

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Tuple

__all__ = ["TextListMemo"]

#: lists longer than this, or with more characters in all, are not kept (the memo stays small:
#: at most MAX_ENTRIES * MAX_CHARS characters of keys, and as much of results)
MAX_ITEMS = 64
MAX_CHARS = 2048
MAX_ENTRIES = 16


class TextListMemo:
    """``compute(value)`` for a list or tuple of ``str`` (exactly), from memory when it was
    computed for the very same string objects before; other values are computed every time.

    ``compute`` must be a pure function of the strings (same strings, equal result) and its
    results must not be changed by their users: share only immutable results, or copy them.
    Entries are found by the identity of the first string and checked item by item with
    ``is``: no code of the items runs (a ``str`` subclass could compare equal to a string and
    be treated otherwise), and a remembered string cannot be freed, so its id is not reused.
    Thread-safe: at worst two threads compute the same result.
    """

    __slots__ = ("_compute", "_results")

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        self._compute = compute
        self._results: Dict[int, Tuple[Tuple[str, ...], Any]] = {}

    def __call__(self, value: Any) -> Any:
        t = type(value)
        if (t is not list and t is not tuple) or not value:
            return self._compute(value)
        results = self._results
        entry = results.get(id(value[0]))
        if entry is not None:
            items = entry[0]
            if len(items) == len(value) and all(map(is_, value, items)):
                return entry[1]
        if (
            len(value) > MAX_ITEMS
            or not all(map(is_, map(type, value), repeat(str)))
            or sum(map(len, value)) > MAX_CHARS
        ):
            return self._compute(value)
        items = tuple(value)
        result = self._compute(value)
        if len(results) >= MAX_ENTRIES:
            results.clear()
        results[id(items[0])] = (items, result)
        return result
