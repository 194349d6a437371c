"""Name a request's transaction after the URL pattern it matched: ``/api/{project_id}/store/``."""

from __future__ import annotations

import re
import threading

from django.urls import Resolver404, get_resolver

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, List, Optional

__all__ = ["RouteResolver", "get_regex"]


def get_regex(resolver_or_pattern: Any) -> Any:
    """The compiled regex of a URL resolver or pattern, whichever Django spelled it."""
    try:
        return resolver_or_pattern.regex
    except AttributeError:
        return resolver_or_pattern.pattern.regex


class RouteResolver:
    """Turns URL patterns into readable routes.

    ``re_path(r'^api/(?P<project_id>[\\w_-]+)/store/$')`` becomes ``/api/{project_id}/store/`` and
    ``path('items/<int:pk>/')`` becomes ``/items/{pk}/``: named groups and path converters
    become ``{name}``, unnamed groups ``{var}``, optional groups and ``[a|b]`` alternatives are
    unwrapped, and regex syntax (``^``, ``$``, ``\\A``, ``\\Z``, ``?``, backslashes) is dropped.

    raven 6.10 read ``path()`` routes through the regex Django compiles them to, which ends in
    ``\\Z``, so every such transaction ended in a stray ``Z``; here routes are read as written.
    """

    # [foo|bar|baz]
    _either_option_matcher = re.compile(r"\[([^\]]+)\|([^\]]+)\]")
    _camel_re = re.compile(r"([A-Z]+)([a-z])")
    # path() converters: <int:pk> or <slug>
    _converter_matcher = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")

    #: simplified route per pattern text (the set of patterns is the URLconf's: finite)
    _cache: Dict[str, str] = {}
    _cache_lock = threading.Lock()
    _CACHE_MAX = 10000

    def _simplify(self, pattern: str) -> str:
        """Clean up a URL pattern (regex, ``path()`` route or a join of both) for humans."""
        cached = self._cache.get(pattern)
        if cached is not None:
            return cached
        try:
            result = _simplify_regex(pattern)
        except Exception:  # a pattern this reading does not follow: shown as written
            result = pattern
        result = self._either_option_matcher.sub(lambda m: m.group(1), result)
        result = self._converter_matcher.sub(lambda m: "{%s}" % m.group(1), result)
        result = result.replace("//", "/")
        with self._cache_lock:
            if len(self._cache) >= self._CACHE_MAX:
                self._cache.clear()
            self._cache[pattern] = result
        return result

    def route_of(self, patterns: List[str]) -> str:
        """The route of a chain of patterns (outermost first), with a leading slash."""
        result = "".join(self._simplify(p) for p in patterns)
        if not result.startswith("/"):
            result = "/" + result
        return result

    def resolve(self, path: str, urlconf: Any = None) -> str:
        """The route ``path`` matches in ``urlconf`` (default: ``ROOT_URLCONF``), else ``path``.

        ``urlconf`` is a module, a dotted module name, or a sequence of URL patterns.
        """
        try:
            patterns = self._match(get_resolver(urlconf), path)
        except Exception:
            patterns = None
        return self.route_of(patterns) if patterns else path

    def _match(self, resolver: Any, path: str) -> Optional[List[str]]:
        """The pattern texts, outermost first, of the view ``path`` resolves to."""
        match = get_regex(resolver).search(path)
        if not match:
            return None
        rest = path[match.end() :]
        for pattern in resolver.url_patterns:
            if hasattr(pattern, "url_patterns"):  # an include()
                inner = self._match(pattern, rest)
                if inner is not None:
                    return [_pattern_text(pattern), *inner]
                continue
            try:
                if pattern.resolve(rest):
                    return [_pattern_text(pattern)]
            except Resolver404:
                continue
        return None

    def resolve_match(self, resolver_match: Any) -> Optional[str]:
        """The route of a ``request.resolver_match`` (Django's own resolution), or None.

        Django 2.2 and later record the matched pattern text as ``resolver_match.route``, so
        the URLconf need not be walked again for a request Django has resolved already.
        """
        route = getattr(resolver_match, "route", None)
        if not route or not isinstance(route, str):
            return None
        return self.route_of([route])


_QUANTIFIER = re.compile(r"[?*+]|\{\d*,?\d*\}")
_NAMED = re.compile(r"\?P<(\w+)>")


def _group_end(pattern: str, start: int) -> int:
    """The index of the ``)`` closing the group opened at ``start`` (skipping escapes, classes)."""
    depth = 0
    i = start
    in_class = False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError("unbalanced group in %r" % (pattern,))


def _simplify_regex(pattern: str) -> str:
    """A route from a URL regex: groups become ``{name}``/``{var}``, regex syntax goes.

    Non-capturing groups keep their (simplified) content, look-arounds and flags are dropped,
    quantifiers after a group, ``^``, ``$``, ``?``, ``\\A`` and ``\\Z`` are removed, and other
    escapes lose their backslash (``\\.`` is ``.``).
    """
    out: List[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped not in ("A", "Z", "z"):
                out.append(escaped)
            i += 2
        elif char == "(":
            end = _group_end(pattern, i)
            inner = pattern[i + 1 : end]
            named = _NAMED.match(inner)
            if named:
                out.append("{%s}" % named.group(1))
            elif inner.startswith("?:"):
                out.append(_simplify_regex(inner[2:]))
            elif not inner.startswith("?"):
                out.append("{var}")
            # else: a look-around or inline flags, which match no text
            i = end + 1
            quantifier = _QUANTIFIER.match(pattern, i)
            if quantifier:
                i = quantifier.end()
        elif char in "^$?":
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _pattern_text(pattern: Any) -> str:
    """What a URL pattern was written as: the ``path()`` route or the regex."""
    inner = getattr(pattern, "pattern", None)
    if inner is not None and not isinstance(inner, str):  # Django >= 2.0 pattern objects
        route = getattr(inner, "_route", None)
        if isinstance(route, str):
            return route
        regex = getattr(inner, "_regex", None)
        if isinstance(regex, str):
            return regex
        return str(inner)
    return get_regex(pattern).pattern
