"""The ``raven`` filter for PasteDeploy: ``[filter:sentry] use = egg:raven#raven``."""

from __future__ import annotations

from raven.base import Client
from raven.exceptions import ConfigurationError
from raven.middleware import Sentry

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict

__all__ = ["Client", "Sentry", "sentry_filter_factory"]

#: client options that take a list: written in an ini file as words separated by spaces/commas
_LIST_OPTIONS = frozenset(
    [
        "include_paths",
        "exclude_paths",
        "ignore_exceptions",
        "processors",
        "sanitize_keys",
        "hook_libraries",
    ]
)
#: client options that take a boolean: written as true/false, yes/no, on/off or 1/0
_BOOL_OPTIONS = frozenset(
    [
        "auto_log_stacks",
        "capture_locals",
        "include_versions",
        "install_sys_hook",
        "install_logging_hook",
        "enable_breadcrumbs",
        "raise_send_errors",
    ]
)
_TRUE = frozenset(["true", "yes", "on", "1"])
_FALSE = frozenset(["false", "no", "off", "0"])


def sentry_filter_factory(
    app: Callable[..., Any], global_conf: Dict[str, Any], **kwargs: Any
) -> Sentry:
    """Wrap ``app`` in :class:`~raven.middleware.Sentry` with a client built from the filter's keys.

    PasteDeploy's ``filter_app_factory`` protocol: the keys of the ``[filter:…]`` section are
    the ``Client`` options (``dsn = …``, ``release = …``). An ini file can only hold strings,
    so the list options (``include_paths = myapp otherapp``) are split on spaces and commas,
    and the boolean ones (``auto_log_stacks = false``) read as booleans; raven 6.10 passed
    them on as they were, which made ``"false"`` true. ``global_conf`` is not used.
    """
    return Sentry(app, Client(**_from_ini(kwargs)))


def _from_ini(options: Dict[str, Any]) -> Dict[str, Any]:
    converted = dict(options)
    for name, value in options.items():
        if not isinstance(value, str):
            continue
        if name in _LIST_OPTIONS:
            converted[name] = value.replace(",", " ").split()
        elif name in _BOOL_OPTIONS:
            word = value.strip().lower()
            if word not in _TRUE and word not in _FALSE:
                raise ConfigurationError(
                    "%s must be true or false (yes/no, on/off, 1/0), got %r" % (name, value)
                )
            converted[name] = word in _TRUE
    return converted
