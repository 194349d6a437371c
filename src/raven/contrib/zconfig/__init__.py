"""ZConfig ``<sentry>`` log handler section: ``%import raven.contrib.zconfig`` in a ``<logger>``.

The section type lives in this package's ``component.xml``; :class:`Factory` turns a section
into a :class:`raven.handlers.logging.SentryHandler`.
"""

from __future__ import annotations

import importlib
import logging

import raven.handlers.logging

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any

__all__ = ["Factory"]

#: the section keys passed to the handler (and through it to the client), as in 6.10
_CLIENT_KEYS = (
    "dsn",
    "site",
    "name",
    "release",
    "environment",
    "exclude_paths",
    "include_paths",
    "sample_rate",
    "list_max_length",
    "string_max_length",
    "auto_log_stacks",
    "processors",
)


def _zconfig_factory_base() -> Any:
    try:
        return importlib.import_module("ZConfig.components.logger.factory").Factory
    except ImportError as exc:
        raise ImportError(
            "raven.contrib.zconfig needs ZConfig: pip install 'raven[zconfig]' (%s)" % exc,
            name="ZConfig",
        ) from exc


class Factory(_zconfig_factory_base()):  # type: ignore[misc]  # ZConfig's class, found at import
    """Build the handler of a ``<sentry>`` section (ZConfig calls it once, then reuses it).

    Args:
        section: the parsed section; a ``level`` left at ``NOTSET`` becomes ``ERROR``.
    """

    def __init__(self, section: Any) -> None:
        super().__init__()
        self.section = section
        self.section.level = self.section.level or logging.ERROR

    def getLevel(self) -> int:
        level: int = self.section.level
        return level

    def create(self) -> raven.handlers.logging.SentryHandler:
        options = {key: getattr(self.section, key) for key in _CLIENT_KEYS}
        return raven.handlers.logging.SentryHandler(level=self.section.level, **options)
