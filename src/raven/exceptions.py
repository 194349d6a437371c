"""Exceptions raised by raven, kept at their 6.10 names so `except` clauses keep working."""

from __future__ import annotations


class APIError(Exception):
    """The server refused an event (a 4xx/5xx answer with an ``X-Sentry-Error`` reason)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


class RateLimited(APIError):
    """The server answered 429; ``retry_after`` is the delay it asked for, in seconds."""

    def __init__(self, message: str, retry_after: float = 0) -> None:
        self.retry_after = retry_after
        super().__init__(message, 429)


class InvalidGitRepository(Exception):
    """``fetch_git_sha`` found no git directory or could not resolve the ref."""


class ConfigurationError(ValueError):
    """A client option has a value raven cannot use."""


class InvalidDsn(ConfigurationError):
    """The DSN is malformed; the message names the part that is wrong."""
