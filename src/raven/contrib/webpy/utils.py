"""What a report says about the request a web.py application is handling (``web.ctx``)."""

from __future__ import annotations

import importlib
import json

from raven.middleware import _charset, _parse_form
from raven.utils.wsgi import get_cookies, get_environ, get_headers

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Mapping, Optional

try:  # imported by name: web.py ships no type information, and type checkers need none here
    web: Any = importlib.import_module("web")
except ImportError as exc:  # pragma: no cover - exercised only without web.py installed
    raise ImportError(
        "raven.contrib.webpy needs web.py (0.62 or later): pip install 'raven[webpy]' (%s)" % (exc,)
    ) from exc


__all__ = ["get_data_from_request", "get_environ", "get_headers"]

#: request bodies up to this many bytes are reported, when they are a form or JSON
MAX_BODY_SIZE = 10 * 1024


def get_data_from_request(max_body_size: int = MAX_BODY_SIZE) -> Dict[str, Any]:
    """The event data (``{'request': {...}}``) describing the request in ``web.ctx``.

    The body is included as ``data`` only when it is a form or JSON no larger than
    ``max_body_size``, sent with a ``Content-Length``, and then parsed (so processors can
    scrub fields such as ``password``); it is read through ``web.data()``, which keeps it
    for the application. 6.10 read and sent any body, whatever its size or type.
    """
    ctx = web.ctx
    environ = ctx.environ
    http: Dict[str, Any] = {
        # home is protocol://host plus the mount point (sub-applications move it, and
        # make path relative to it)
        "url": ctx.home + ctx.path,
        "query_string": ctx.query[1:] if ctx.query.startswith("?") else ctx.query,
        "method": ctx.method,
        # text, as on the wire (web.py's own request() helper puts an int Content-Length)
        "headers": {name: str(value) for name, value in get_headers(environ)},
        "env": dict(get_environ(environ)),
    }
    if environ.get("HTTP_COOKIE"):
        http["cookies"] = get_cookies(environ)
    data = _body(environ, max_body_size)
    if data is not None:
        http["data"] = data
    return {"request": http}


def _body(environ: Mapping[str, Any], max_body_size: int) -> Optional[Any]:
    length = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not (length.isdigit() and 0 < int(length) <= max_body_size):
        return None
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return None
    if "100-continue" in str(environ.get("HTTP_EXPECT", "")).lower():
        return None
    media_type, _, params = str(environ.get("CONTENT_TYPE") or "").partition(";")
    media_type = media_type.strip().lower()
    is_json = media_type == "application/json" or media_type.endswith("+json")
    if not is_json and media_type != "application/x-www-form-urlencoded":
        return None
    body = web.data()
    if is_json:
        try:
            return json.loads(body)
        except Exception:  # not JSON after all: report the text
            return body.decode("utf-8", "replace")
    return _parse_form(body, _charset(params))
