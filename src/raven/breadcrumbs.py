"""Breadcrumbs: the trail of log records, HTTP calls and app events leading to an event.

The logging hook is the hot path of the whole library: every log call an app makes passes it.
raven 6.10 wrapped ``Logger.debug``/``info``/… so it paid on every call, even those the logger's
level filters out (16x a bare filtered call). Here the hook sits on ``Logger.callHandlers``,
which logging only reaches for records that passed the level check and the logger's filters;
the record itself is stored, and turned into a crumb only if an event is actually sent.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from collections.abc import Mapping
from contextvars import ContextVar
from time import time

from raven._core.importhooks import when_imported
from raven._core.plain import bounded_repr, plain
from raven.utils import once
from raven.utils.encoding import to_unicode

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Deque, Dict, Iterable, List, Optional

__all__ = [
    "BlackholeBreadcrumbBuffer",
    "BreadcrumbBuffer",
    "hook_libraries",
    "ignore_logger",
    "install_logging_hook",
    "libraryhook",
    "make_buffer",
    "record",
    "record_breadcrumb",
    "register_logging_handler",
    "register_special_log_handler",
]

CATEGORY_MAX_LENGTH = 128
LEVEL_MAX_LENGTH = 16
MESSAGE_MAX_LENGTH = 1024

special_logging_handlers: List[Callable[..., Any]] = []
special_logger_handlers: Dict[str, Callable[..., Any]] = {}

logger = logging.getLogger("raven")

#: set while raven itself does I/O (sending events), so its own HTTP calls leave no crumbs
_suppressed: ContextVar[bool] = ContextVar("raven_breadcrumbs_suppressed", default=False)


def event_payload_considered_equal(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    return (
        a["type"] == b["type"]
        and a["level"] == b["level"]
        and a["message"] == b["message"]
        and a["category"] == b["category"]
        and a["data"] == b["data"]
    )


def _text(value: Any, limit: int) -> str:
    """``str(value)`` cut to ``limit``; a container's text is built bounded (its full ``str``
    may be huge, or exponential when it shares its parts)."""
    if type(value) is str:
        return value[:limit]
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return bounded_repr(value, limit)
    return to_unicode(value)[:limit]


def _format(result: Dict[str, Any], message_max_length: int) -> Dict[str, Any]:
    message = result.get("message")
    if type(message) is str:  # cut first: a 10 MB message costs nothing to cut
        result["message"] = message[:message_max_length] or None
    else:
        try:
            result["message"] = _text(message, message_max_length) if message else None
        except Exception:
            result["message"] = to_unicode(type(message))
    category = result.get("category")
    result["category"] = _text(category, CATEGORY_MAX_LENGTH) if category else None
    level = result.get("level")
    result["level"] = _text(level, LEVEL_MAX_LENGTH).lower() if level else None
    data = result.get("data")
    if data is not None:
        result["data"] = plain(data)
    return result


_STANDARD_RECORD_KEYS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _crumb_from_log_record(rec: logging.LogRecord) -> Dict[str, Any]:
    """The crumb for a log record (built only when an event carries it)."""
    msg, args = rec.msg, rec.args
    data: Dict[str, Any] = {
        k: v for k, v in rec.__dict__.items() if k not in _STANDARD_RECORD_KEYS and k[:1] != "_"
    }
    if isinstance(args, Mapping) and args:
        data.update(args)
    try:
        message = str(msg)
        if args:
            message = message % args
    except Exception:
        message = to_unicode(msg)
    return {
        "type": "default",
        "timestamp": rec.created,
        "level": rec.levelname,
        "message": message,
        "category": rec.name,
        "data": data,
    }


class BreadcrumbBuffer:
    """The last ``limit`` crumbs; formatting and processors run when an event takes them.

    Args:
        limit: how many crumbs are kept (oldest dropped first).
        message_max_length: crumb messages are cut to this length.
    """

    def __init__(self, limit: int = 100, message_max_length: int = MESSAGE_MAX_LENGTH) -> None:
        self.limit = limit
        self.message_max_length = message_max_length
        #: entries are log records, or ``[payload, processor]`` pairs
        self.buffer: Deque[Any] = deque(maxlen=limit)

    def record(
        self,
        timestamp: Optional[float] = None,
        level: Optional[str] = None,
        message: Optional[str] = None,
        category: Optional[str] = None,
        data: Optional[Dict[str, Any]] = None,
        type: Optional[str] = None,
        processor: Optional[Callable[[Dict[str, Any]], Any]] = None,
    ) -> None:
        try:
            given = bool(message or data or processor)
        except Exception:  # a value whose truth cannot be told is still a value
            given = True
        if not given:
            raise ValueError("You must pass either `message`, `data`, or `processor`")
        if timestamp is None:
            timestamp = time()
        payload = {
            "type": type or "default",
            "timestamp": float(timestamp),
            "level": level,
            "message": message,
            "category": category,
            "data": data,
        }
        if processor is None:
            payload = _format(payload, self.message_max_length)
        self.buffer.append([payload, processor])

    def _append_log(self, rec: logging.LogRecord) -> None:
        self.buffer.append(rec)

    def copy(self) -> BreadcrumbBuffer:
        new = type(self).__new__(type(self))
        new.limit = self.limit
        new.message_max_length = self.message_max_length
        new.buffer = deque(self.buffer, maxlen=self.limit)
        return new

    def clear(self) -> None:
        self.buffer.clear()

    def format(self, result: Dict[str, Any]) -> Dict[str, Any]:
        return _format(result, self.message_max_length)

    def get_buffer(self) -> List[Dict[str, Any]]:
        """The crumbs, oldest first, with processors applied and consecutive repeats dropped.

        A processor that raises loses its crumb (6.10 let the error escape into the capture).
        """
        rv: List[Dict[str, Any]] = []
        for entry in list(self.buffer):
            if type(entry) is list:
                payload, processor = entry
                if processor is not None:
                    try:
                        processor(payload)
                        payload = _format(payload, self.message_max_length)
                    except Exception:
                        logger.debug("breadcrumb processor failed; crumb dropped", exc_info=True)
                        payload = None
                    entry[0], entry[1] = payload, None
            else:
                try:
                    payload = _format(_crumb_from_log_record(entry), self.message_max_length)
                except Exception:
                    payload = None
            if payload is not None and (
                not rv or not event_payload_considered_equal(rv[-1], payload)
            ):
                rv.append(payload)
        return rv


class BlackholeBreadcrumbBuffer(BreadcrumbBuffer):
    """A buffer that keeps nothing (``enable_breadcrumbs=False``)."""

    def record(self, *args: Any, **kwargs: Any) -> None:
        pass

    def _append_log(self, rec: logging.LogRecord) -> None:
        pass


def make_buffer(enabled: bool = True) -> BreadcrumbBuffer:
    return BreadcrumbBuffer() if enabled else BlackholeBreadcrumbBuffer()


def record_breadcrumb(type: str, *args: Any, **kwargs: Any) -> None:
    """Legacy spelling of :func:`record` with the type first."""
    kwargs["type"] = type
    record(*args, **kwargs)


def record(
    message: Optional[str] = None,
    timestamp: Optional[float] = None,
    level: Optional[str] = None,
    category: Optional[str] = None,
    data: Optional[Dict[str, Any]] = None,
    type: Optional[str] = None,
    processor: Optional[Callable[[Dict[str, Any]], Any]] = None,
) -> None:
    """Record a crumb for every client active in this thread or task (what integrations use)."""
    if _suppressed.get():
        return
    if timestamp is None:
        timestamp = time()
    for ctx in _context.get_active_contexts():
        ctx.breadcrumbs.record(timestamp, level, message, category, data, type, processor)


# -- logging ----------------------------------------------------------------------------------

_NEVER = sys.maxsize
_SPECIAL = -1
#: per logger name: the lowest level recorded, _NEVER, or _SPECIAL (ask the callbacks)
_rules: Dict[str, int] = {}
_rules_lock = threading.Lock()


def _is_own_logger(name: str) -> bool:
    return (
        name == "raven"
        or name.startswith("raven.")
        or name == "sentry.errors"
        or name.startswith("sentry.errors.")
    )


def _rule_for(name: str) -> int:
    if _is_own_logger(name):
        rule = _NEVER
    elif special_logging_handlers or name in special_logger_handlers:
        rule = _SPECIAL
    else:
        rule = 0
    _rules[name] = rule
    return rule


def _record_special(lg: logging.Logger, rec: logging.LogRecord) -> None:
    kwargs: Dict[str, Any] = {}
    if rec.exc_info:
        kwargs["exc_info"] = rec.exc_info
    extra = {k: v for k, v in rec.__dict__.items() if k not in _STANDARD_RECORD_KEYS}
    if extra:
        kwargs["extra"] = extra
    args = rec.args if isinstance(rec.args, tuple) else (rec.args,)
    for handler in special_logging_handlers:
        if handler(lg, rec.levelno, rec.msg, args, kwargs):
            return
    logger_handler = special_logger_handlers.get(rec.name)
    if logger_handler is not None and logger_handler(lg, rec.levelno, rec.msg, args, kwargs):
        return
    for ctx in _context._active_tuple():
        ctx.breadcrumbs._append_log(rec)


_original_call_handlers: Optional[Callable[..., Any]] = None


def _install_hook() -> None:
    global _original_call_handlers
    original = logging.Logger.callHandlers
    if getattr(original, "_raven_hook", False):
        return
    _original_call_handlers = original
    rules = _rules
    active = _context._active_tuple
    suppressed = _suppressed.get
    owner_of = _context._owner

    def callHandlers(self: logging.Logger, record: logging.LogRecord) -> None:
        try:
            rule = rules.get(record.name)
            if rule is None:
                rule = _rule_for(record.name)
            if rule == _SPECIAL:
                if not suppressed():
                    _record_special(self, record)
            elif record.levelno >= rule and not suppressed():
                owner = owner_of()
                for ctx in active():
                    state = ctx._var.get(None)
                    if state is not None and state.owner == owner:
                        state.breadcrumbs._append_log(record)  # the common case, inline
                    else:
                        ctx.breadcrumbs._append_log(record)
        except Exception:  # a crumb is never worth breaking the app's logging call
            pass
        original(self, record)

    callHandlers._raven_hook = True  # type: ignore[attr-defined]
    callHandlers.__wrapped__ = original  # type: ignore[attr-defined]
    logging.Logger.callHandlers = callHandlers  # type: ignore[method-assign]


@once
def _patch_logger() -> None:
    _install_hook()


def install_logging_hook() -> None:
    """Record a crumb for every log record that passes its logger's level (once per process)."""
    _patch_logger()


def ignore_logger(name_or_logger: Any, allow_level: Optional[int] = None) -> None:
    """Record no crumbs for this exact logger name, except at or above ``allow_level``."""

    def handler(lg: Any, level: int, msg: Any, args: Any, kwargs: Any) -> bool:
        return not (allow_level is not None and level >= allow_level)

    register_special_log_handler(name_or_logger, handler)


def register_special_log_handler(name_or_logger: Any, callback: Callable[..., Any]) -> None:
    """Let ``callback(logger, level, msg, args, kwargs)`` decide about one logger's records.

    A true return value suppresses the crumb. One callback per exact logger name; child
    loggers are not covered.
    """
    name = name_or_logger if isinstance(name_or_logger, str) else name_or_logger.name
    with _rules_lock:
        special_logger_handlers[name] = callback
        _rules.clear()


def register_logging_handler(callback: Callable[..., Any]) -> None:
    """Like :func:`register_special_log_handler`, for every logger (callbacks accumulate)."""
    with _rules_lock:
        special_logging_handlers.append(callback)
        _rules.clear()


# -- libraries --------------------------------------------------------------------------------

hooked_libraries: Dict[str, Callable[[], Any]] = {}


def libraryhook(name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Register a run-once hook for a library name usable in ``hook_libraries``."""

    def decorator(f: Callable[[], Any]) -> Callable[[], Any]:
        f = once(f)
        hooked_libraries[name] = f
        return f

    return decorator


def _patch_requests(module: Any) -> None:
    Session = module.Session
    real_send = Session.send
    if getattr(real_send, "_raven_hook", False):
        return

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        def _record_request(response: Any) -> None:
            record(
                type="http",
                category="requests",
                data={
                    "url": request.url,
                    "method": request.method,
                    "status_code": response.status_code if response is not None else None,
                    "reason": response.reason if response is not None else None,
                },
            )

        try:
            resp = real_send(self, request, *args, **kwargs)
        except Exception:
            _record_request(None)
            raise
        _record_request(resp)
        return resp

    send._raven_hook = True  # type: ignore[attr-defined]
    Session.send = send
    ignore_logger("requests.packages.urllib3.connectionpool", allow_level=logging.WARNING)


@libraryhook("requests")
def _hook_requests() -> None:
    # patched when requests is imported, so that a client never imports it
    when_imported("requests.sessions", _patch_requests)


def _patch_httplib(module: Any) -> None:
    HTTPConnection = module.HTTPConnection
    real_putrequest = HTTPConnection.putrequest
    if getattr(real_putrequest, "_raven_hook", False):
        return
    real_getresponse = HTTPConnection.getresponse

    def putrequest(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        status: Dict[str, Any] = {}
        self._raven_status_dict = status
        host, port, default_port = self.host, self.port, self.default_port

        def processor(data: Dict[str, Any]) -> Dict[str, Any]:
            real_url = url
            if not real_url.startswith(("http://", "https://")):
                real_url = "%s://%s%s%s" % (
                    "https" if default_port == 443 else "http",
                    host,
                    ":%s" % port if port != default_port else "",
                    url,
                )
            data["data"] = {"url": real_url, "method": method}
            data["data"].update(status)
            return data

        record(type="http", category="requests", processor=processor)
        return real_putrequest(self, method, url, *args, **kwargs)

    def getresponse(self: Any, *args: Any, **kwargs: Any) -> Any:
        rv = real_getresponse(self, *args, **kwargs)
        status = getattr(self, "_raven_status_dict", None)
        if status is not None and "status_code" not in status:
            status["status_code"] = rv.status
            status["reason"] = rv.reason
        return rv

    putrequest._raven_hook = True  # type: ignore[attr-defined]
    HTTPConnection.putrequest = putrequest
    HTTPConnection.getresponse = getresponse


@libraryhook("httplib")
def _install_httplib() -> None:
    when_imported("http.client", _patch_httplib)


def hook_libraries(libraries: Optional[Iterable[str]]) -> None:
    """Install the named library hooks (None: all of them); unknown names raise RuntimeError."""
    if libraries is None:
        libraries = list(hooked_libraries)
    for lib in libraries:
        func = hooked_libraries.get(lib)
        if func is None:
            raise RuntimeError(
                "Unknown library %r for hooking (known: %s)"
                % (lib, ", ".join(sorted(hooked_libraries)))
            )
        func()


from raven import context as _context  # noqa: E402  (context imports this module's buffer)
