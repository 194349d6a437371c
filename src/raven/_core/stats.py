"""Counters of what happened to captured events: delivered, or dropped and why."""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Optional, Tuple

__all__ = ["REPORT_REASONS", "ClientStats"]

#: our drop reasons -> the reasons a Sentry client report may name
REPORT_REASONS = {
    "ignored": "event_processor",
    "internal_error": "internal_sdk_error",
    "event_too_large": "send_error",
    "backoff": "network_error",
    "shutdown_timeout": "network_error",
}


class ClientStats:
    """``client.stats``: ``delivered`` plus ``dropped[reason]`` (thread-safe counters).

    Reasons: ``sample_rate``, ``ignored`` (ignore_exceptions), ``event_processor`` (a
    processor returned None), ``ratelimit_backoff`` (the server's rate limit was in force),
    ``network_error`` (not delivered, and not retried: event-loop transports), ``send_error``
    (refused by the server), ``event_too_large`` (413 even after trimming),
    ``queue_overflow`` (the in-memory queue was full), ``cache_overflow`` (the spool evicted
    its oldest events), ``shutdown_timeout`` (still queued when the process exited),
    ``internal_error`` (a bug or hostile data made building or encoding fail).

    ``by_category`` splits the drops by data category (``error``, ``default``, …), as client
    reports do. ``on_drop(reason, category, quantity)``, when set, is called for every drop.
    """

    __slots__ = ("_lock", "_unreported", "by_category", "delivered", "dropped", "on_drop")

    def __init__(self, on_drop: Optional[Callable[[str, str, int], Any]] = None) -> None:
        self._lock = threading.Lock()
        self.delivered = 0
        self.dropped: Dict[str, int] = {}
        self.by_category: Dict[Tuple[str, str], int] = {}
        self._unreported: Dict[Tuple[str, str], int] = {}
        self.on_drop = on_drop

    def drop(self, reason: str, quantity: int = 1, category: str = "error") -> None:
        key = (reason, category)
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + quantity
            self.by_category[key] = self.by_category.get(key, 0) + quantity
            report_key = (REPORT_REASONS.get(reason, reason), category)
            self._unreported[report_key] = self._unreported.get(report_key, 0) + quantity
        if self.on_drop is not None:
            try:
                self.on_drop(reason, category, quantity)
            except Exception:
                import logging

                logging.getLogger("sentry.errors").error("on_drop callback failed", exc_info=True)

    def add_delivered(self, quantity: int = 1) -> None:
        with self._lock:
            self.delivered += quantity

    def take_unreported(self) -> Dict[Tuple[str, str], int]:
        """The drops not yet sent in a client report (and forget them)."""
        with self._lock:
            taken, self._unreported = self._unreported, {}
        return taken

    def restore_unreported(self, counts: Dict[Tuple[str, str], int]) -> None:
        """Put back counts whose client report could not be sent."""
        with self._lock:
            for key, quantity in counts.items():
                self._unreported[key] = self._unreported.get(key, 0) + quantity

    @property
    def has_unreported(self) -> bool:
        return bool(self._unreported)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> Dict[str, object]:
        with self._lock:
            return {"delivered": self.delivered, "dropped": dict(self.dropped)}

    def __repr__(self) -> str:
        return "<ClientStats delivered=%d dropped=%r>" % (self.delivered, self.dropped)
