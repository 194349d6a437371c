"""Small helpers raven 6.10 exposed from ``raven.utils`` (dict merging, ``varmap``, versions)."""

from __future__ import annotations

import logging
import sys
import threading
from functools import update_wrapper

from raven._core.plain import MAX_CONTAINERS

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Iterable, Optional, TypeVar

    T = TypeVar("T")

__all__ = [
    "get_auth_header",
    "get_version_from_app",
    "get_versions",
    "is_namedtuple",
    "iteritems",
    "memoize",
    "merge_dicts",
    "once",
    "string_types",
    "varmap",
]

logger = logging.getLogger("raven.errors")

string_types = (str,)


def iteritems(d: Dict[Any, Any]) -> Iterable[Any]:
    return iter(d.items())


def merge_dicts(*dicts: Optional[Dict[Any, Any]]) -> Dict[Any, Any]:
    """A new dict with the items of each argument in turn (later ones win; None is skipped)."""
    out: Dict[Any, Any] = {}
    for d in dicts:
        if d:
            out.update(d)
    return out


def is_namedtuple(value: Any) -> bool:
    """Structural check (a tuple with ``_fields``), since namedtuple classes share no base."""
    return isinstance(value, tuple) and hasattr(value, "_fields")


#: the key of ``varmap``'s context that holds its container budget (ids are never negative)
_BUDGET = -1


def varmap(
    func: Callable[[Any, Any], Any],
    var: Any,
    context: Optional[Dict[int, int]] = None,
    name: Any = None,
) -> Any:
    """Apply ``func(key, value)`` bottom-up through dicts, lists and tuples.

    Cycles become ``func(name, '<...>')``; namedtuples are treated as leaves, as in 6.10.
    At most 2,000 containers are visited (the rest become ``'<...>'`` too): a structure that
    shares its parts would otherwise take exponential time.
    """
    if context is None:
        context = {_BUDGET: MAX_CONTAINERS}
    objid = id(var)
    if objid in context:
        return func(name, "<...>")
    if isinstance(var, (dict, list, tuple)):
        left = context.get(_BUDGET)
        if left is not None:
            if left <= 0:
                return func(name, "<...>")
            context[_BUDGET] = left - 1
    context[objid] = 1
    try:
        if isinstance(var, dict):
            ret: Any = {k: varmap(func, v, context, k) for k, v in var.items()}
        elif isinstance(var, (list, tuple)) and not is_namedtuple(var):
            ret = [varmap(func, f, context, name) for f in var]
        else:
            ret = var
        return func(name, ret)
    finally:
        del context[objid]


class memoize:
    """A cached property: computed on first access, then stored on the instance."""

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.__name__ = func.__name__
        self.__module__ = func.__module__
        self.__doc__ = func.__doc__
        self.func = func

    def __get__(self, obj: Any, type: Any = None) -> Any:
        if obj is None:
            return self
        d, n = vars(obj), self.__name__
        if n not in d:
            d[n] = self.func(obj)
        return d[n]


def once(func: Callable[..., T]) -> Callable[..., Optional[T]]:
    """Run ``func`` at most once per process (thread-safe); ``wrapper.called`` tells if it ran."""
    lock = threading.Lock()

    def new_func(*args: Any, **kwargs: Any) -> Optional[T]:
        if new_func.called:  # type: ignore[attr-defined]
            return None
        with lock:
            if new_func.called:  # type: ignore[attr-defined]
                return None
            rv = func(*args, **kwargs)
            new_func.called = True  # type: ignore[attr-defined]
            return rv

    new_func.called = False  # type: ignore[attr-defined]
    return update_wrapper(new_func, func)


_VERSION_CACHE: Dict[str, Optional[str]] = {}


def get_version_from_app(module_name: str, app: Any) -> Optional[str]:
    """The version a module advertises: installed distribution first, then its attributes."""
    version: Any = None
    try:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:
            version = dist_version(module_name)
        except (PackageNotFoundError, ValueError):
            version = None
    except ImportError:  # pragma: no cover - Python < 3.8
        version = None
    if version is None:
        for attr in ("get_version", "__version__", "VERSION", "version"):
            version = getattr(app, attr, None)
            if version is not None:
                break
        if callable(version):
            try:
                version = version()
            except Exception:
                version = None
    if isinstance(version, (list, tuple)):
        version = ".".join(str(o) for o in version)
    return None if version is None else str(version)


def get_versions(module_list: Optional[Iterable[str]] = None) -> Dict[str, str]:
    """Versions of the given modules and each of their parent packages (cached per name)."""
    if not module_list:
        return {}
    ext_module_list: set[str] = set()
    for m in module_list:
        parts = m.split(".")
        ext_module_list.update(".".join(parts[:idx]) for idx in range(1, len(parts) + 1))
    versions: Dict[str, str] = {}
    for module_name in ext_module_list:
        if module_name not in _VERSION_CACHE:
            app = sys.modules.get(module_name)
            if app is None:
                try:
                    app = __import__(module_name)
                except Exception:
                    _VERSION_CACHE[module_name] = None
                    continue
            try:
                _VERSION_CACHE[module_name] = get_version_from_app(module_name, app)
            except Exception:
                _VERSION_CACHE[module_name] = None
        version = _VERSION_CACHE[module_name]
        if version is not None:
            versions[module_name] = version
    return versions


def get_auth_header(
    protocol: Any, timestamp: Any, client: str, api_key: str, api_secret: Optional[str] = None
) -> str:
    """The ``X-Sentry-Auth`` value: ``Sentry sentry_timestamp=…, sentry_client=…, …``."""
    header = [
        ("sentry_timestamp", timestamp),
        ("sentry_client", client),
        ("sentry_version", protocol),
        ("sentry_key", api_key),
    ]
    if api_secret:
        header.append(("sentry_secret", api_secret))
    return "Sentry %s" % ", ".join("%s=%s" % (k, v) for k, v in header)
