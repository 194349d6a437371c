"""Turn framework settings (Django settings, a Flask or Sanic config) into ``Client`` options."""

from __future__ import annotations

import os
from collections.abc import Mapping

from raven.utils.imports import import_string

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Optional

__all__ = ["convert_options"]

# Options that may come from a ``SENTRY_<NAME>`` setting, in 6.10's order.
_SETTING_KEYS = (
    "include_paths",
    "exclude_paths",
    "timeout",
    "name",
    "auto_log_stacks",
    "string_max_length",
    "list_max_length",
    "site",
    "processors",
    "sanitize_keys",
    "dsn",
    "context",
    "tags",
    "release",
    "repos",
    "environment",
    "ignore_exceptions",
    "sample_rate",
)
_LIST_KEYS = ("include_paths", "exclude_paths")


def convert_options(settings: Any, defaults: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Collect ``Client(**options)`` keyword arguments from a settings object or mapping.

    Precedence, per option: the ``SENTRY_CONFIG`` dict (or, when that is empty or absent,
    ``RAVEN_CONFIG``), keyed by lower-case option name; then the setting ``SENTRY_<NAME>``;
    then ``defaults[name]``; then None (an empty list for include/exclude paths). The ``dsn``
    falls back to the ``SENTRY_DSN`` environment variable only when ``defaults`` has no
    ``dsn`` key at all. Every option is present in the result, most as None, which ``Client``
    reads as "use the default".

    ``transport`` comes from the ``SENTRY_TRANSPORT`` setting, else the config dict, else
    ``defaults``; a string is imported as a dotted path to a transport class.

    Args:
        settings: a mapping (Flask/Sanic config, a plain dict) or any object with attributes
            (Django settings, a module).
        defaults: fallback values an integration supplies, e.g. its ``include_paths``.

    Returns:
        A new dict; the config dict in ``settings`` is copied, never modified.
    """
    fallbacks: Mapping[str, Any] = defaults if defaults is not None else {}
    lookup = _lookup_for(settings)

    options: dict[str, Any] = dict(
        lookup("SENTRY_CONFIG", None) or lookup("RAVEN_CONFIG", None) or {}
    )

    for key in _SETTING_KEYS:
        if key in options:
            continue
        if key == "dsn":
            fallback = fallbacks.get("dsn", os.environ.get("SENTRY_DSN"))
        else:
            fallback = fallbacks.get(key, [] if key in _LIST_KEYS else None)
        options[key] = lookup(f"SENTRY_{key.upper()}", fallback)

    transport = (
        lookup("SENTRY_TRANSPORT", None) or options.get("transport") or fallbacks.get("transport")
    )
    if isinstance(transport, str):
        transport = import_string(transport)
    options["transport"] = transport
    return options


def _lookup_for(settings: Any) -> Callable[[str, Any], Any]:
    if isinstance(settings, Mapping):

        def from_mapping(name: str, default: Any) -> Any:
            return settings.get(name, default)

        return from_mapping

    def from_attributes(name: str, default: Any) -> Any:
        return getattr(settings, name, default)

    return from_attributes
