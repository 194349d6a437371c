"""``SentryHandler`` for Logbook: Logbook records become Sentry events.

Logbook is imported when ``SentryHandler`` is first used, so this module imports without it
and a missing Logbook is reported then, with what to install. The same recursion guards as
:mod:`raven.handlers.logging` apply: raven's own channels and anything logged while a record
is being captured or sent never become events.
"""

from __future__ import annotations

import importlib
import sys
import threading

from raven.base import Client
from raven.breadcrumbs import _suppressed
from raven.handlers.logging import (
    _build_client,
    _capturing,
    _error_logger,
    _is_own_logger,
    _print,
)
from raven.utils.encoding import to_string, to_unicode

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict

    #: a ``logbook.Handler`` subclass, built on first access
    SentryHandler: Any

__all__ = ["Client", "SentryHandler", "to_string"]

_build_lock = threading.Lock()
#: ``logbook.Handler`` arguments (6.10 passed them to the client built from a DSN, too)
_HANDLER_OPTIONS = ("level", "filter", "bubble")


def __getattr__(name: str) -> Any:
    if name == "SentryHandler":
        with _build_lock:
            handler = globals().get("SentryHandler")
            if handler is None:
                handler = globals()["SentryHandler"] = _build_handler_class()
        return handler
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _import_logbook() -> Any:
    try:
        return importlib.import_module("logbook")
    except ImportError as exc:
        raise ImportError(
            "raven.handlers.logbook.SentryHandler needs Logbook: pip install 'raven[logbook]'"
            " (%s)" % exc,
            name="logbook",
        ) from exc


def _build_handler_class() -> Any:
    logbook = _import_logbook()

    class SentryHandler(logbook.Handler):  # type: ignore[name-defined]  # a module found at run time
        """Send Logbook records to Sentry through a raven client.

        Args:
            client: a :class:`raven.Client`, or a DSN for a new client (positional), or
                ``client=``.
            client_cls: the class of the client built from a DSN (default
                :class:`raven.Client`).
            level, filter, bubble: as for ``logbook.Handler``.
            **options: with a DSN, options of the client to build.

        Raises:
            ValueError: the positional argument is neither a client nor a DSN.
            TypeError: no client at all.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if len(args) == 1:
                arg = args[0]
                factory = kwargs.pop("client_cls", None) or Client
                if isinstance(arg, str):
                    self.client = _build_client(
                        factory, (), dict(kwargs, dsn=arg), _HANDLER_OPTIONS
                    )
                    # the client options stay with the client (6.10 passed them to Logbook too,
                    # which refused them)
                    kwargs = {k: v for k, v in kwargs.items() if k in _HANDLER_OPTIONS}
                elif isinstance(arg, Client):
                    self.client = arg
                else:
                    raise ValueError(
                        "The first argument to %s must be either a Client instance or a DSN, "
                        "got %r instead." % (type(self).__name__, arg)
                    )
                args = ()
            else:
                try:
                    self.client = kwargs.pop("client")
                except KeyError:
                    raise TypeError("Expected keyword argument for SentryHandler: client")
            super().__init__(*args, **kwargs)

        def emit(self, record: Any) -> Any:
            """Capture ``record``; never raises unless the client has ``raise_send_errors``."""
            try:
                if _is_own_logger(record.channel or ""):
                    _print(to_unicode(self.format(record)))
                    return None
                if _capturing.get() or _suppressed.get():
                    return None
                token = _capturing.set(True)
                try:
                    return self._emit(record)
                finally:
                    _capturing.reset(token)
            except Exception:
                if getattr(self.client, "raise_send_errors", False):
                    raise
                try:
                    _error_logger.error(
                        "raven: the Logbook SentryHandler failed to capture a record (%s)",
                        to_unicode(getattr(record, "msg", "?"))[:200],
                        exc_info=True,
                    )
                except Exception:
                    _print("raven: the Logbook SentryHandler failed to capture a record")
                return None

        def _emit(self, record: Any) -> Any:
            data: Dict[str, Any] = {
                "level": logbook.get_level_name(record.level).lower(),
                "logger": record.channel,
            }
            try:
                formatted = self.format(record)
            except Exception:  # arguments that do not fit the message: send the template
                formatted = record.msg
            handler_kwargs: Dict[str, Any] = {
                "message": record.msg,
                "params": record.args,
                "formatted": to_unicode(formatted),
            }
            if "tags" in record.kwargs:
                handler_kwargs["tags"] = record.kwargs["tags"]

            exc_info = record.exc_info
            if exc_info is True:
                exc_info = sys.exc_info()
            event_type = "raven.events.Message"
            if exc_info and exc_info[0] is not None and exc_info[1] is not None:
                data.update(self.client.get_handler(event_type).capture(**handler_kwargs))
                event_type = "raven.events.Exception"
                handler_kwargs["exc_info"] = exc_info

            extra = {
                "lineno": record.lineno,
                "filename": record.filename,
                "function": record.func_name,
                "process": record.process,
                "process_name": record.process_name,
            }
            extra.update(record.extra)
            return self.client.capture(event_type, data=data, extra=extra, **handler_kwargs)

    SentryHandler.__module__ = __name__
    SentryHandler.__qualname__ = "SentryHandler"
    return SentryHandler
