"""Run a callback when a module is imported, without importing it ourselves.

Library hooks (requests, http.client) must not pull those libraries into every process that
creates a client: that alone cost raven 6.10 tens of milliseconds at start-up.
"""

from __future__ import annotations

import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, List, Optional, Sequence

__all__ = ["when_imported"]

_pending: Dict[str, List[Callable[[Any], None]]] = {}
_lock = threading.RLock()


def _run(name: str, module: Any) -> None:
    with _lock:
        callbacks = _pending.pop(name, [])
    for callback in callbacks:
        try:
            callback(module)
        except Exception:  # a hook that fails must not break the app's import
            import logging

            logging.getLogger("sentry.errors").debug(
                "import hook for %s failed", name, exc_info=True
            )


class _Loader:
    """Wraps a module's loader to run the callbacks after the module executed."""

    def __init__(self, name: str, loader: Any) -> None:
        self._name = name
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        _run(self._name, module)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._loader, attr)


class _Finder:
    """A ``sys.meta_path`` finder that only wraps the loaders of awaited modules."""

    _busy = threading.local()

    def find_spec(self, fullname: str, path: Optional[Sequence[str]], target: Any = None) -> Any:
        if fullname not in _pending or getattr(self._busy, "on", False):
            return None
        import importlib.util

        self._busy.on = True
        try:
            spec: Any = importlib.util.find_spec(fullname)
        finally:
            self._busy.on = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _Loader(fullname, spec.loader)
        return spec


_finder = _Finder()


def when_imported(name: str, callback: Callable[[Any], None]) -> None:
    """Call ``callback(module)`` now if ``name`` is imported, else right after its import."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    with _lock:
        _pending.setdefault(name, []).append(callback)
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
