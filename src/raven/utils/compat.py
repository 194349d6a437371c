"""Python 3 aliases under raven 6.10's six-style names, kept only for code that imports them.

New code should use the standard library directly; nothing inside raven imports this module
except to re-export it.
"""

from __future__ import annotations

import builtins
import http.client as httplib
import importlib
import io
import urllib.parse as urlparse
import urllib.request as urllib2
import warnings
from collections.abc import Iterator as _Iter
from queue import Queue
from types import CodeType, TracebackType
from urllib.error import HTTPError
from urllib.parse import quote as urllib_quote

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, NoReturn, Optional

__all__ = [
    "PY2",
    "PY3",
    "BytesIO",
    "HTTPError",
    "Iterator",
    "Queue",
    "StringIO",
    "advance_iterator",
    "b",
    "binary_type",
    "callable",
    "check_threads",
    "class_types",
    "exec_",
    "get_code",
    "httplib",
    "integer_types",
    "iteritems",
    "iterkeys",
    "iterlists",
    "itervalues",
    "next",
    "raise_from",
    "reraise",
    "string_types",
    "text_type",
    "u",
    "urllib2",
    "urllib_quote",
    "urlparse",
]

PY2 = False
PY3 = True

string_types = (str,)
integer_types = (int,)
class_types = (type,)
text_type = str
binary_type = bytes

StringIO = io.StringIO
BytesIO = io.BytesIO

# On Python 2 this was a base class that mapped ``next`` onto ``__next__``; Python 3 needs none.
Iterator = object

next = builtins.next
advance_iterator = builtins.next
callable = builtins.callable
exec_ = builtins.exec


def iterkeys(d: Any, **kw: Any) -> _Iter[Any]:
    """Iterate a mapping's keys (``d.keys()``)."""
    return iter(d.keys(**kw))


def itervalues(d: Any, **kw: Any) -> _Iter[Any]:
    """Iterate a mapping's values (``d.values()``)."""
    return iter(d.values(**kw))


def iteritems(d: Any, **kw: Any) -> _Iter[Any]:
    """Iterate a mapping's ``(key, value)`` pairs (``d.items()``)."""
    return iter(d.items(**kw))


def iterlists(d: Any, **kw: Any) -> _Iter[Any]:
    """Iterate a multi-value mapping's ``(key, list)`` pairs (werkzeug's ``MultiDict.lists()``)."""
    return iter(d.lists(**kw))


def b(s: str) -> bytes:
    """Turn a str literal into bytes one-to-one, as a Python 2 byte-string literal was."""
    return s.encode("latin-1")


def u(s: str) -> str:
    """Return ``s``: every Python 3 str literal is already text."""
    return s


def reraise(
    tp: Optional[type[BaseException]],
    value: Optional[BaseException],
    tb: Optional[TracebackType] = None,
) -> NoReturn:
    """Raise ``value`` (or a new ``tp()``) with traceback ``tb``, like Python 2's 3-arg raise."""
    if value is None:
        if tp is None:
            raise TypeError("reraise() needs an exception type or value")
        value = tp()
    try:
        if value.__traceback__ is not tb:
            raise value.with_traceback(tb)
        raise value
    finally:
        # Break the frame -> exception -> traceback -> frame cycle.
        value = None
        tb = None


def raise_from(value: BaseException, from_value: Optional[BaseException]) -> NoReturn:
    """Raise ``value`` chained to ``from_value`` (``raise value from from_value``)."""
    try:
        raise value from from_value
    finally:
        del value


def get_code(func: Any) -> CodeType:
    """Return a function's code object; a TypeError names the type when it has none."""
    code = getattr(func, "__code__", None)
    if code is None:
        raise TypeError(f"cannot get the code object of a {type(func).__name__!r} object")
    return code


_FALSE_VALUES = frozenset({"false", "off", "no", "0", ""})


def _option_text(value: Any) -> str:
    # uWSGI hands options over as bytes on Python 3 (and bare flags as True).
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value).strip().lower()


def check_threads() -> None:
    """Warn when running under uWSGI with threads disabled.

    uWSGI turns off the GIL-releasing thread machinery unless ``enable-threads`` (or
    ``threads``, which implies it) is set; a background sender thread then never runs, so
    events queue up and are never delivered. Outside uWSGI this does nothing.
    """
    try:
        opt = importlib.import_module("uwsgi").opt
    except ImportError:
        return

    if "threads" in opt or b"threads" in opt:
        return
    enabled = opt.get("enable-threads", opt.get(b"enable-threads", "0"))
    if _option_text(enabled) in _FALSE_VALUES:
        warnings.warn(
            "uWSGI is running with threads disabled, so raven's background transport "
            'cannot send events; enable the "enable-threads" option of uWSGI.',
            RuntimeWarning,
            stacklevel=2,
        )
