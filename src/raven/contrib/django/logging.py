"""Deprecated home of the Django logging handler: use :mod:`raven.contrib.django.handlers`."""

from __future__ import annotations

import warnings

from raven.contrib.django import handlers

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any

__all__ = ["SentryHandler"]


class SentryHandler(handlers.SentryHandler):
    """:class:`raven.contrib.django.handlers.SentryHandler`, with a deprecation warning.

    raven 6.10 warned when this module was imported; the warning now comes when a handler is
    built, so importing the module (or listing it) costs nothing until it is used.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "raven.contrib.django.logging is deprecated. "
            "Use raven.contrib.django.handlers instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)
