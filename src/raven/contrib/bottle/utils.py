"""What a report says about the request a Bottle application is handling (``bottle.request``)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from raven.utils.wsgi import get_environ, get_headers

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Optional

__all__ = ["get_data_from_request", "get_environ", "get_headers", "logger"]

logger = logging.getLogger(__name__)

#: request bodies up to this many bytes are reported, when they are a form or JSON
MAX_BODY_SIZE = 10 * 1024

_FORM_TYPE = "application/x-www-form-urlencoded"


def get_data_from_request(request: Any, max_body_size: int = MAX_BODY_SIZE) -> Dict[str, Any]:
    """The event data (``{'request': {...}}``) describing a Bottle request.

    The body is included as ``data`` only when it is a form or JSON no larger than
    ``max_body_size`` and sent with a ``Content-Length``; it is read through Bottle's own
    (cached) ``request.forms``/``request.json``, so the application still reads it after.
    A field sent more than once maps to the list of its values (6.10 kept the last one).
    """
    environ = request.environ
    parts = urlsplit(request.url)
    http: Dict[str, Any] = {
        "url": "%s://%s%s" % (parts.scheme, parts.netloc, parts.path),
        "query_string": parts.query,
        "method": request.method,
        "headers": dict(get_headers(environ)),
        "env": dict(get_environ(environ)),
    }
    if environ.get("HTTP_COOKIE"):
        cookies = request.cookies
        http["cookies"] = {name: cookies.get(name) for name in cookies}
    data = _body(request, max_body_size)
    if data is not None:
        http["data"] = data
    return {"request": http}


def _body(request: Any, max_body_size: int) -> Optional[Any]:
    environ = request.environ
    length = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not (length.isdigit() and 0 < int(length) <= max_body_size):
        return None
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return None
    if "100-continue" in str(environ.get("HTTP_EXPECT", "")).lower():
        return None
    media_type = str(environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
    try:
        if media_type == "application/json" or media_type.endswith("+json"):
            try:
                parsed = request.json  # None for the +json types Bottle does not parse
            except Exception:  # malformed: Bottle refuses it
                parsed = None
            if parsed is None:
                return request.body.read().decode("utf-8", "replace")
            return parsed
        if media_type == _FORM_TYPE:
            forms = request.forms.decode()  # Bottle keeps the raw latin-1 text until asked
            return {
                name: values[0] if len(values) == 1 else values
                for name, values in ((name, forms.getall(name)) for name in forms)
            }
    except Exception:
        logger.debug("Could not read the request body for the report", exc_info=True)
    return None
