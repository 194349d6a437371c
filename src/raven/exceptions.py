"""Exceptions raised by raven, kept at their 6.10 names so `except` clauses keep working."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any


class APIError(Exception):
    """The server refused an event (a 4xx/5xx answer with an ``X-Sentry-Error`` reason)."""

    def __init__(self, message: str, code: int = 0, headers: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: the response headers (``X-Sentry-Rate-Limits``, ``Retry-After``, ``X-Sentry-Error``)
        self.headers: Any = headers if headers is not None else {}

    def __str__(self) -> str:
        return str(self.message)


class RateLimited(APIError):
    """The server answered 429; ``retry_after`` is the delay it asked for, in seconds."""

    def __init__(self, message: str, retry_after: float = 0, headers: Any = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, 429, headers)


class InvalidGitRepository(Exception):
    """``fetch_git_sha`` found no git directory or could not resolve the ref."""


class ConfigurationError(ValueError):
    """A client option has a value raven cannot use."""


class InvalidDsn(ConfigurationError):
    """The DSN is malformed; the message names the part that is wrong."""
