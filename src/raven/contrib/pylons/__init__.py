"""WSGI middleware for Pylons 1.x applications, configured from the app's ``sentry.*`` keys."""

from __future__ import annotations

from raven.base import Client
from raven.middleware import Sentry as Middleware

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from collections.abc import Mapping
    from typing import Any, Callable, List, Optional

__all__ = ["Client", "Middleware", "Sentry", "list_from_setting"]


def list_from_setting(config: Mapping[str, Any], setting: str) -> Optional[List[str]]:
    """The space-separated words of a config value; None when it is missing or empty."""
    value = config.get(setting)
    if not value:
        return None
    return str(value).split()


class Sentry(Middleware):
    """The WSGI middleware with a client built from a Pylons config.

    Pylons itself is not imported: any mapping with the keys below works (Pylons passes its
    ``config``, which also holds the ``[app:main]`` keys of the ini file).

    Args:
        app: the WSGI application to wrap.
        config: a mapping with ``sentry.dsn``, ``sentry.name``, ``sentry.site``, and
            ``sentry.include_paths``/``sentry.exclude_paths`` (module names separated by
            spaces); every key is optional.
        client_cls: the client class to build.
    """

    def __init__(
        self, app: Callable[..., Any], config: Mapping[str, Any], client_cls: Any = Client
    ) -> None:
        client = client_cls(
            dsn=config.get("sentry.dsn"),
            name=config.get("sentry.name"),
            site=config.get("sentry.site"),
            include_paths=list_from_setting(config, "sentry.include_paths"),
            exclude_paths=list_from_setting(config, "sentry.exclude_paths"),
        )
        super().__init__(app, client)
