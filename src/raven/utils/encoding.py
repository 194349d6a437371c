"""Text coercion that never raises: values from the host app may have broken ``__str__``."""

from __future__ import annotations

import warnings
from decimal import Decimal

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any

__all__ = [
    "bounded_text",
    "force_text",
    "is_protected_type",
    "to_string",
    "to_unicode",
    "transform",
]

_PROTECTED = (type(None), int, float, Decimal)


def is_protected_type(obj: Any) -> bool:
    """Whether ``force_text(strings_only=True)`` should leave ``obj`` as it is.

    raven 6.10 imported a module named ``Decimal`` here and failed for every non-string;
    this version answers for None, numbers and dates as Django's helper of the same name does.
    """
    import datetime

    return isinstance(obj, (*_PROTECTED, datetime.datetime, datetime.date, datetime.time))


#: the built-in containers whose ``str`` is their ``repr``: built bounded here, because the
#: full text of a large or self-sharing structure (``x = [x, x]`` thirty times) never ends
_CONTAINERS = frozenset((list, tuple, dict, set, frozenset))
#: longer than any field these texts end up in (messages are cut at 8192)
_TEXT_MAX = 16384


def bounded_text(value: Any, limit: int = _TEXT_MAX) -> str:
    """``str(value)`` of a built-in container, cut to ``limit`` and built without visiting
    more than a few hundred of its parts."""
    from raven._core.plain import bounded_repr

    return bounded_repr(value, limit)


def force_text(
    s: Any, encoding: str = "utf-8", strings_only: bool = False, errors: str = "strict"
) -> Any:
    """Return ``s`` as ``str``; bytes are decoded with ``encoding``."""
    if isinstance(s, str):
        return s
    if strings_only and is_protected_type(s):
        return s
    if isinstance(s, (bytes, bytearray)):
        return bytes(s).decode(encoding, errors)
    if type(s) in _CONTAINERS:
        return bounded_text(s)
    if isinstance(s, BaseException):
        if type(s).__str__ is BaseException.__str__ and any(
            type(arg) in _CONTAINERS for arg in s.args
        ):
            return bounded_text(s.args[0] if len(s.args) == 1 else s.args)
        # an exception whose args hold bytes: join the decoded args like str() would
        try:
            return str(s)
        except Exception:
            return " ".join(force_text(arg, encoding, strings_only, errors) for arg in s.args)
    return str(s)


def to_unicode(value: Any) -> str:
    """``str(value)`` that cannot fail: falls back to the type's repr, then a fixed marker."""
    try:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value).decode("utf-8", "replace")
        return force_text(value)
    except Exception:
        try:
            return repr(type(value))
        except Exception:
            return "(Error decoding value)"


def to_string(value: Any) -> bytes:
    """UTF-8 bytes of ``value`` (which is coerced to text first when needed)."""
    if isinstance(value, bytes):
        return value
    return to_unicode(value).encode("utf-8", "replace")


def transform(value: Any, **kwargs: Any) -> Any:
    """Deprecated alias of :func:`raven.utils.serializer.transform`."""
    warnings.warn(
        "raven.utils.encoding.transform is deprecated; use raven.utils.serializer.transform",
        DeprecationWarning,
        stacklevel=2,
    )
    from raven.utils.serializer import transform as _transform

    return _transform(value, **kwargs)
