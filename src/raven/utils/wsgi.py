"""Read request headers, URL, host and client address out of a WSGI environ (PEP 3333)."""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from urllib.parse import quote

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Optional

__all__ = ["get_client_ip", "get_current_url", "get_environ", "get_headers", "get_host"]

# CGI keeps these two outside the HTTP_ namespace; a client-sent "HTTP_CONTENT_TYPE" is a
# duplicate that some servers add, and would shadow the real one.
_CONTENT_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")
_DUPLICATE_CONTENT_KEYS = ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH")
_ENVIRON_KEYS = ("REMOTE_ADDR", "SERVER_NAME", "SERVER_PORT")
_DEFAULT_PORTS = {"http": "80", "https": "443"}

# Keep every printable ASCII character (including "%", so existing escapes survive) and escape
# only what cannot appear in a URL: spaces, control characters and non-ASCII bytes.
_QUERY_SAFE = string.punctuation


def get_headers(environ: Mapping[Any, Any]) -> Iterator[tuple[str, Any]]:
    """Yield the request's HTTP headers as ``('Title-Case-Name', value)`` pairs.

    ``HTTP_*`` keys lose their prefix; ``CONTENT_TYPE`` and ``CONTENT_LENGTH`` are included
    even when empty, as in 6.10. Keys that are not strings (some test harnesses put tuples in
    the environ) are skipped.
    """
    for key, value in environ.items():
        if not isinstance(key, str):
            continue
        if key.startswith("HTTP_"):
            if key not in _DUPLICATE_CONTENT_KEYS:
                yield _header_name(key[5:]), value
        elif key in _CONTENT_KEYS:
            yield _header_name(key), value


def _header_name(key: str) -> str:
    return key.replace("_", "-").title()


def get_environ(environ: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Yield the whitelisted server variables (REMOTE_ADDR, SERVER_NAME, SERVER_PORT) present.

    Only these are reported because the rest of the environ holds server internals, file
    objects (``wsgi.input``) and, under CGI, the whole process environment.
    """
    for key in _ENVIRON_KEYS:
        if key in environ:
            yield key, environ[key]


def get_host(environ: Mapping[str, Any]) -> str:
    """Return the host the client asked for, with the scheme's default port dropped.

    The ``X-Forwarded-Host`` header wins (first entry when a proxy chain lists several), then
    ``Host``, then ``SERVER_NAME`` with ``SERVER_PORT``. This trusts proxy headers, so it is
    for reporting, not for security decisions.
    """
    scheme = environ.get("wsgi.url_scheme")
    forwarded = environ.get("HTTP_X_FORWARDED_HOST")
    if forwarded:
        host = str(forwarded).split(",", 1)[0].strip()
    elif "HTTP_HOST" in environ:
        host = str(environ["HTTP_HOST"])
    else:
        host = str(environ.get("SERVER_NAME", ""))
        port = environ.get("SERVER_PORT")
        if port not in (None, "") and str(port) != _DEFAULT_PORTS.get(scheme or ""):
            host = f"{host}:{port}"

    default_port = _DEFAULT_PORTS.get(scheme or "")
    if default_port and host.endswith(":" + default_port):
        host = host[: -len(default_port) - 1]
    return host


def get_current_url(
    environ: Mapping[str, Any],
    root_only: bool = False,
    strip_querystring: bool = False,
    host_only: bool = False,
) -> str:
    """Rebuild the URL of the current request from the environ.

    Args:
        environ: the WSGI environ.
        root_only: stop at the application root (``SCRIPT_NAME``), with a trailing slash.
        strip_querystring: leave out ``?QUERY_STRING``.
        host_only: return only ``scheme://host/``.

    Returns:
        The URL, with the path percent-encoded from the bytes the client sent: PEP 3333 hands
        paths over as latin-1 "bytes in a str", so ``/caf%C3%A9`` is rebuilt as such rather
        than double-encoded as 6.10 did on Python 3.
    """
    url = f"{environ.get('wsgi.url_scheme', 'http')}://{get_host(environ)}"
    if host_only:
        return url + "/"

    url += _quote_path(str(environ.get("SCRIPT_NAME", "")).rstrip("/"))
    if root_only:
        return url + "/"

    url += _quote_path("/" + str(environ.get("PATH_INFO", "")).lstrip("/"))
    if not strip_querystring:
        query = environ.get("QUERY_STRING")
        if query:
            url += "?" + quote(_wsgi_bytes(str(query)), safe=_QUERY_SAFE)
    return url


def _wsgi_bytes(value: str) -> bytes:
    """Recover the raw bytes of a PEP 3333 native string.

    Servers that break the rule and pass real text (characters above U+00FF) get UTF-8.
    """
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        pass
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace")


def _quote_path(path: str) -> str:
    return quote(_wsgi_bytes(path), safe="/")


def get_client_ip(environ: Mapping[str, Any]) -> Optional[str]:
    """Return the first ``X-Forwarded-For`` address, else ``REMOTE_ADDR`` (None if neither).

    The header is client-controlled and easily forged; use this for reporting only.
    """
    forwarded = environ.get("HTTP_X_FORWARDED_FOR")
    if forwarded:
        first = str(forwarded).split(",", 1)[0].strip()
        if first:
            return first
    remote: Optional[str] = environ.get("REMOTE_ADDR")
    return remote
