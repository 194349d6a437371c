"""RQ integration: report the jobs that fail in an RQ worker, with the job's call.

.. versionadded:: 7.0
"""

from __future__ import annotations

import functools
import logging

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from types import TracebackType
    from typing import Any, Dict, Optional

    from raven.base import Client

__all__ = ["SentryRQHandler", "register_sentry"]

_error_logger = logging.getLogger("sentry.errors")


class SentryRQHandler:
    """An RQ exception handler: ``handler(job, exc_type, exc_value, traceback)``.

    The event carries the job as extra data (``job_id``, ``func``, ``args``, ``kwargs``,
    ``description``, ``queue``, as rq's own raven handler sent them), the queue as the
    ``rq.queue`` tag, and the function's name as the transaction. Queued events are then
    flushed (for at most ``flush_timeout`` seconds): a forking worker runs the job in a
    work horse that ends with ``os._exit``, which never waits for a background send.

    Returns True, so the worker goes on to its other handlers (and its default one, which
    moves the job to the failed registry).

    >>> worker = Worker([queue], connection=redis, exception_handlers=[SentryRQHandler(client)])

    Args:
        client: the client that reports.
        flush_timeout: seconds to wait for the event to go out after a failure.
    """

    __slots__ = ("client", "flush_timeout")

    def __init__(self, client: Client, flush_timeout: float = 5.0) -> None:
        self.client = client
        self.flush_timeout = flush_timeout

    def __call__(
        self,
        job: Any,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool:
        client = self.client
        try:
            client.captureException(
                exc_info=(exc_type, exc_value, tb),
                data=_job_data(job),
                extra=_job_extra(job),
                tags={"rq.queue": getattr(job, "origin", None) or "unknown"},
            )
            client.flush(self.flush_timeout)
        except Exception:
            if getattr(client, "raise_send_errors", False):
                raise
            _error_logger.error("Failed to report a failed RQ job", exc_info=True)
        return True


def register_sentry(client: Client, worker: Any, flush_timeout: float = 5.0) -> SentryRQHandler:
    """Report ``worker``'s failing jobs through ``client``; each job starts with a fresh context.

    Adds a :class:`SentryRQHandler` to the worker's exception handlers, and has the worker
    clear the context (data, breadcrumbs, transaction) before each job, so a job never
    reports what an earlier job in the same process recorded (the in-process
    ``SimpleWorker`` runs them all in one thread). Returns the handler.
    """
    handler = SentryRQHandler(client, flush_timeout)
    worker.push_exc_handler(handler)
    perform_job = worker.perform_job

    @functools.wraps(perform_job)
    def perform_job_in_fresh_context(*args: Any, **kwargs: Any) -> Any:
        try:
            client.context.clear(deactivate=False)
            client.context.activate()
            client.transaction.clear()
        except Exception:
            if getattr(client, "raise_send_errors", False):
                raise
            _error_logger.error("Failed to clear the context for an RQ job", exc_info=True)
        return perform_job(*args, **kwargs)

    worker.perform_job = perform_job_in_fresh_context
    return handler


def _job_data(job: Any) -> Dict[str, Any]:
    try:
        return {"transaction": job.func_name}
    except Exception:  # a job whose function cannot be loaded: rq raises DeserializationError
        return {}


def _job_extra(job: Any) -> Dict[str, Any]:
    """What rq knows of the call; a job that cannot be deserialized reports only its ids."""
    extra: Dict[str, Any] = {
        "job_id": getattr(job, "id", None),
        "queue": getattr(job, "origin", None),
    }
    for key, attribute in (
        ("func", "func_name"),
        ("args", "args"),
        ("kwargs", "kwargs"),
        ("description", "description"),
    ):
        try:
            extra[key] = getattr(job, attribute)
        except Exception:
            pass
    return extra
