"""zerorpc integration: report the exceptions a zerorpc server's methods raise.

    zerorpc.Context.get_instance().register_middleware(SentryMiddleware(dsn="..."))

zerorpc itself is not imported here: the middleware is a plain object zerorpc calls into,
so this module loads (and can be configured) without zerorpc or gevent in the process.
"""

from __future__ import annotations

import logging

from raven.base import Client

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Optional

__all__ = ["Client", "SentryMiddleware"]

_error_logger = logging.getLogger("sentry.errors")


class SentryMiddleware:
    """A zerorpc middleware sending each exception a server method raises to Sentry.

    The event carries zerorpc's task context (the headers its other middlewares propagate,
    such as a trace id) as ``extra``.

    Args:
        hide_zerorpc_frames: leave zerorpc's own frames (the dispatch that called your
            method) out of the stack trace, so it starts at your code.
        client: the :class:`raven.Client` to report with; by default one is built from
            ``client_kwargs`` (``dsn=...``, or ``SENTRY_DSN`` from the environment).
    """

    def __init__(
        self, hide_zerorpc_frames: bool = True, client: Optional[Client] = None, **kwargs: Any
    ) -> None:
        self._sentry_client = client or Client(**kwargs)
        self._hide_zerorpc_frames = hide_zerorpc_frames

    @property
    def client(self) -> Client:
        return self._sentry_client

    def server_inspect_exception(
        self, req_event: Any, rep_event: Any, task_ctx: Any, exc_info: Any
    ) -> None:
        """zerorpc's hook: a method raised; ``exc_info`` is its ``sys.exc_info()``.

        Never raises into zerorpc, which would lose the reply to the caller.
        """
        try:
            exc_type, exc_value, tb = exc_info
            if self._hide_zerorpc_frames:
                tb = _skip_zerorpc_frames(tb)
            extra = dict(task_ctx) if isinstance(task_ctx, dict) else None
            self._sentry_client.captureException((exc_type, exc_value, tb), extra=extra)
        except Exception:
            _error_logger.error("raven: could not report a zerorpc exception", exc_info=True)


def _skip_zerorpc_frames(tb: Any) -> Any:
    """``tb`` from its first frame outside the zerorpc package (all of it if there is none).

    raven 6.10 marked zerorpc's frames with ``__traceback_hide__`` in their locals, until a
    frame named ``__call__`` or ``_receiver``; starting the trace past them leaves the frames
    (still running zerorpc code) untouched and does not depend on zerorpc's function names.
    """
    current = tb
    while current is not None:
        module = current.tb_frame.f_globals.get("__name__") or ""
        if module != "zerorpc" and not module.startswith("zerorpc."):
            return current
        current = current.tb_next
    return tb
