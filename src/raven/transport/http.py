"""Blocking HTTP transport on a urllib3 connection pool (keep-alive, TLS with hostname checks)."""

from __future__ import annotations

from raven.conf import defaults
from raven.exceptions import APIError, RateLimited
from raven.transport.base import Transport

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Optional

__all__ = ["HTTPTransport", "check_response", "parse_retry_after", "urlopen"]


def urlopen(*args: Any, **kwargs: Any) -> Any:
    """:func:`raven.utils.http.urlopen`, kept importable from here as in 6.10."""
    from raven.utils.http import urlopen as _urlopen

    return _urlopen(*args, **kwargs)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("expected a boolean (0/1/true/false), got %r" % value)
    return bool(value)


def parse_retry_after(value: Optional[str]) -> float:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date; 0 if absent."""
    if not value:
        return 0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    import datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max((when - datetime.datetime.now(datetime.timezone.utc)).total_seconds(), 0.0)


class HTTPTransport(Transport):
    """POST each event and wait for the answer.

    Args:
        timeout: seconds for connecting and for reading the answer (DSN ``?timeout=``).
        verify_ssl: check the server certificate and host name (DSN ``?verify_ssl=0`` to skip).
        ca_certs: CA bundle path; certifi's by default.
    """

    scheme = ["sync+http", "sync+https"]

    def __init__(
        self,
        *args: Any,
        timeout: Any = defaults.TIMEOUT,
        verify_ssl: Any = True,
        ca_certs: Optional[str] = None,
    ) -> None:
        super().__init__(*args)
        try:
            self.timeout = float(timeout)
        except (TypeError, ValueError):
            raise ValueError("timeout must be a number of seconds, got %r" % (timeout,))
        if self.timeout <= 0:
            raise ValueError("timeout must be positive, got %r" % (timeout,))
        self.verify_ssl = _as_bool(verify_ssl)
        self.ca_certs = ca_certs
        self._pool: Any = None

    def _get_pool(self) -> Any:
        if self._pool is None:
            import urllib3

            if self.verify_ssl:
                self._pool = urllib3.PoolManager(
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=self.ca_certs or defaults.CA_BUNDLE or None,
                    retries=False,
                    timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                )
            else:
                self._pool = urllib3.PoolManager(
                    cert_reqs="CERT_NONE",
                    retries=False,
                    timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                )
        return self._pool

    def send(self, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        """POST ``data``; raise :class:`RateLimited`/:class:`APIError` on a refusal."""
        from raven.breadcrumbs import _suppressed

        token = _suppressed.set(True)
        try:
            response = self._get_pool().request(
                "POST", url, body=data, headers=headers, preload_content=True
            )
        finally:
            _suppressed.reset(token)
        check_response(response.status, response.headers)
        return response


def check_response(status: int, headers: Any) -> None:
    """Raise for a refused send: :class:`RateLimited` on 429, :class:`APIError` on others.

    Every transport maps its library's response through here, so the delivery core sees one
    shape: the exception carries ``code`` and the response ``headers`` (a case-insensitive
    mapping when the library gives one). 2xx and 3xx return None.
    """
    if status < 400:
        return
    message = headers.get("X-Sentry-Error") or "HTTP %s" % status
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After")) or 60
        raise RateLimited(message, retry_after, headers)
    raise APIError(message, status, headers)
