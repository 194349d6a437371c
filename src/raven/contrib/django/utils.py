"""Helpers for Django reports: the ``template`` interface of a template error, and the host."""

from __future__ import annotations

import html
import os

import django
from django.conf import settings

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Iterator, List, Optional

__all__ = ["get_data_from_template", "get_host", "linebreak_iter"]

#: lines of template source shown before and after the failing line
_CONTEXT_LINES = 3
#: Django before 5.2 HTML-escaped the source lines of ``template_debug`` (for its debug page)
_ESCAPED_SOURCE = django.VERSION[:2] < (5, 2)


def linebreak_iter(template_source: str) -> Iterator[int]:
    """Yield the offset at which each line of ``template_source`` starts, then its length + 1."""
    yield 0
    p = template_source.find("\n")
    while p >= 0:
        yield p + 1
        p = template_source.find("\n", p + 1)
    yield len(template_source) + 1


def get_data_from_template(source: Any, debug: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The ``template`` interface and the culprit for an error raised in a template.

    Args:
        source: Django < 1.9's ``(origin, (start, end))`` pair (``exc.django_template_source``);
            only read when ``debug`` is None.
        debug: the ``template_debug`` dict Django (1.9 and later, with the template engine's
            ``debug`` option on) attaches to an exception raised while compiling or rendering.

    Returns:
        ``{'template': {...}, 'culprit': path}`` (the path after ``/templates/``), or ``{}`` when
        the failing line cannot be found.

    Raises:
        TypeError: neither ``source`` nor ``debug`` was given.
    """
    if debug is not None:
        filename = str(debug.get("name") or "")
        lineno = int(debug["line"])
        unescape = html.unescape if _ESCAPED_SOURCE else str
        lines: Dict[int, str] = {
            int(num): unescape(text) for num, text in debug.get("source_lines") or ()
        }
        culprit = filename.split("/templates/")[-1]
    elif source:
        origin, (start, end) = source
        filename = culprit = str(getattr(origin, "loadname", None) or getattr(origin, "name", ""))
        lines, found = _lines_of(origin.reload(), start, end)
        if found is None:
            return {}
        lineno = found
    else:
        raise TypeError("Source or debug needed")

    if lineno not in lines:
        return {}
    return {
        "template": {
            "filename": os.path.basename(filename),
            "abs_path": filename,
            "pre_context": _context(lines, range(lineno - _CONTEXT_LINES, lineno)),
            "context_line": lines[lineno],
            "lineno": lineno,
            "post_context": _context(lines, range(lineno + 1, lineno + 1 + _CONTEXT_LINES)),
        },
        "culprit": culprit,
    }


def _lines_of(template_source: str, start: int, end: int) -> tuple[Dict[int, str], Optional[int]]:
    """Lines by number (from 0, as raven always counted them) and the one holding [start, end)."""
    lines: Dict[int, str] = {}
    found = None
    upto = 0
    for num, offset in enumerate(linebreak_iter(template_source)):
        if start >= upto and end <= offset:
            found = num
        lines[num] = template_source[upto:offset]
        upto = offset
    return lines, found


def _context(lines: Dict[int, str], numbers: range) -> List[str]:
    return [lines[n] for n in numbers if n in lines]


def get_host(request: Any) -> str:
    """The host the request was sent to, *without* Django's ``ALLOWED_HOSTS`` check.

    For reports only: ``request.get_host()`` raises ``DisallowedHost`` for exactly the requests
    worth reporting when someone probes the site with forged Host headers.
    """
    meta = request.META
    if getattr(settings, "USE_X_FORWARDED_HOST", False) and "HTTP_X_FORWARDED_HOST" in meta:
        host = str(meta["HTTP_X_FORWARDED_HOST"]).split(",", 1)[0].strip()
    elif "HTTP_HOST" in meta:
        host = str(meta["HTTP_HOST"])
    else:
        host = str(meta.get("SERVER_NAME", ""))
        port = str(meta.get("SERVER_PORT", ""))
        if port and port != ("443" if request.is_secure() else "80"):
            host = "%s:%s" % (host, port)
    return host
