"""Logging set-up helpers (``setup_logging``) and the names 6.10 exported from ``raven.conf``."""

from __future__ import annotations

import logging

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Iterable

__all__ = ("EXCLUDE_LOGGER_DEFAULTS", "setup_logging")

EXCLUDE_LOGGER_DEFAULTS = (
    "raven",
    "gunicorn",
    "south",
    "sentry.errors",
    "django.request",
    # dill produces a log record for every object it pickles
    "dill",
)


def setup_logging(
    handler: logging.Handler, exclude: Iterable[str] = EXCLUDE_LOGGER_DEFAULTS
) -> bool:
    """Attach ``handler`` to the root logger, keeping the ``exclude`` loggers out of it.

    Returns False (and changes nothing) when the root logger already has a handler of the same
    class. Each excluded logger stops propagating and gets a plain ``StreamHandler``.
    """
    logger = logging.getLogger()
    if handler.__class__ in [type(h) for h in logger.handlers]:
        return False
    logger.addHandler(handler)
    for logger_name in exclude:
        excluded = logging.getLogger(logger_name)
        excluded.propagate = False
        excluded.addHandler(logging.StreamHandler())
    return True
