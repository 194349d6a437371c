"""loguru bridge: a sink that reports error records and keeps lower ones as breadcrumbs.

.. versionadded:: 7.0
"""

from __future__ import annotations

import logging

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Optional, Union

    from raven.base import Client

__all__ = ["SentrySink"]

_error_logger = logging.getLogger("sentry.errors")

#: loguru's built-in levels (the numbers match logging's where both have the level)
_LEVELS = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "SUCCESS": 25,
    "WARNING": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}


class SentrySink:
    """A loguru sink: records at ``level`` and above become events, those at
    ``breadcrumb_level`` and above (but below ``level``) breadcrumbs of later events.

    An event carries the record's message, level, logger name (the module that logged),
    exception (``logger.exception()``, ``logger.opt(exception=...)``) and, as extra data,
    what was bound to the logger (``bind``, ``contextualize``). Breadcrumbs go to the
    context of the code that logged, so they show up in that request's or task's events.

    The sink must run in the thread that logs: do not add it with ``enqueue=True``, which
    hands records to another thread, away from the context they belong to.

    >>> logger.add(SentrySink(client), level="INFO")

    Args:
        client: the client that reports.
        level: the lowest level sent as an event (a number, or a loguru level name).
        breadcrumb_level: the lowest level kept as a breadcrumb; None keeps none.
    """

    __slots__ = ("breadcrumb_level", "client", "level")

    def __init__(
        self,
        client: Client,
        level: Union[int, str] = "ERROR",
        breadcrumb_level: Union[int, str, None] = "INFO",
    ) -> None:
        self.client = client
        self.level = _level_number(level)
        self.breadcrumb_level = (
            _level_number(breadcrumb_level) if breadcrumb_level is not None else None
        )

    def __call__(self, message: Any) -> None:
        try:
            record = message.record
            number = record["level"].no
            if number >= self.level:
                self._capture(record, number)
            elif self.breadcrumb_level is not None and number >= self.breadcrumb_level:
                self._breadcrumb(record)
        except Exception:
            if getattr(self.client, "raise_send_errors", False):
                raise
            _error_logger.error("Failed to report a loguru record", exc_info=True)

    def _capture(self, record: Dict[str, Any], number: int) -> None:
        data: Dict[str, Any] = {"level": number, "logger": record["name"]}
        extra = dict(record["extra"])
        exception = record["exception"]
        if exception is not None and exception.type is not None:
            self.client.captureException(
                exc_info=(exception.type, exception.value, exception.traceback),
                message=record["message"],
                data=data,
                extra=extra,
            )
        else:
            self.client.captureMessage(record["message"], data=data, extra=extra)

    def _breadcrumb(self, record: Dict[str, Any]) -> None:
        extra = record["extra"]
        self.client.captureBreadcrumb(
            message=record["message"],
            category=record["name"],
            level=_breadcrumb_level(record["level"].no),
            data=dict(extra) if extra else None,
            timestamp=record["time"].timestamp(),
        )


def _breadcrumb_level(number: int) -> str:
    """The nearest logging level name at or below ``number`` (loguru's SUCCESS is info)."""
    for floor, name in ((50, "critical"), (40, "error"), (30, "warning"), (20, "info")):
        if number >= floor:
            return name
    return "debug"


def _level_number(level: Union[int, str]) -> int:
    """A level number; names other than loguru's built-in ones are asked of loguru."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str):
        number: Optional[int] = _LEVELS.get(level.upper())
        if number is not None:
            return number
        try:
            from loguru import logger

            return int(logger.level(level).no)
        except (ImportError, ValueError) as exc:
            raise ValueError("unknown loguru level %r (%s)" % (level, exc)) from exc
    raise ValueError("a level is a number or a level name, got %r" % (level,))
