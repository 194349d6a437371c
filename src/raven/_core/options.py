"""The client options, each defined once: default, environment variable, type and check.

``Client(**options)`` is parsed here, so a bad value fails at configuration time with a
message naming the option, and the rest of the client reads typed values.
"""

from __future__ import annotations

import os
import sys
import warnings

from raven.conf import defaults
from raven.exceptions import ConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, FrozenSet, List, Optional, Tuple, Union

__all__ = ["DELIVERY_KEYS", "ClientOptions", "DeliveryOptions", "UnknownOptionWarning"]


class UnknownOptionWarning(UserWarning):
    """``Client()`` got an option it does not know (6.10 ignored these silently)."""


def _positive_int(name: str, value: Any, default: int) -> int:
    if not value:  # 0/None/'' mean "the default", as in 6.10
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError("%s must be an integer, got %r" % (name, value))
    if number < 0:
        raise ConfigurationError("%s must not be negative, got %r" % (name, value))
    return number


def _rate(name: str, value: Any) -> float:
    if value is None:
        return 1.0
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError("%s must be a number between 0 and 1, got %r" % (name, value))
    if not 0.0 <= rate <= 1.0:
        raise ConfigurationError("%s must be between 0 and 1, got %r" % (name, value))
    return rate


def _str_list(name: str, value: Any) -> Tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise ConfigurationError("%s must be a list of strings, got %r" % (name, value))


def _mapping(name: str, value: Any) -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        try:
            return dict(value)
        except (TypeError, ValueError):
            raise ConfigurationError("%s must be a dict, got %r" % (name, value))
    return value


KNOWN = frozenset(
    [
        "dsn",
        "name",
        "machine",
        "release",
        "environment",
        "site",
        "tags",
        "context",
        "include_paths",
        "exclude_paths",
        "ignore_exceptions",
        "sample_rate",
        "auto_log_stacks",
        "capture_locals",
        "string_max_length",
        "list_max_length",
        "processors",
        "sanitize_keys",
        "include_versions",
        "repos",
        "timeout",
        # delivery (also DSN query options, see DELIVERY_KEYS)
        "endpoint",
        "spool_path",
        "spool_max_events",
        "spool_max_bytes",
        "queue_size",
        "queue_bytes",
        "on_drop",
    ]
)
#: delivery options a DSN query may carry; they configure the client, not the transport
DELIVERY_KEYS = frozenset(
    ["endpoint", "spool_path", "spool_max_events", "spool_max_bytes", "queue_size", "queue_bytes"]
)
#: options raven integrations and 6.10 subclasses pass through Client(**kwargs)
PASSTHROUGH = frozenset(
    [
        "install_sql_hook",
        "validate_cert",
        "worker",
        "transport_options",
        "servers",
        "public_key",
        "secret_key",
        "project",
    ]
)


class ClientOptions:
    """Typed client options (see ``docs/options.md``); built by :meth:`parse`."""

    __slots__ = (
        "auto_log_stacks",
        "capture_locals",
        "context",
        "environment",
        "exclude_paths",
        "ignore_exceptions",
        "include_paths",
        "include_versions",
        "list_max_length",
        "name",
        "processors",
        "release",
        "repos",
        "sample_rate",
        "sanitize_keys",
        "site",
        "string_max_length",
        "tags",
    )

    auto_log_stacks: bool
    capture_locals: bool
    context: Dict[str, Any]
    environment: Optional[str]
    exclude_paths: Tuple[str, ...]
    ignore_exceptions: Tuple[Union[str, type], ...]
    include_paths: Tuple[str, ...]
    include_versions: bool
    list_max_length: int
    name: str
    processors: Tuple[Any, ...]
    release: Optional[str]
    repos: Dict[str, Any]
    sample_rate: float
    sanitize_keys: Optional[FrozenSet[str]]
    site: Optional[str]
    string_max_length: int
    tags: Dict[str, Any]

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, values[name])

    @classmethod
    def parse(cls, o: Dict[str, Any]) -> ClientOptions:
        """Options from ``Client(**o)`` and the environment, checked and typed."""
        unknown = sorted(set(o) - KNOWN - PASSTHROUGH)
        if unknown:
            warnings.warn(
                "raven.Client got unknown option(s) %s; they are ignored" % ", ".join(unknown),
                UnknownOptionWarning,
                stacklevel=4,
            )
        env = os.environ
        context = o.get("context")
        if context is None:
            context = {"sys.argv": list(getattr(sys, "argv", []) or [])}
        sanitize_keys = o.get("sanitize_keys")
        if sanitize_keys is not None:
            sanitize_keys = frozenset(
                str(k).lower() for k in _str_list("sanitize_keys", sanitize_keys)
            )
        processors = o.get("processors")
        if processors is None:
            processors = defaults.PROCESSORS
        return cls(
            name=str(o.get("name") or env.get("SENTRY_NAME") or o.get("machine") or defaults.NAME),
            release=o.get("release") or env.get("SENTRY_RELEASE") or env.get("HEROKU_SLUG_COMMIT"),
            environment=o.get("environment") or env.get("SENTRY_ENVIRONMENT") or None,
            site=o.get("site"),
            tags=dict(_mapping("tags", o.get("tags"))),
            context=_mapping("context", context),
            include_paths=_str_list("include_paths", o.get("include_paths")),
            exclude_paths=_str_list("exclude_paths", o.get("exclude_paths")),
            ignore_exceptions=tuple(_str_list("ignore_exceptions", o.get("ignore_exceptions"))),
            sample_rate=_rate("sample_rate", o.get("sample_rate")),
            auto_log_stacks=bool(o.get("auto_log_stacks") or defaults.AUTO_LOG_STACKS),
            capture_locals=bool(o.get("capture_locals", defaults.CAPTURE_LOCALS)),
            string_max_length=_positive_int(
                "string_max_length", o.get("string_max_length"), defaults.MAX_LENGTH_STRING
            ),
            list_max_length=_positive_int(
                "list_max_length", o.get("list_max_length"), defaults.MAX_LENGTH_LIST
            ),
            processors=tuple(_str_list("processors", processors)),
            sanitize_keys=sanitize_keys,
            include_versions=bool(o.get("include_versions", True)),
            repos=_mapping("repos", o.get("repos")),
        )

    def as_dict(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


class DeliveryOptions:
    """How events leave the client: endpoint, queue bounds, spool (``Client()`` or DSN query)."""

    __slots__ = (
        "endpoint",
        "on_drop",
        "queue_bytes",
        "queue_size",
        "spool_max_bytes",
        "spool_max_events",
        "spool_path",
    )

    def __init__(self, options: Dict[str, Any], dsn_query: Dict[str, Any]) -> None:
        def pick(name: str) -> Any:
            value = options.get(name)
            return dsn_query.get(name) if value is None else value

        endpoint = str(pick("endpoint") or "store").lower()
        if endpoint not in ("store", "envelope", "auto"):
            raise ConfigurationError(
                "endpoint must be 'store', 'envelope' or 'auto', got %r" % (endpoint,)
            )
        self.endpoint = endpoint
        self.queue_size = _positive_int("queue_size", pick("queue_size"), 10000)
        self.queue_bytes = _positive_int("queue_bytes", pick("queue_bytes"), 32 * 1024 * 1024)
        self.spool_path = pick("spool_path") or os.environ.get("SENTRY_SPOOL_PATH") or None
        self.spool_max_events = _positive_int("spool_max_events", pick("spool_max_events"), 100000)
        self.spool_max_bytes = _positive_int(
            "spool_max_bytes", pick("spool_max_bytes"), 256 * 1024 * 1024
        )
        on_drop = options.get("on_drop")
        if on_drop is not None and not callable(on_drop):
            raise ConfigurationError(
                "on_drop must be a callable (reason, category, quantity), got %r" % (on_drop,)
            )
        self.on_drop = on_drop


def option_names() -> List[str]:
    return sorted(KNOWN)
