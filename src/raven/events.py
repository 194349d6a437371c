"""Event builders: turn an exception, a message or a query into the event's interface data.

``capture(**kwargs)`` of each class returns the keys it contributes to the event; the client
merges them (see :meth:`raven.base.Client.build_msg`). Class names and shapes are raven 6.10's.
"""

from __future__ import annotations

import logging
import sys

from raven.utils.encoding import _CONTAINERS, bounded_text, to_unicode
from raven.utils.stacks import get_stack_info, iter_traceback_frames

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Iterator, List, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from raven.base import Client

    ExcInfo = Tuple[Any, Any, Any]

__all__ = ("BaseEvent", "Exception", "Message", "Query")

#: this module defines its own ``Exception`` (the event type, 6.10's name): ``except`` clauses
#: here must name the builtin through this alias
_BuiltinException = Exception


#: exception trees wider or deeper than this are cut (an ExceptionGroup can hold thousands)
MAX_EXCEPTIONS = 100
#: messages and exception values are cut here (the server's own limit for messages)
MESSAGE_MAX_LENGTH = 8192


def _format_message(message: str, params: Any) -> Optional[str]:
    """``message % params`` with the raw params (6.10 left this to the server; Bugsink and
    other servers show the template instead). None when the params don't fit the template."""
    try:
        if isinstance(params, list):
            params = tuple(params)
        if isinstance(params, tuple):
            # copied only when a container needs bounding: most params are scalars
            for p in params:
                if type(p) in _CONTAINERS:
                    params = tuple(_Bounded(p) if type(p) in _CONTAINERS else p for p in params)
                    break
        elif type(params) is dict:  # %(name)s parameters
            params = {k: _Bounded(v) if type(v) in _CONTAINERS else v for k, v in params.items()}
        # ``message`` is text, so ``%`` gives text (to_unicode is not needed)
        return (message % params)[:MESSAGE_MAX_LENGTH]
    except _BuiltinException:
        return None


class _Bounded:
    """A container parameter that formats (``%s``, ``%r``) as its bounded text."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return bounded_text(self.value, MESSAGE_MAX_LENGTH)

    __repr__ = __str__


class BaseEvent:
    """An event type: ``capture(**kwargs)`` gives event data, ``to_string`` its message."""

    logger = logging.getLogger(__name__)
    _walker_transform = False

    def __init__(self, client: Client) -> None:
        self.client = client
        from raven.base import Client as _Client

        #: True when neither this event type nor the client overrides ``transform``: values
        #: then go straight to the client's walker, two Python calls fewer per value
        self._walker_transform = (
            type(self).transform is BaseEvent.transform
            and getattr(type(client), "transform", None) is _Client.transform
        )

    def to_string(self, data: Dict[str, Any]) -> str:
        raise NotImplementedError(
            "%s must define to_string(data)" % type(self).__name__
        )  # pragma: no cover - abstract

    def capture(self, **kwargs: Any) -> Dict[str, Any]:
        return {}

    def transform(self, value: Any) -> Any:
        return self.client.transform(value)


def _chained_exceptions(exc_info: ExcInfo) -> Iterator[ExcInfo]:
    """The caught exception, then its causes/contexts, newest first, each exception once."""
    yield exc_info
    exc = exc_info[1]
    seen = {id(exc)}
    while exc is not None:
        try:
            exc = exc.__cause__ if exc.__suppress_context__ else exc.__context__
        except AttributeError:
            return
        if exc is None or id(exc) in seen:
            return
        seen.add(id(exc))
        yield type(exc), exc, exc.__traceback__


def _exception_tree(exc_info: ExcInfo) -> List[Tuple[ExcInfo, Optional[int], str, bool]]:
    """Flatten an exception with its chain and group members (depth-first, root first).

    Each entry is ``(exc_info, parent_index, source, is_group)``; source names how the parent
    reached it (``__cause__``, ``__context__``, ``exceptions[i]``).
    """
    out: List[Tuple[ExcInfo, Optional[int], str, bool]] = []
    seen: set[int] = set()

    def visit(info: ExcInfo, parent: Optional[int], source: str) -> None:
        exc = info[1]
        if len(out) >= MAX_EXCEPTIONS or id(exc) in seen:
            return
        seen.add(id(exc))
        members = getattr(exc, "exceptions", None)
        is_group = _is_group(exc) and isinstance(members, (list, tuple))
        index = len(out)
        out.append((info, parent, source, is_group))
        if exc is None:
            return
        try:
            if exc.__suppress_context__:
                nxt, nsource = exc.__cause__, "__cause__"
            else:
                nxt, nsource = exc.__context__, "__context__"
        except AttributeError:
            nxt = None
        if is_group:
            for i, member in enumerate(members or ()):
                if isinstance(member, BaseException):
                    visit((type(member), member, member.__traceback__), index, "exceptions[%d]" % i)
        if nxt is not None:
            visit((type(nxt), nxt, nxt.__traceback__), index, nsource)

    visit(exc_info, None, "")
    return out


def _is_group(exc: Any) -> bool:
    group = getattr(sys.modules.get("builtins"), "BaseExceptionGroup", None)
    return group is not None and isinstance(exc, group)


class Exception(BaseEvent):
    """An exception with its chain: ``{'exception': {'values': [oldest, ..., caught]}}``.

    Exception groups (Python 3.11+) add their member exceptions, linked to the group through
    ``mechanism.exception_id``/``parent_id`` as Sentry expects.
    """

    name = "exception"

    def to_string(self, data: Dict[str, Any]) -> str:
        exc = data[self.name]["values"][-1]
        if exc["value"]:
            return "%s: %s" % (exc["type"], exc["value"])
        return str(exc["type"])

    def _get_value(self, exc_type: Any, exc_value: Any, exc_traceback: Any) -> Dict[str, Any]:
        client = self.client
        stack_info = get_stack_info(
            iter_traceback_frames(exc_traceback),
            transformer=getattr(client, "_locals_transform", client.transform),
            capture_locals=client.capture_locals,
        )
        exc_module = getattr(exc_type, "__module__", None)
        type_name = getattr(exc_type, "__name__", "<unknown>")
        return {
            "value": to_unicode(exc_value)[:MESSAGE_MAX_LENGTH] if exc_value is not None else "",
            "type": str(type_name),
            "module": to_unicode(exc_module) if exc_module else None,
            "stacktrace": stack_info,
        }

    def capture(self, exc_info: Any = None, **kwargs: Any) -> Dict[str, Any]:
        if not exc_info or exc_info is True:
            exc_info = sys.exc_info()
        if not exc_info or exc_info[0] is None:
            raise ValueError("No exception found: pass exc_info or call from an except block")
        if not _has_group(exc_info[1]):
            values = [self._get_value(*info) for info in _chained_exceptions(exc_info)]
            values.reverse()
        else:
            values = self._group_values(exc_info)
        return {
            "level": kwargs.get("level", logging.ERROR),
            self.name: {"values": values},
        }

    def _group_values(self, exc_info: ExcInfo) -> List[Dict[str, Any]]:
        values = []
        for index, (info, parent, source, is_group) in enumerate(_exception_tree(exc_info)):
            value = self._get_value(*info)
            mechanism: Dict[str, Any] = {
                "type": "chained" if parent is not None else "generic",
                "exception_id": index,
            }
            if parent is not None:
                mechanism["parent_id"] = parent
                mechanism["source"] = source
            if is_group:
                mechanism["is_exception_group"] = True
            value["mechanism"] = mechanism
            values.append(value)
        values.reverse()
        return values


def _has_group(exc: Any) -> bool:
    """Whether an exception group appears anywhere in the chain (only then add mechanisms)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if _is_group(exc):
            return True
        seen.add(id(exc))
        exc = (
            exc.__cause__
            if getattr(exc, "__suppress_context__", False)
            else getattr(exc, "__context__", None)
        )
    return False


class Message(BaseEvent):
    """A message with optional ``params`` and pre-``formatted`` text (the logentry interface)."""

    name = "sentry.interfaces.Message"

    def to_string(self, data: Dict[str, Any]) -> str:
        return str(data[self.name]["message"])

    def capture(  # type: ignore[override]  # 6.10's signature
        self, message: Any, params: Any = (), formatted: Optional[str] = None, **kwargs: Any
    ) -> Dict[str, Any]:
        if type(message) is not str:
            message = to_unicode(message)
        message = message[:MESSAGE_MAX_LENGTH]
        if formatted is None and params:
            formatted = _format_message(message, params)
        elif formatted is not None:
            formatted = to_unicode(formatted)[:MESSAGE_MAX_LENGTH]
        if self._walker_transform:
            params = self.client._walker.top(params)
        else:
            params = self.transform(params)
        return {
            self.name: {"message": message, "params": params, "formatted": formatted},
            "message": formatted or message,
        }


class Query(BaseEvent):
    """An SQL query and the engine that ran it."""

    name = "sentry.interfaces.Query"

    def to_string(self, data: Dict[str, Any]) -> str:
        return str(data[self.name]["query"])

    def capture(  # type: ignore[override]  # 6.10's signature
        self, query: Any, engine: Any = None, **kwargs: Any
    ) -> Dict[str, Any]:
        return {
            self.name: {
                "query": to_unicode(query)[:MESSAGE_MAX_LENGTH],
                "engine": to_unicode(engine),
            }
        }
