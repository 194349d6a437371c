"""Rate limits the server asked for, per data category, with an injectable clock.

The server says what to hold back in ``X-Sentry-Rate-Limits`` (on any response, 200s too),
in ``Retry-After`` on a 429, or with a bare 429 (60 s for everything). While a limit holds,
events of its category are not sent at all: they are dropped and counted as
``ratelimit_backoff``, because retrying into a rate limit only prolongs it.
"""

from __future__ import annotations

import threading
import time

from raven.transport.http import parse_retry_after

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Iterable, Optional, Tuple

__all__ = ["KNOWN_CATEGORIES", "RateLimits", "parse_rate_limits"]

#: categories a limit may name (Sentry's list); a limit naming only unknown ones is ignored
KNOWN_CATEGORIES = frozenset(
    (
        "default",
        "error",
        "transaction",
        "security",
        "attachment",
        "session",
        "profile",
        "replay",
        "metric_bucket",
        "internal",
        "monitor",
        "log_item",
        "span",
    )
)
#: a 429 that says nothing about how long: Sentry's rule is one minute for everything
DEFAULT_RETRY_AFTER = 60.0
#: the key standing for "every category"
ALL = ""


def parse_rate_limits(value: str) -> Iterable[Tuple[float, Tuple[str, ...]]]:
    """``(seconds, categories)`` for each quota in an ``X-Sentry-Rate-Limits`` header.

    Each quota is ``retry_after:categories:scope[:reason[:namespaces…]]``; categories are
    ``;``-separated and empty means all. Unparseable quotas are skipped, extra fields ignored.
    """
    for quota in value.split(","):
        fields = quota.strip().split(":")
        if not fields or not fields[0]:
            continue
        try:
            seconds = float(fields[0])
        except ValueError:
            continue
        if seconds != seconds or seconds < 0:  # NaN or negative
            continue
        categories = fields[1] if len(fields) > 1 else ""
        names = tuple(c.strip() for c in categories.split(";") if c.strip())
        yield seconds, names


class RateLimits:
    """Per-category "do not send until" deadlines, fed from server responses.

    Thread-safe; ``clock`` is a monotonic seconds function (injected by tests).
    """

    def __init__(self, clock: Optional[Callable[[], float]] = None) -> None:
        self._clock = clock or time.monotonic
        self._until: Dict[str, float] = {}
        self._lock = threading.Lock()

    def is_limited(self, category: str) -> bool:
        """Whether events of ``category`` must not be sent now."""
        if not self._until:  # the common case: no limit was ever set
            return False
        now = self._clock()
        return self._until.get(category, 0) > now or self._until.get(ALL, 0) > now

    def remaining(self, category: str) -> float:
        """Seconds until ``category`` may be sent again (0 when it may now)."""
        if not self._until:
            return 0.0
        deadline = max(self._until.get(category, 0), self._until.get(ALL, 0))
        return max(deadline - self._clock(), 0.0)

    def any_active(self) -> bool:
        now = self._clock()
        return any(deadline > now for deadline in self._until.values())

    def update(self, status: int, headers: Any) -> Optional[float]:
        """Apply a response's limits; returns the longest new limit in seconds, or None.

        ``headers`` is any mapping with ``get`` (case-insensitive for real responses).
        """
        header = _get(headers, "X-Sentry-Rate-Limits")
        applied: list = []
        if header:
            for seconds, categories in parse_rate_limits(header):
                if categories:
                    known = [c for c in categories if c in KNOWN_CATEGORIES]
                    if not known:
                        continue  # only categories we never send: not ours to honour
                    for category in known:
                        applied.append((category, seconds))
                else:
                    applied.append((ALL, seconds))
        elif status == 429:
            seconds = parse_retry_after(_get(headers, "Retry-After")) or DEFAULT_RETRY_AFTER
            applied.append((ALL, seconds))
        if status == 429 and not applied:
            # the header named only unknown categories: Retry-After, else a minute, for all
            seconds = parse_retry_after(_get(headers, "Retry-After")) or DEFAULT_RETRY_AFTER
            applied.append((ALL, seconds))
        if not applied:
            return None
        now = self._clock()
        with self._lock:
            for category, seconds in applied:
                deadline = now + seconds
                if deadline > self._until.get(category, 0):  # colliding limits: the longest wins
                    self._until[category] = deadline
        return max(seconds for _, seconds in applied)

    def clear(self) -> None:
        with self._lock:
            self._until.clear()


def _get(headers: Any, name: str) -> Optional[str]:
    if not headers:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, dict):  # a plain dict: look case-insensitively
        lowered = name.lower()
        for key, item in headers.items():
            if key.lower() == lowered:
                return item
    return value
