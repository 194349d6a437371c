"""The requests transport's sends, run on a background thread so capturing never waits."""

from __future__ import annotations

from raven.transport.base import AsyncTransport
from raven.transport.requests import RequestsHTTPTransport
from raven.transport.threaded import AsyncWorker as AsyncWorker  # 6.10 name, kept importable
from raven.transport.threaded import BackgroundSends

__all__ = ["ThreadedRequestsHTTPTransport"]


class ThreadedRequestsHTTPTransport(BackgroundSends, AsyncTransport, RequestsHTTPTransport):
    """:class:`RequestsHTTPTransport` sends, run in the background so capturing never waits.

    Args:
        shutdown_timeout: seconds to wait for pending events at exit (DSN
            ``?shutdown_timeout=``); 6.10 fixed this at 10.
        (and the :class:`RequestsHTTPTransport` options)
    """

    scheme = ["threaded+requests+http", "threaded+requests+https"]
