"""Errors about transport schemes."""

from __future__ import annotations


class InvalidScheme(ValueError):
    """A DSN or registration names a scheme no transport handles."""


class DuplicateScheme(Exception):
    """``register_scheme`` was asked to register a scheme that is already taken."""
