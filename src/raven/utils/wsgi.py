"""Read request headers, URL, host and client address out of a WSGI environ (PEP 3333)."""

from __future__ import annotations

import io
import string
from collections.abc import Iterator, Mapping, MutableMapping
from urllib.parse import quote

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Optional

__all__ = [
    "get_client_ip",
    "get_cookies",
    "get_current_url",
    "get_environ",
    "get_headers",
    "get_host",
    "peek_body",
]

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
    names = _header_names
    for key, value in environ.items():
        name = names.get(key)
        if name is None:
            name = _header_name_for(key)
            if len(names) < _HEADER_NAMES_MAX:
                names[key] = name
        if name:
            yield name, value


#: environ key -> header name ("" for keys that are not headers); called on every request,
#: and title-casing is most of its cost. Bounded: header names are chosen by the client.
_header_names: dict[Any, str] = {}
_HEADER_NAMES_MAX = 4096


def _header_name_for(key: Any) -> str:
    if not isinstance(key, str):
        return ""
    if key.startswith("HTTP_"):
        return "" if key in _DUPLICATE_CONTENT_KEYS else _header_name(key[5:])
    return _header_name(key) if key in _CONTENT_KEYS else ""


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


def get_cookies(environ: Mapping[str, Any]) -> dict[str, str]:
    """Return the request's cookies by name, read from the ``Cookie`` header.

    Parsed leniently (``name=value`` pairs split on ``;``), because ``http.cookies`` gives up
    on the whole header at the first cookie it finds malformed, and a report should still show
    the others. The first of repeated names wins: browsers send the most specific one first.

    .. versionadded:: 7.0
    """
    cookies: dict[str, str] = {}
    header = environ.get("HTTP_COOKIE")
    if not header:
        return cookies
    for part in str(header).split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if sep and name and name not in cookies:
            value = value.strip()
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = value[1:-1]  # a quoted value (RFC 6265), as frameworks report it
            cookies[name] = value
    return cookies


def peek_body(environ: MutableMapping[str, Any], max_size: int) -> Optional[bytes]:
    """Read the request body for a report without taking it from the application.

    The body is read only when that cannot block, grow without bound, or change what the
    application sees; otherwise nothing is read and None is returned. It is read when:

    * ``CONTENT_LENGTH`` is a plain decimal number from 1 to ``max_size``;
    * no ``Transfer-Encoding`` header is present (a chunked or streamed body has no length
      known up front);
    * the client did not send ``Expect: 100-continue`` (reading would send the "100
      Continue" on the application's behalf, before it could refuse the upload).

    Exactly ``CONTENT_LENGTH`` bytes are requested, never more (reading past them would wait
    on a keep-alive connection). ``wsgi.input`` is then replaced by a stream that replays the
    bytes read, so the application reads the same body; if the read failed (the client went
    away), the replacement fails the same way once the application reads past what arrived.

    .. versionadded:: 7.0

    Args:
        environ: the WSGI environ; its ``wsgi.input`` is replaced when the body is read.
        max_size: the largest body, in bytes, to read.

    Returns:
        The body (shorter than ``CONTENT_LENGTH`` if the client sent less), or None.
    """
    stream = environ.get("wsgi.input")
    if stream is None or max_size <= 0:
        return None
    length = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not (length.isascii() and length.isdigit()) or not 0 < int(length) <= max_size:
        return None
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return None
    if "100-continue" in str(environ.get("HTTP_EXPECT", "")).lower():
        return None

    chunks = []
    remaining = int(length)
    error: Optional[Exception] = None
    try:
        while remaining > 0:
            chunk = stream.read(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except Exception as exc:
        error = exc
    body = b"".join(chunks)
    if error is not None:
        environ["wsgi.input"] = _FailingReplay(body, error)
        return None
    environ["wsgi.input"] = io.BytesIO(body)
    return body


class _FailingReplay:
    """``wsgi.input`` after a failed body read: the bytes that did arrive, then the error.

    A read that the bytes received cannot satisfy raises the original error, as the read of
    the real stream would have; the application never mistakes a cut body for a whole one.
    """

    def __init__(self, received: bytes, error: Exception) -> None:
        self._buffer = io.BytesIO(received)
        self._size = len(received)
        self._error = error

    def _left(self) -> int:
        return self._size - self._buffer.tell()

    def read(self, size: Optional[int] = -1) -> bytes:
        if size is None or size < 0 or size > self._left():
            raise self._error
        return self._buffer.read(size)

    def readline(self, size: Optional[int] = -1) -> bytes:
        line = self._buffer.readline(-1 if size is None else size)
        if line.endswith(b"\n") or (size is not None and 0 <= size == len(line)):
            return line
        raise self._error

    def readlines(self, hint: Optional[int] = -1) -> list[bytes]:
        lines = []
        total = 0
        while hint is None or hint <= 0 or total < hint:
            line = self.readline()
            lines.append(line)
            total += len(line)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            yield self.readline()
