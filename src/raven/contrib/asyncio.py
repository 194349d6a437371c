"""Report exceptions nobody retrieved from asyncio tasks, and ones raised by loop callbacks.

.. versionadded:: 7.0
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys

from raven.middleware import _is_failure

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from contextvars import Context as VarsContext
    from typing import Any, Callable, Dict, Optional

    from raven.base import Client

    LoopHandler = Callable[[asyncio.AbstractEventLoop, Dict[str, Any]], None]

__all__ = ["install_loop_handler"]

_error_logger = logging.getLogger("sentry.errors")

#: where a task's context is remembered for the report, on the exception it ended with
_CONTEXT_ATTR = "__raven_task_context__"

#: Python 3.12+ hands out a task's context; 3.11 lets a task factory choose it
_TASKS_HAVE_CONTEXT = hasattr(asyncio.Task, "get_context")
_FACTORY_CAN_CHOOSE_CONTEXT = sys.version_info >= (3, 11)


def install_loop_handler(
    client: Client, loop: Optional[asyncio.AbstractEventLoop] = None
) -> LoopHandler:
    """Report what tasks and callbacks of ``loop`` raise and nobody handles.

    The loop's exception handler is replaced by one that captures ``context["exception"]``
    (a task's exception that was never retrieved, a callback's exception), then calls the
    handler that was set before, or the loop's default one (which logs it, as without
    raven). Cancellation and successful ``SystemExit`` are not reported.

    The event carries the context of the task or callback that failed (the tags, user and
    breadcrumbs it recorded), not the one of the code running the handler. Python 3.12
    gives every task's context; on 3.11 the loop gets a task factory that keeps it for tasks
    created from now on (unless the loop already has a factory); on 3.9 and 3.10 a task's
    event carries the context the handler runs in. A callback's context is known on all.

    >>> async def main():
    ...     install_loop_handler(client)
    ...     ...
    >>> asyncio.run(main())

    Args:
        client: the client that reports.
        loop: the loop; the running loop when omitted.

    Returns:
        The installed handler (``handler.previous`` is the one it chains to).

    Raises:
        RuntimeError: no ``loop`` was given and no loop is running.
    """
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "install_loop_handler(client) needs a loop: call it from a coroutine running "
                "on that loop, or pass loop=..."
            ) from None
    previous = loop.get_exception_handler()

    def raven_exception_handler(loop: asyncio.AbstractEventLoop, context: Dict[str, Any]) -> None:
        try:
            _report(client, context)
        finally:
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

    raven_exception_handler.previous = previous  # type: ignore[attr-defined]
    loop.set_exception_handler(raven_exception_handler)
    if not _TASKS_HAVE_CONTEXT and _FACTORY_CAN_CHOOSE_CONTEXT and loop.get_task_factory() is None:
        loop.set_task_factory(_task_keeping_context)
    return raven_exception_handler


def _task_keeping_context(
    loop: asyncio.AbstractEventLoop, coro: Any, context: Optional[VarsContext] = None, **kwargs: Any
) -> asyncio.Task:
    """A task like the loop would make, whose context is kept for its report (Python 3.11)."""
    import contextvars

    if context is None:
        context = contextvars.copy_context()
    task: asyncio.Task = asyncio.Task(coro, loop=loop, context=context, **kwargs)  # type: ignore[call-arg]
    task.add_done_callback(functools.partial(_keep_context, context))
    return task


def _keep_context(context: VarsContext, task: asyncio.Task) -> None:
    """On a task that failed, put its context on the exception (read without retrieving it)."""
    try:
        if not task.cancelled():
            exc = getattr(task, "_exception", None)
            if exc is not None:
                setattr(exc, _CONTEXT_ATTR, context)
    except Exception:  # an exception type that takes no attributes: report without its context
        pass


def _context_of(context: Dict[str, Any], exc: BaseException) -> Optional[VarsContext]:
    """The contextvars of the task or callback that raised ``exc``, if they can be had."""
    future = context.get("task") or context.get("future")
    get_context = getattr(future, "get_context", None)
    if get_context is not None:
        found = get_context()
        if found is not None:
            return found
    kept = getattr(exc, _CONTEXT_ATTR, None)
    if kept is not None:
        return kept
    handle = context.get("handle")
    return getattr(handle, "_context", None)


def _report(client: Client, context: Dict[str, Any]) -> None:
    exc = context.get("exception")
    if not isinstance(exc, BaseException) or not _is_failure(exc):
        return
    try:
        vars_context = _context_of(context, exc)
        if vars_context is not None:
            try:
                vars_context.run(_capture, client, context, exc)
                return
            except RuntimeError as error:
                if "already entered" not in str(error):
                    raise
                # the failing task is the one running the handler: its context is current
        _capture(client, context, exc)
    except Exception:
        if getattr(client, "raise_send_errors", False):
            raise
        _error_logger.error("Failed to report an asyncio exception", exc_info=True)


def _capture(client: Client, context: Dict[str, Any], exc: BaseException) -> None:
    extra: Dict[str, Any] = {}
    data: Dict[str, Any] = {}
    message = context.get("message")
    if message:
        extra["asyncio.message"] = message
    future = context.get("task") or context.get("future")
    if future is not None:
        extra["asyncio.task" if isinstance(future, asyncio.Task) else "asyncio.future"] = future
        coro = getattr(future, "get_coro", lambda: None)()
        name = getattr(coro, "__qualname__", None)
        if isinstance(name, str) and name:
            data["transaction"] = name
    handle = context.get("handle")
    if handle is not None:
        extra["asyncio.handle"] = handle
    client.captureException(exc_info=(type(exc), exc, exc.__traceback__), data=data, extra=extra)
