"""structlog bridge: a processor that reports error events, with their bound context.

.. versionadded:: 7.0
"""

from __future__ import annotations

import logging
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from collections.abc import Iterable, MutableMapping
    from typing import Any, Dict, Optional, Tuple, Union

    from raven.base import Client

__all__ = ["SentryProcessor"]

_error_logger = logging.getLogger("sentry.errors")

#: structlog method names (and ``add_log_level``'s level names) that are not logging's
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "msg": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "err": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}

#: keys structlog's own processors add; they describe the log call, not the context
_CALL_KEYS = frozenset(["event", "exc_info", "level", "logger", "stack_info", "timestamp"])


class SentryProcessor:
    """A structlog processor that sends events at ``level`` and above to Sentry.

    The event dict is returned unchanged, so the processors after this one (renderers
    included) see what they would without it. Put it **before** ``format_exc_info`` (or
    ``dict_tracebacks``) so that it still sees ``exc_info``; ``log.exception()`` and
    ``exc_info=True`` capture the exception being handled, ``exc_info=exc`` that exception.

    The event's message is structlog's ``event``; everything else bound to the logger (by
    ``bind``, or merged from contextvars by ``merge_contextvars``) goes into the event's
    extra data, except the keys named in ``tag_keys``, which become tags. The logger name
    is ``add_logger_name``'s ``logger`` key, or the wrapped logger's ``name``.

    >>> structlog.configure(processors=[
    ...     structlog.contextvars.merge_contextvars,
    ...     structlog.processors.add_log_level,
    ...     SentryProcessor(client, tag_keys=["tenant"]),
    ...     structlog.processors.format_exc_info,
    ...     structlog.processors.JSONRenderer(),
    ... ])

    Args:
        client: the client that reports.
        level: the lowest level reported (a logging level number or name).
        tag_keys: event-dict keys sent as tags rather than extra data.
    """

    __slots__ = ("client", "level", "tag_keys")

    def __init__(
        self, client: Client, level: Union[int, str] = logging.ERROR, tag_keys: Iterable[str] = ()
    ) -> None:
        self.client = client
        number = _level_number(level)
        if number is None:
            raise ValueError("unknown log level %r" % (level,))
        self.level: int = number
        self.tag_keys = frozenset(tag_keys)

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        try:
            level = _level_number(event_dict.get("level")) or _level_number(method_name)
            if level is not None and level >= self.level:
                self._capture(logger, level, event_dict)
        except Exception:
            if getattr(self.client, "raise_send_errors", False):
                raise
            _error_logger.error("Failed to report a structlog event", exc_info=True)
        return event_dict

    def _capture(self, logger: Any, level: int, event_dict: MutableMapping[str, Any]) -> None:
        extra: Dict[str, Any] = {}
        tags: Dict[str, Any] = {}
        for key, value in event_dict.items():
            if key in self.tag_keys:
                tags[key] = value
            elif key not in _CALL_KEYS:
                extra[key] = value
        name = event_dict.get("logger") or getattr(logger, "name", None)
        data: Dict[str, Any] = {"level": level}
        if name:
            data["logger"] = str(name)
        message = event_dict.get("event")
        message = "" if message is None else str(message)
        exc_info = _exc_info(event_dict.get("exc_info"))
        if exc_info is not None:
            self.client.captureException(
                exc_info=exc_info, message=message, data=data, extra=extra, tags=tags
            )
        else:
            self.client.captureMessage(message, data=data, extra=extra, tags=tags)


def _level_number(level: Any) -> Optional[int]:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str) and level:
        known = _LEVELS.get(level.lower())
        if known is not None:
            return known
        number = logging.getLevelName(level.upper())
        return number if isinstance(number, int) else None
    return None


def _exc_info(value: Any) -> Optional[Tuple[Any, Any, Any]]:
    """structlog's ``exc_info`` forms: True (the exception being handled), an exception, a tuple."""
    if value is True:
        info = sys.exc_info()
        return info if info[0] is not None else None
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return value
    return None
