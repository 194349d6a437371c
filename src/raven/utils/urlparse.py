"""URL parsing that knows raven's transport schemes (``threaded+http``, ``gevent+https``, …)."""

from __future__ import annotations

import urllib.parse as _parse
from urllib.parse import parse_qsl, urlparse

__all__ = ["parse_qsl", "register_scheme", "urlparse"]

# The scheme lists urllib.parse consults to decide whether a URL has a netloc, a query, a
# fragment, parameters, or can be joined. A DSN like ``sync+https://key@host/1?timeout=3`` only
# parses into host and query once its scheme is in them.
_SCHEME_LISTS = ("uses_netloc", "uses_query", "uses_relative", "uses_fragment", "uses_params")


def register_scheme(scheme: str) -> None:
    """Make ``urlparse`` split URLs of ``scheme`` the way it splits ``http`` URLs.

    Calling it again for a known scheme changes nothing.
    """
    for name in _SCHEME_LISTS:
        uses: list[str] = getattr(_parse, name)
        if scheme not in uses:
            uses.append(scheme)
