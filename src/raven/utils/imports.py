"""Resolve dotted-path strings from settings (``'raven.processors.SanitizeKeysProcessor'``)."""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any

__all__ = ["import_string"]


def import_string(dotted: str) -> Any:
    """Return the object a dotted path names.

    ``'a.b.C'`` imports module ``a.b`` and returns its attribute ``C``; when ``a.b`` has no
    such attribute, ``a.b.C`` is tried as a submodule. A name without a dot imports and returns
    that module.

    Raises:
        ImportError: the module imports but has neither attribute nor submodule of that name;
            the message names the whole dotted path. Errors raised while importing the module
            itself propagate unchanged, so a broken settings module is reported as such.
    """
    if "." not in dotted:
        return importlib.import_module(dotted)

    module_name, _, attr = dotted.rpartition(".")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        pass

    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        if exc.name != dotted:
            raise
    raise ImportError(
        f"cannot import {dotted!r}: module {module_name!r} has no attribute {attr!r}",
        name=module_name,
    )
