"""``AsyncClient``: raven 6.10's deprecated client that sent from a background thread.

``async`` has been a keyword since Python 3.7, so this module cannot be named in an ``import``
statement; ``importlib.import_module("raven.contrib.async")`` loads it, for code that did.
"""

from __future__ import annotations

import warnings

from raven.base import Client
from raven.transport.threaded import AsyncWorker

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Optional

__all__ = ["AsyncClient", "AsyncWorker", "Client"]


class AsyncClient(Client):
    """Deprecated (as in 6.10): every client already sends from a background thread.

    Events go through the client's normal delivery (the DSN's transport, with its bounded
    queue, retries and ``flush``); 6.10 queued each send on ``worker`` instead. ``worker``
    is kept as an attribute for code that reads it.
    """

    def __init__(self, worker: Optional[AsyncWorker] = None, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "AsyncClient is deprecated: Client already sends in the background "
            "(the default threaded+http transport); use Client",
            DeprecationWarning,
            stacklevel=2,
        )
        self.worker = worker or AsyncWorker()
        super().__init__(*args, **kwargs)

    def send_sync(self, **kwargs: Any) -> None:
        """Send through the normal delivery (what :meth:`send` does too)."""
        Client.send(self, **kwargs)
