"""Counters of what happened to captured events: delivered, or dropped and why."""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Dict

__all__ = ["ClientStats"]


class ClientStats:
    """``client.stats``: ``delivered`` plus ``dropped[reason]`` (thread-safe counters).

    Reasons: ``sample_rate``, ``ignored`` (ignore_exceptions), ``event_processor`` (a
    processor returned None), ``backoff``, ``ratelimit_backoff``, ``network_error``,
    ``send_error`` (refused by the server), ``queue_overflow``, ``internal_error`` (a bug or
    hostile data made building or encoding fail).
    """

    __slots__ = ("_lock", "delivered", "dropped")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delivered = 0
        self.dropped: Dict[str, int] = {}

    def drop(self, reason: str, quantity: int = 1) -> None:
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + quantity

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> Dict[str, object]:
        with self._lock:
            return {"delivered": self.delivered, "dropped": dict(self.dropped)}

    def __repr__(self) -> str:
        return "<ClientStats delivered=%d dropped=%r>" % (self.delivered, self.dropped)
