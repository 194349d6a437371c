"""Celery integration: report failing tasks, and what Celery's loggers log, to Sentry.

    client = Client(dsn)
    register_signal(client)         # task failures, with the task's name, id and arguments
    register_logger_signal(client)  # errors logged in the worker (not the task failures again)

Everything hangs on Celery's signals, so it works the same in a worker (any pool) and for
tasks run eagerly. Checked on Celery 5.0 and 5.7; only signals that Celery 4 has too are used.
"""

from __future__ import annotations

import importlib
import logging
import sys

from raven.handlers.logging import SentryHandler

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, List, Optional, Tuple, Union

    from raven.base import Client

try:  # imported by name: Celery ships no type information, and type checkers need none here
    _signals: Any = importlib.import_module("celery.signals")
    _exceptions: Any = importlib.import_module("celery.exceptions")
    _serialization: Any = importlib.import_module("celery.utils.serialization")
except ImportError as exc:  # pragma: no cover - exercised only without Celery installed
    raise ImportError(
        "raven.contrib.celery needs Celery (4.4 or later): pip install 'raven[celery]' (%s)"
        % (exc,)
    ) from exc

SoftTimeLimitExceeded: Any = _exceptions.SoftTimeLimitExceeded
#: Celery's picklable stand-in for exceptions that cannot be pickled (every Celery since 3.0)
UnpickleableExceptionWrapper: Any = getattr(_serialization, "UnpickleableExceptionWrapper", None)

__all__ = [
    "CeleryFilter",
    "SentryCeleryHandler",
    "SentryHandler",
    "register_logger_signal",
    "register_signal",
]

_error_logger = logging.getLogger("sentry.errors")

#: the tag every task failure carries, so Sentry can search and group by task
TASK_NAME_TAG = "celery_task_name"

#: how deep wrappers of wrappers are unwrapped (billiard never nests them; bound the loop anyway)
_MAX_UNWRAP = 8


class CeleryFilter(logging.Filter):
    """Drops the record Celery logs for a task failure; ``register_signal`` reports those.

    Celery logs every failed task from its tracer's ``_log_error``, with the failure's details
    in ``record.data``. ``data['internal']`` is true only for errors of Celery itself (not of
    the task), which no signal reports, so those records are kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        data = getattr(record, "data", None)
        if isinstance(data, dict) and "internal" in data:
            return bool(data["internal"])
        return record.funcName != "_log_error"


def _unwrap(exception: Any) -> Any:
    """The task's own exception, out of billiard's (or multiprocessing's) traceback wrapper.

    billiard 4 (Celery 5.5+) puts ``ExceptionWithTraceback(exc, tb_text)`` in
    ``einfo.exception``; the real exception is its ``exc`` attribute.
    """
    for _ in range(_MAX_UNWRAP):
        inner = getattr(exception, "exc", None)
        if type(exception).__name__ != "ExceptionWithTraceback" or not isinstance(
            inner, BaseException
        ):
            break
        exception = inner
    return exception


def _stands_for(exception: BaseException, original: BaseException) -> bool:
    """Whether ``exception`` is Celery's picklable stand-in for ``original``."""
    if exception is original:
        return True
    return (
        UnpickleableExceptionWrapper is not None
        and isinstance(exception, UnpickleableExceptionWrapper)
        and exception.exc_cls_name == type(original).__name__
    )


def _is_traceback(value: Any) -> bool:
    # billiard's picklable Traceback claims to be a TracebackType and walks like one
    return value is not None and hasattr(value, "tb_frame") and hasattr(value, "tb_next")


def failure_exc_info(
    exception: Any = None, traceback: Any = None, einfo: Any = None
) -> Optional[Tuple[Any, BaseException, Any]]:
    """The ``(type, exception, traceback)`` a ``task_failure`` signal is about.

    Celery hands over different things depending on the version and on where the failure
    was seen: the exception itself or a picklable stand-in for it, a traceback or its text,
    an ``einfo`` whose ``exception`` may be billiard's ``ExceptionWithTraceback``. This finds
    the real exception and the best traceback: the live one when the signal is sent while the
    exception is being handled (a task that raised), else the exception's own, else
    billiard's copy of it (failures the worker's parent process saw).
    """
    exc = _unwrap(exception)
    if not isinstance(exc, BaseException):
        exc = _unwrap(getattr(einfo, "exception", None))
    if not isinstance(exc, BaseException):
        return None
    live = sys.exc_info()
    if live[1] is not None and _stands_for(exc, live[1]):
        return live
    tb = exc.__traceback__
    if tb is None and _is_traceback(traceback):
        tb = traceback
    if tb is None and _is_traceback(getattr(einfo, "tb", None)):
        tb = einfo.tb
    return (type(exc), exc, tb)


def _task_name(task: Any) -> str:
    name = getattr(task, "name", None)
    return name if isinstance(name, str) else repr(task)


class SentryCeleryHandler:
    """Reports failed tasks, and gives each task its own context and transaction name.

    * ``task_prerun``: the task starts with an empty context (tags, extra, breadcrumbs) and
      its name is pushed as the transaction. A task run eagerly (``apply()``, or
      ``task_always_eager``) is part of its caller's work instead: it keeps the caller's
      context, and the caller gets its own back, unchanged, when the task ends.
    * ``task_failure``: the exception is captured with extra ``task_id``, ``task`` (the
      name), ``args`` and ``kwargs``, the tag ``celery_task_name`` and the task as the
      transaction. ``SoftTimeLimitExceeded`` is grouped per task (fingerprint
      ``['celery', 'SoftTimeLimitExceeded', <task name>]``). With ``ignore_expected``, the
      exceptions a task lists in ``throws`` are not reported.
    * ``task_postrun``: the transaction is popped and the context cleared.
    * ``worker_process_shutdown``: pending events are sent before a pool process exits
      (prefork children leave with ``os._exit``, which skips the at-exit flush).

    One handler per client is connected: installing again, or another handler for the same
    client, is a no-op until :meth:`uninstall`.
    """

    def __init__(self, client: Client, ignore_expected: bool = False) -> None:
        if not callable(getattr(client, "captureException", None)):
            raise TypeError("SentryCeleryHandler needs a raven Client, got %r" % (client,))
        self.client = client
        self.ignore_expected = ignore_expected
        #: caller contexts to give back when an eager task ends, by task id
        self._callers: Dict[Any, Dict[str, Any]] = {}

    def _connections(self) -> List[Tuple[Any, Any, str]]:
        uid = "raven.contrib.celery:%x:" % id(self.client)
        return [
            (_signals.task_prerun, self.handle_task_prerun, uid + "task_prerun"),
            (_signals.task_postrun, self.handle_task_postrun, uid + "task_postrun"),
            (_signals.task_failure, self.handle_failure, uid + "task_failure"),
            (
                _signals.worker_process_shutdown,
                self.handle_process_shutdown,
                uid + "process_shutdown",
            ),
        ]

    def install(self) -> None:
        for signal, receiver, uid in self._connections():
            signal.connect(receiver, weak=False, dispatch_uid=uid)

    def uninstall(self) -> None:
        for signal, _, uid in self._connections():
            signal.disconnect(dispatch_uid=uid)

    # -- signal receivers --------------------------------------------------------------------

    def handle_task_prerun(
        self, sender: Any = None, task_id: Any = None, task: Any = None, **kwargs: Any
    ) -> None:
        task = task if task is not None else sender
        try:
            context = self.client.context
            if _is_eager(task):
                data = context.data
                self._callers[task_id] = {
                    key: (dict(value) if isinstance(value, dict) else value)
                    for key, value in data.items()
                }
            else:
                context.clear(deactivate=False)
            context.activate()
            self.client.transaction.push(_task_name(task))
        except Exception:
            self._internal_error("Failed to set up the context of a Celery task")

    def handle_task_postrun(
        self, sender: Any = None, task_id: Any = None, task: Any = None, **kwargs: Any
    ) -> None:
        task = task if task is not None else sender
        try:
            self.client.transaction.pop(_task_name(task))
            caller = self._callers.pop(task_id, None)
            if caller is not None:
                self.client.context.set(caller)
            else:
                self.client.context.clear()
        except Exception:
            self._internal_error("Failed to clear the context of a Celery task")

    def handle_failure(
        self,
        sender: Any = None,
        task_id: Any = None,
        exception: Any = None,
        args: Any = None,
        kwargs: Any = None,
        traceback: Any = None,
        einfo: Any = None,
        **kw: Any,
    ) -> Optional[str]:
        """Capture the failure a ``task_failure`` signal reports; returns the event id."""
        try:
            exc_info = failure_exc_info(exception, traceback, einfo)
            if exc_info is None:
                return None
            exc = exc_info[1]
            if self.ignore_expected and _is_expected(exc, sender):
                return None
            name = _task_name(sender)
            fingerprint = None
            if isinstance(exc, SoftTimeLimitExceeded):
                fingerprint = ["celery", "SoftTimeLimitExceeded", name]
            return self.client.captureException(
                exc_info,
                extra={"task_id": task_id, "task": name, "args": args, "kwargs": kwargs},
                tags={TASK_NAME_TAG: name},
                # the transaction stack names the task too, unless the failure is seen
                # outside the task's run (the worker's parent process: lost or killed child)
                data={"transaction": name},
                fingerprint=fingerprint,
            )
        except Exception:
            self._internal_error("Failed to report a failed Celery task")
            return None

    def handle_process_shutdown(self, *args: Any, **kwargs: Any) -> None:
        try:
            self.client.flush()
        except Exception:
            self._internal_error("Failed to send pending events as a Celery process exits")

    def _internal_error(self, message: str) -> None:
        if getattr(self.client, "raise_send_errors", False):
            raise
        _error_logger.error(message, exc_info=True)


def _is_expected(exc: BaseException, task: Any) -> bool:
    """Whether the task declares ``exc`` in ``throws`` (a malformed ``throws`` declares none)."""
    throws = getattr(task, "throws", None) or ()
    try:
        return isinstance(exc, throws)
    except TypeError:
        return False


def _is_eager(task: Any) -> bool:
    try:
        return bool(task.request.is_eager)
    except Exception:
        return False


def register_signal(client: Client, ignore_expected: bool = False) -> SentryCeleryHandler:
    """Report this client's failed tasks (see :class:`SentryCeleryHandler`); returns the handler.

    ``ignore_expected=True`` leaves out the exceptions a task declares in ``throws``.
    """
    handler = SentryCeleryHandler(client, ignore_expected=ignore_expected)
    handler.install()
    return handler


def register_logger_signal(
    client: Client, logger: Any = None, loglevel: Union[int, str] = logging.ERROR
) -> None:
    """Once Celery has set up its logging, report records at ``loglevel`` and above.

    On ``after_setup_logger`` (sent by a worker, and by ``app.log.setup()``) a
    :class:`SentryHandler` with a :class:`CeleryFilter` is added to the logger Celery set up
    (the root logger). If that logger already has a SentryHandler, only the filter is added
    to it, so a record is never reported twice. ``logger`` is accepted for compatibility with
    raven 6.10, which did not use it either. Registering the same client again is a no-op.
    ``loglevel`` may be a level name (``"WARNING"``); an unknown one raises ValueError.
    """
    level = loglevel if isinstance(loglevel, int) else logging.getLevelName(loglevel)
    if not isinstance(level, int):
        raise ValueError("loglevel must be a logging level, got %r" % (loglevel,))
    celery_filter = CeleryFilter()
    handler = SentryHandler(client)
    handler.setLevel(level)
    handler.addFilter(celery_filter)

    def process_logger_event(sender: Any = None, logger: Any = None, **kwargs: Any) -> None:
        try:
            target = logger if isinstance(logger, logging.Logger) else logging.getLogger()
            for existing in target.handlers:
                if isinstance(existing, SentryHandler):
                    existing.addFilter(celery_filter)
                    return
            target.addHandler(handler)
        except Exception:
            if getattr(client, "raise_send_errors", False):
                raise
            _error_logger.error("Failed to add Sentry's handler to Celery's logger", exc_info=True)

    _signals.after_setup_logger.connect(
        process_logger_event,
        weak=False,
        dispatch_uid="raven.contrib.celery:%x:after_setup_logger" % id(client),
    )
