"""``SentryHandler``: a ``logging.Handler`` that turns log records into Sentry events.

A handler on the root logger sees every record of the process, raven's own included: the
warnings of its delivery thread, what urllib3 logs while raven sends, whatever a processor or a
``__repr__`` logs while an event is built. raven 6.10 could loop on those (raven#368, #264,
#562). Here none of them can become an event:

* records of raven's own loggers (``raven``, ``raven.*``, ``sentry.errors*``) are never sent;
  their warnings and errors are written to stderr when no other handler of the app shows them;
* a record logged while a ``SentryHandler`` is capturing, in the same thread or task, is a
  by-product of that capture and is ignored (a ``ContextVar`` guard);
* a record logged while raven itself does I/O (its transports mark that) is ignored;
* :meth:`SentryHandler.handle` does not hold the handler's lock while capturing, so a delivery
  thread that logs while an app thread captures never waits on it.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import datetime, timedelta

from raven.base import Client
from raven.breadcrumbs import _suppressed
from raven.utils.encoding import to_string, to_unicode
from raven.utils.stacks import iter_stack_frames

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, FrozenSet, List, Optional, Tuple

__all__ = [
    "CONTEXTUAL",
    "RESERVED",
    "Client",
    "SentryHandler",
    "extract_extra",
    "iter_stack_frames",
    "to_string",
]

#: record attributes that never go to ``extra`` (they are the event itself, or noise)
RESERVED = frozenset(
    (
        "stack",
        "name",
        "module",
        "funcName",
        "args",
        "msg",
        "levelno",
        "exc_text",
        "exc_info",
        "data",
        "created",
        "levelname",
        "msecs",
        "relativeCreated",
        "tags",
        "message",
    )
)

#: record attributes that go to the event's top level instead of ``extra``
CONTEXTUAL = frozenset(("user", "culprit", "server_name", "fingerprint"))

#: ``SentryHandler`` options that are not client options (6.10 passed them to the client too)
_HANDLER_OPTIONS = ("client_cls", "level")

#: the real client class, whatever tests patch the module global ``Client`` with
_RavenClient = Client

#: set while a SentryHandler captures a record in this thread or task
_capturing: ContextVar[bool] = ContextVar("raven_logging_capturing", default=False)

_error_logger = logging.getLogger("sentry.errors")
_EPOCH = datetime(1970, 1, 1)


def extract_extra(
    record: logging.LogRecord,
    reserved: FrozenSet[str] = RESERVED,
    contextual: FrozenSet[str] = CONTEXTUAL,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Split a record's attributes into event data and ``extra``.

    Attributes named in ``contextual``, or with a dot in their name (``'sentry.interfaces.User'``),
    go to the event data; the others to ``extra``, after ``record.data`` (a dict is copied, any
    other value is kept as ``extra['data']``). ``reserved`` and ``_private`` names are skipped.

    Returns:
        ``(data, extra)``, two new dicts.
    """
    data: Dict[str, Any] = {}
    given = getattr(record, "data", None)
    if isinstance(given, dict):
        extra = dict(given)  # the caller's dict is not ours to change
    elif given:
        extra = {"data": given}
    else:
        extra = {}
    for key, value in vars(record).items():
        if key in reserved or key[:1] == "_":
            continue
        if "." in key or key in contextual:
            data[key] = value
        else:
            extra[key] = value
    return data, extra


def _is_own_logger(name: str) -> bool:
    return name == "raven" or name.startswith(("raven.", "sentry.errors"))


def _is_exc_info(value: Any) -> bool:
    """A full ``(type, value, traceback)``: a never-raised exception has no traceback, and is
    still an exception (6.10 sent it as a plain message)."""
    if not isinstance(value, tuple) or len(value) != 3:
        return False
    return value[0] is not None and value[1] is not None


def _module_of(frame: Any) -> str:
    name = getattr(frame, "f_globals", {}).get("__name__")
    return name if isinstance(name, str) else ""


def _frame_pairs(frames: Any) -> List[Tuple[Any, Any]]:
    """``(frame, lineno)`` pairs from frames, pairs or ``inspect.stack()`` records (in order)."""
    pairs = []
    for item in frames:
        if isinstance(item, (list, tuple)):
            pairs.append((item[0], item[2] if len(item) > 2 else item[1]))
        else:
            pairs.append((item, getattr(item, "f_lineno", None)))
    return pairs


def _stack_of_log_call(frames: List[Tuple[Any, Any]]) -> List[Tuple[Any, Any]]:
    """The frames (outermost first) of the code that made the logging call.

    Everything inside the innermost call into ``logging`` goes: logging's frames, raven's (its
    breadcrumb hook and this handler) and any handler in between. Without logging frames (the
    handler was called directly), only raven's own innermost frames go.

    6.10 walked the stack in the wrong direction and kept the handler's frames instead.
    """
    modules = [_module_of(frame) for frame, _ in frames]
    end = len(frames)
    innermost_logging = None
    for index in range(end - 1, -1, -1):
        name = modules[index]
        if name == "logging" or name.startswith("logging."):
            innermost_logging = index
            break
    if innermost_logging is None:
        while end and modules[end - 1].startswith("raven."):
            end -= 1
        return frames[:end]
    end = innermost_logging
    while end:
        name = modules[end - 1]
        if name == "logging" or name.startswith(("logging.", "raven.")):
            end -= 1
        else:
            break
    return frames[:end]


def _detach_crumb(client: Any, record: logging.LogRecord) -> Optional[Tuple[Any, int, int]]:
    """Take ``record`` out of the client's breadcrumbs of this thread/task while it is sent.

    raven's logging hook keeps every record as a crumb before the handlers run, so the record
    that becomes an event would also be that event's last crumb. It stays a crumb for the
    events that follow. Returns what :func:`_reattach_crumb` needs, or None.
    """
    if not getattr(client, "enable_breadcrumbs", False):
        return None
    try:
        entries = client.context.breadcrumbs.buffer
    except Exception:
        return None
    if type(entries) is not deque:
        return None
    size = len(entries)
    # usually the newest crumb; other handlers may have logged after it
    for back, entry in enumerate(reversed(entries)):
        if entry is record:
            del entries[size - 1 - back]
            return entries, back, size - 1
    return None


def _reattach_crumb(detached: Tuple[Any, int, int], record: logging.LogRecord) -> None:
    entries, back, size = detached
    if len(entries) == size:  # nothing was recorded meanwhile: back where it was
        entries.insert(size - back, record)
    else:
        entries.append(record)


def _print(text: str) -> None:
    stream = sys.stderr
    if stream is None:  # pythonw and daemons may have no stderr
        return
    try:
        stream.write(text + "\n")
        stream.flush()
    except Exception:
        pass


class SentryHandler(logging.Handler):
    """Send log records to Sentry through a raven client.

    ``SentryHandler(client)``, ``SentryHandler(client=client)``, ``SentryHandler('dsn',
    **options)`` or ``SentryHandler(**options)``; the last two build a client with
    ``client_cls(**options)``.

    Args:
        client: a :class:`raven.Client` (positional, or ``client=``).
        dsn: instead of a client, a DSN (positional, or ``dsn=``) for a new client.
        client_cls: the class of the client built from a DSN or options (default
            :class:`raven.Client`).
        tags: tags added to every event of this handler (also the new client's default tags).
        level: the handler's level (default ``NOTSET``).
        **options: options of the client to build.

    Raises:
        ValueError: a single positional argument that is neither a client nor a DSN.
    """

    #: class-level defaults: subclasses (raven 6.10's Django handler) skip this ``__init__``
    tags: Optional[Dict[str, Any]] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        factory = kwargs.get("client_cls") or Client  # looked up now: tests patch ``Client``
        if len(args) == 1:
            arg = args[0]
            if isinstance(arg, str):
                self.client = _build_client(factory, (), dict(kwargs, dsn=arg))
            elif _is_client(arg):
                self.client = arg
            else:
                raise ValueError(
                    "The first argument to %s must be either a Client instance or a DSN, "
                    "got %r instead." % (type(self).__name__, arg)
                )
        elif kwargs.get("client") is not None:
            self.client = kwargs["client"]
        else:
            kwargs.pop("client", None)
            self.client = _build_client(factory, args, kwargs)
        self.tags = kwargs.get("tags")
        super().__init__(level=kwargs.get("level", logging.NOTSET))

    def can_record(self, record: logging.LogRecord) -> bool:
        """False for raven's own loggers (``raven``, ``raven.*``, ``sentry.errors*``)."""
        return not _is_own_logger(record.name)

    def handle(self, record: logging.LogRecord) -> Any:
        """Filter, then emit *without* holding the handler's lock.

        ``logging.Handler.handle`` holds ``self.lock`` around ``emit``, and a capture can log
        (or wait on raven's delivery) while another thread wants the same lock to log through
        this handler. The client is thread-safe, so the lock protects nothing here.
        """
        rv: Any = self.filter(record)
        if isinstance(rv, logging.LogRecord):  # Python 3.12: a filter may replace the record
            record = rv
        if rv:
            self.emit(record)
        return rv

    def emit(self, record: logging.LogRecord) -> Any:
        """Capture ``record``; returns the event id (None when no event was sent).

        Never raises, unless the client has ``raise_send_errors``: failures are logged on
        ``sentry.errors``.
        """
        try:
            if not self.can_record(record):
                self._show_own_record(record)
                return None
            if _capturing.get() or _suppressed.get():
                return None  # logged by our own capture or delivery: never an event
            try:
                self.format(record)  # sets record.message (and record.exc_text)
            except Exception:
                pass  # arguments that do not fit the message: the template is sent instead
            token = _capturing.set(True)
            try:
                return self._emit(record)
            finally:
                _capturing.reset(token)
        except Exception:
            if getattr(getattr(self, "client", None), "raise_send_errors", False):
                raise
            self._report_failure(record)
            return None

    def _show_own_record(self, record: logging.LogRecord) -> None:
        """Write raven's own warnings and errors to stderr, unless another handler shows them.

        raven 6.10 printed every such record, so the errors of a handler-only set-up were not
        lost; here they are not printed twice either.
        """
        if record.levelno < logging.WARNING or _shown_elsewhere(record):
            return
        try:
            text = self.format(record)
        except Exception:
            text = to_unicode(record.msg)
        _print(text)

    def _report_failure(self, record: logging.LogRecord) -> None:
        try:
            _error_logger.error(
                "raven: SentryHandler failed to capture a log record (%s: %s)",
                getattr(record, "name", "?"),
                to_unicode(getattr(record, "msg", "?"))[:200],
                exc_info=True,
            )
        except Exception:
            # logging itself failed: stderr is all that is left
            _print("raven: SentryHandler failed to capture a log record")

    def _emit(self, record: logging.LogRecord, **kwargs: Any) -> Any:
        """Build the event for ``record`` and capture it; ``kwargs`` go to ``client.capture``.

        Returns the client's capture result (the event id, or None).
        """
        client = self.client
        data, extra = extract_extra(record)
        exc_info = record.exc_info
        is_exception = _is_exc_info(exc_info)

        stack = getattr(record, "stack", None)
        if stack is None and not is_exception and getattr(client, "auto_log_stacks", False):
            stack = True
        if stack is True:
            stack = _stack_of_log_call(list(iter_stack_frames()))
        elif stack:
            try:
                stack = _stack_of_log_call(_frame_pairs(stack))
            except TypeError:  # truthy, but not a list of frames: the current stack
                stack = _stack_of_log_call(list(iter_stack_frames()))

        message_kwargs: Dict[str, Any] = {
            "message": to_unicode(record.msg),
            "params": record.args,
            "formatted": _formatted(record),
        }
        if is_exception:
            # the message interface goes with the exception, so the event keeps the log line
            data.update(client.get_handler("raven.events.Message").capture(**message_kwargs))
            event_type = "raven.events.Exception"
            kwargs.update(exc_info=exc_info)
        else:
            event_type = "raven.events.Message"
            kwargs.update(message_kwargs)

        data["level"] = record.levelno
        data["logger"] = record.name

        tags: Dict[str, Any] = {}
        if self.tags:
            tags.update(self.tags)
        record_tags = getattr(record, "tags", None)
        if record_tags:
            if isinstance(record_tags, Mapping):
                tags.update(record_tags)
            else:
                extra["tags"] = record_tags  # not a mapping: kept where it can be seen
        kwargs["tags"] = tags

        sample_rate = extra.pop("sample_rate", None)
        if sample_rate is not None:
            try:
                sample_rate = float(sample_rate)
            except (TypeError, ValueError):
                extra["sample_rate"] = sample_rate
                sample_rate = None

        detached = _detach_crumb(client, record)
        try:
            return client.capture(
                event_type,
                stack=stack,
                data=data,
                extra=extra,
                date=_date_of(record),
                sample_rate=sample_rate,
                **kwargs,
            )
        finally:
            if detached is not None:
                _reattach_crumb(detached, record)


def _is_client(value: Any) -> bool:
    if isinstance(value, _RavenClient):
        return True
    return isinstance(Client, type) and isinstance(value, Client)


def _build_client(
    factory: Any,
    args: Tuple[Any, ...],
    kwargs: Dict[str, Any],
    handler_options: Tuple[str, ...] = _HANDLER_OPTIONS,
) -> Any:
    """``factory(*args, **kwargs)``; a raven client class does not get the handler's options.

    6.10 passed every keyword, ``level`` and ``client_cls`` included, and its tests assert that
    call on a mocked factory, so any other factory still gets them all. A raven client would
    only warn about options it does not know.
    """
    if isinstance(factory, type) and issubclass(factory, _RavenClient):
        kwargs = {k: v for k, v in kwargs.items() if k not in handler_options}
    return factory(*args, **kwargs)


def _formatted(record: logging.LogRecord) -> Optional[str]:
    message = getattr(record, "message", None)
    if message is None or type(message) is str:
        return message
    return to_unicode(message)


def _date_of(record: logging.LogRecord) -> Optional[datetime]:
    """When the record was made, as naive UTC (6.10's ``utcfromtimestamp``, deprecated)."""
    try:
        return _EPOCH + timedelta(seconds=record.created)
    except Exception:
        return None


def _shown_elsewhere(record: logging.LogRecord) -> bool:
    """Whether a handler other than a SentryHandler (or a NullHandler) gets ``record``."""
    logger: Any = logging.Logger.manager.loggerDict.get(record.name)
    if not isinstance(logger, logging.Logger):
        logger = logging.getLogger()
    while logger is not None:
        for handler in logger.handlers:
            if (
                not isinstance(handler, (SentryHandler, logging.NullHandler))
                and record.levelno >= handler.level
            ):
                return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False
