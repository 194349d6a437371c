"""raven 6.10's ``raven.utils.basic``: the same helpers, kept importable from their old home."""

from __future__ import annotations

from raven.utils import is_namedtuple, memoize, merge_dicts, once, varmap

__all__ = ["is_namedtuple", "memoize", "merge_dicts", "once", "varmap"]
