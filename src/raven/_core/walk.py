"""The value walker behind ``raven.utils.serializer.transform``: one bounded pass, no exceptions.

raven 6.10 asked every registered serializer ``can(value)`` in turn for every value, which made
frame locals the most expensive part of a capture. Here the built-in rules (same output as 6.10)
are decided by exact type first, then once per type for subclasses; the rules that depend on the
value itself (``__sentry__``, serializers added with ``register()``) are consulted only for types
no built-in rule claims. Depth, breadth, string length and cycles are bounded during the walk,
and a value whose ``repr``/iteration raises becomes the text of its type.
"""

from __future__ import annotations

import types
from contextvars import ContextVar
from itertools import islice

from raven._core.memo import TextListMemo
from raven._core.plain import MAX_CONTAINERS, bounded_repr

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

__all__ = ["Walker", "get_walker", "prescrubbed_stacktraces"]

#: ids of the stacktraces whose locals a scrubbing walker already scrubbed while serializing
#: them (see ``SanitizeKeysProcessor.locals_scrubber``); set by the client around processors.
#: Here rather than in ``raven.processors``, so that the client can leave that module
#: unimported until its first event.
prescrubbed_stacktraces: ContextVar[frozenset] = ContextVar(
    "raven_prescrubbed_stacktraces", default=frozenset()
)

# kinds a type can be resolved to (cached per type)
_SEQ, _DICT, _STR, _BYTES, _SENTRY, _BOOL, _FLOAT, _INT, _FUNC, _NAMEDTUPLE, _OTHER = range(11)

_kind_cache: Dict[type, int] = {}

#: ints below this and strings shorter than this cannot hold a card number, token or key,
#: so the scrubbing walk leaves them alone
BIG_INT = 10**12
SHORT_STR = 11
_KIND_CACHE_MAX = 2048
#: dict keys up to this long have their quoted form remembered, up to this many keys per walker
KEY_FORM_MAX = 100
KEY_FORMS = 4096


def _type_name(value: Any) -> str:
    try:
        return str(type(value))
    except Exception:  # pragma: no cover - str() of a class only fails with a hostile metaclass
        return "<unknown type>"


def _is_namedtuple_type(t: type) -> bool:
    return issubclass(t, tuple) and hasattr(t, "_fields") and hasattr(t, "_asdict")


def _resolve_kind(t: type) -> int:
    """The built-in rule for a type that is not one of the exact fast-path types."""
    if _is_namedtuple_type(t):
        kind = _NAMEDTUPLE
    elif issubclass(t, (tuple, list, set, frozenset)):
        kind = _SEQ
    elif issubclass(t, dict):
        kind = _DICT
    elif issubclass(t, str):
        kind = _STR
    elif issubclass(t, (bytes, bytearray)):
        kind = _BYTES
    elif not isinstance(t, type) or callable(getattr(t, "__sentry__", None)):
        kind = _SENTRY
    elif issubclass(t, bool):
        kind = _BOOL
    elif issubclass(t, float):
        kind = _FLOAT
    elif issubclass(t, int):
        kind = _INT
    elif issubclass(t, types.FunctionType):
        kind = _FUNC
    else:
        kind = _OTHER
    if len(_kind_cache) >= _KIND_CACHE_MAX:
        _kind_cache.clear()
    _kind_cache[t] = kind
    return kind


class _Seen(set):
    """The ids on the current path, plus what is left of the walk's container budget.

    No ``__init__``: one is made per walked value, and set's own constructor is the cheap one;
    ``left`` starts as the class default and becomes an instance attribute when first spent
    (each container walked counts one; a plain set, from a 6.10-style serializer's recursion,
    has no budget).
    """

    left = MAX_CONTAINERS


class Walker:
    """Transforms values with fixed limits; one instance per set of limits, shared by threads.

    Args:
        string_max_length: strings (and reprs) are cut to this many characters.
        list_max_length: at most this many items of a list, set, tuple or dict are kept.
        max_depth: containers nested this deep become their (cut) ``repr``.
        extra: serializer instances added with ``register()``, asked only about values that no
            built-in rule claims.
    """

    __slots__ = (
        "extra",
        "list_max_length",
        "max_depth",
        "scrub",
        "string_max_length",
        "top",
        "values",
        "walk",
    )

    def __init__(
        self,
        string_max_length: int,
        list_max_length: int,
        max_depth: int = 6,
        extra: Optional[List[Any]] = None,
        scrub: Optional[Tuple[Callable[[Any], bool], Callable[[str], str], str]] = None,
    ) -> None:
        self.string_max_length = string_max_length
        self.list_max_length = list_max_length
        self.max_depth = max_depth
        self.extra = extra if extra is not None else []
        #: (key_matches, scrub_text, mask): scrub while walking, exactly as the default
        #: processor would afterwards (saves a second pass over frame locals)
        self.scrub = scrub
        self.walk, self.top, self.values = self._build()

    def __call__(self, value: Any) -> Any:
        return self.walk(value, 0, _Seen())

    def transform(self, value: Any, _depth: int = 0, **_kwargs: Any) -> Any:
        """The 6.10 ``manager.transform`` signature, used by custom serializers' ``recurse``."""
        return self.walk(value, _depth, _Seen())

    def _build(self) -> Tuple[Callable[[Any, int, set], Any], Callable[[Any], Any], Any]:
        """``(walk, top, values)``: closures over the limits, for the fewest lookups per value.

        ``walk(value, depth, seen)`` is the recursion; ``top(value)`` walks a value on its own
        (the same as calling the walker, one Python frame cheaper); ``values(items)`` is
        ``{k: top(v) for k, v in items}``, with lists of strings remembered.
        """
        smax = self.string_max_length
        lmax = self.list_max_length
        maxd = self.max_depth
        extra = self.extra
        key_matches, scrub_text, mask = self.scrub or (None, None, None)
        short = min(SHORT_STR, smax + 1)  # strings this short need neither cutting nor scrubbing
        # sequences this short are neither cut (list_max_length) nor too deep (max_depth)
        few = min(8, lmax) if maxd > 0 else -1
        key_cache = getattr(getattr(key_matches, "__self__", None), "_key_cache", None)
        if key_cache is None:
            key_cache = {}
        #: str key -> (its quoted form, whether it masks its value)
        key_forms: Dict[str, Tuple[str, Any]] = {}
        kind_cache = _kind_cache
        resolve = _resolve_kind
        walker = self

        def cut_repr(value: Any) -> str:
            if isinstance(value, (dict, list, tuple, set, frozenset)):
                return bounded_repr(value, smax)  # a full repr may be exponential
            try:
                r = repr(value)
            except Exception:
                return _type_name(value)
            if type(r) is not str:  # pragma: no cover - repr() enforces str
                return _type_name(value)
            return r if len(r) <= smax else r[:smax]

        def walk_items(value: Any, pairs: Iterable[Tuple[Any, Any]], depth: int, seen: set) -> Any:
            vid = id(value)
            if vid in seen:
                return "<...>"
            if depth >= maxd:
                return "'" + cut_repr(value) + "'"
            left = getattr(seen, "left", None)  # the budget, spent here without a call
            if left is not None:  # (None: a plain set from a 6.10-style serializer)
                seen.left = left - 1  # type: ignore[attr-defined]
                if left <= 0:
                    return "'" + cut_repr(value) + "'"
            seen.add(vid)
            d1 = depth + 1
            out = {}
            for k, v in islice(pairs, lmax):
                # the same keys come again and again (names of locals, of fields): their
                # quoted form and whether they mask their value are remembered together
                entry = key_forms.get(k) if type(k) is str else None
                if entry is None:
                    if type(k) is str:
                        key = f"'{k if len(k) <= smax else k[:smax]}'"
                    else:
                        key = walk(k, d1, seen)
                        if type(key) is not str:
                            key = "None" if key is None else str(key)
                    hit: Any = False  # asked only about keys with a value (as the processor)
                    if key_matches is not None and v is not None:
                        hit = key_cache.get(key)
                        if hit is None:
                            hit = key_matches(key)
                    if (
                        type(k) is str
                        and len(k) <= KEY_FORM_MAX
                        and (key_matches is None or v is not None)
                    ):
                        if len(key_forms) >= KEY_FORMS:
                            key_forms.clear()
                        key_forms[k] = (key, hit)
                else:
                    key, hit = entry
                if hit and v is not None:
                    out[key] = mask
                    continue
                if type(v) is int and -BIG_INT < v < BIG_INT:
                    out[key] = f"{v}"  # the most common leaf, without a call
                else:
                    out[key] = walk(v, d1, seen)
            seen.discard(vid)
            return out

        def walk_seq(value: Any, items: Iterable[Any], depth: int, seen: set) -> Any:
            vid = id(value)
            if vid in seen:
                return "<...>"
            if depth >= maxd:
                return "'" + cut_repr(value) + "'"
            left = getattr(seen, "left", None)  # the budget, spent here without a call
            if left is not None:  # (None: a plain set from a 6.10-style serializer)
                seen.left = left - 1  # type: ignore[attr-defined]
                if left <= 0:
                    return "'" + cut_repr(value) + "'"
            seen.add(vid)
            d1 = depth + 1
            # small ints and short strings inline: most list items are such leaves (an
            # f-string of an exact int or str is its repr or itself, with no call at all)
            out = tuple(
                [
                    f"{x}"
                    if type(x) is int and -BIG_INT < x < BIG_INT
                    else (f"'{x}'" if type(x) is str and len(x) < short else walk(x, d1, seen))
                    for x in items
                ]
            )
            seen.discard(vid)
            return out

        def walk_other(value: Any, t: type, depth: int, seen: set) -> Any:
            kind = kind_cache.get(t)
            if kind is None:
                kind = resolve(t)
            if kind == _OTHER:
                if not isinstance(value, type) and callable(getattr(value, "__sentry__", None)):
                    kind = _SENTRY
                else:
                    for serializer in extra:
                        if serializer.can(value):
                            return serializer.serialize(
                                value,
                                string_max_length=smax,
                                list_max_length=lmax,
                                max_depth=maxd,
                                _depth=depth,
                            )
                    return cut_repr(value)
            if kind == _SEQ:
                if isinstance(value, (list, tuple)):
                    return walk_seq(value, value[:lmax], depth, seen)
                return walk_seq(value, islice(value, lmax), depth, seen)
            if kind == _DICT:
                return walk_items(value, value.items(), depth, seen)
            if kind == _STR:
                s = str.__str__(value)
                return "'" + (s if len(s) <= smax else s[:smax]) + "'"
            if kind == _BYTES:
                return repr(bytes(value[:smax]))
            if kind == _NAMEDTUPLE:
                # field names are identifiers, sent as they are (not repr-quoted like dict keys)
                fields = walk_items(value, value._asdict().items(), depth, seen)
                if type(fields) is dict:
                    return {k[1:-1]: v for k, v in fields.items()}
                return fields
            if kind == _SENTRY:
                vid = id(value)
                if vid in seen or depth >= maxd:
                    return "<...>" if vid in seen else "'" + cut_repr(value) + "'"
                seen.add(vid)
                out = walk(value.__sentry__(), depth + 1, seen)
                seen.discard(vid)
                return out
            if kind == _BOOL:
                return "True" if value else "False"
            if kind == _FLOAT:
                return float.__repr__(value)
            if kind == _INT:
                return int.__repr__(value)
            # _FUNC
            return "<function %s from %s at 0x%x>" % (
                getattr(value, "__name__", "?"),
                getattr(value, "__module__", "?"),
                id(value),
            )

        def walk(value: Any, depth: int, seen: set) -> Any:
            try:
                t = type(value)
                if t is str:
                    if scrub_text is not None and len(value) >= SHORT_STR:
                        return scrub_text(f"'{value if len(value) <= smax else value[:smax]}'")
                    return f"'{value if len(value) <= smax else value[:smax]}'"
                if value is None:
                    return None
                if t is int:
                    if scrub_text is not None and not -BIG_INT < value < BIG_INT:
                        return scrub_text(repr(value))
                    return repr(value)
                if t is dict:
                    return walk_items(value, value.items(), depth, seen)
                if t is list or t is tuple:
                    return walk_seq(value, value[:lmax], depth, seen)
                if t is bool:
                    return "True" if value else "False"
                if t is float:
                    return repr(value)
                return walk_other(value, t, depth, seen)
            except RecursionError:
                return _type_name(value)
            except Exception:
                return _type_name(value)

        def top(value: Any) -> Any:
            # the leaves most values are, without a walk: short strings (neither cut nor
            # scrubbed), ints too small to hold a card number, None; and a list or tuple
            # without the call to ``walk``
            t = type(value)
            if t is str and len(value) < short:
                return f"'{value}'"
            if t is int and -BIG_INT < value < BIG_INT:
                return repr(value)
            if value is None:
                return None
            if t is list or t is tuple:
                if len(value) <= few:
                    # a few leaves (message params, small lists): no walk state at all
                    out = []
                    for x in value:
                        tx = type(x)
                        if tx is str and len(x) < short:
                            out.append(f"'{x}'")
                        elif tx is int and -BIG_INT < x < BIG_INT:
                            out.append(f"{x}")
                        else:
                            break
                    else:
                        return tuple(out)
                try:
                    return walk_seq(value, value[:lmax], 0, _Seen())
                except Exception:  # as ``walk`` would
                    return _type_name(value)
            return walk(value, 0, _Seen())

        # a list of str becomes a tuple of str: immutable, so one result can serve many events
        text_list = TextListMemo(top)

        def values(items: Iterable[Tuple[Any, Any]]) -> Dict[Any, Any]:
            # each value walked on its own (its own budget), as ``top`` does; lists of strings
            # (``sys.argv``) are mostly the same from one event to the next
            return {
                k: text_list(v) if type(v) is list or type(v) is tuple else top(v) for k, v in items
            }

        del walker
        return walk, top, values


_walkers: Dict[Tuple[int, int, int, int], Walker] = {}


def get_walker(
    string_max_length: int, list_max_length: int, max_depth: int = 6, extra: Any = None
) -> Walker:
    """A shared :class:`Walker` for these limits (built once; the cache key includes ``extra``)."""
    key = (string_max_length, list_max_length, max_depth, id(extra))
    w = _walkers.get(key)
    if w is None:
        if len(_walkers) > 64:
            _walkers.clear()
        w = _walkers[key] = Walker(string_max_length, list_max_length, max_depth, extra)
    return w
