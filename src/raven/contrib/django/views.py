"""A relay for browser-side Sentry clients: events posted to the Django site go on to Sentry.

Mount :mod:`raven.contrib.django.urls` and point the browser client's DSN at this site. Only
origins listed in ``SENTRY_ALLOW_ORIGIN`` (``'*'``, or a list of origins and compiled regular
expressions) may post; the event goes out through the project's configured client, with the
browser's own auth header.
"""

from __future__ import annotations

import logging
from functools import wraps

try:
    from django.conf import settings
    from django.core.exceptions import RequestDataTooBig
    from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
    from django.utils.cache import patch_vary_headers
    from django.views.decorators.cache import never_cache
    from django.views.decorators.csrf import csrf_exempt
    from django.views.decorators.http import require_http_methods
except ImportError as exc:  # pragma: no cover - exercised only without Django installed
    raise ImportError(
        "raven.contrib.django needs Django (2.2 or later): pip install 'raven[django]' (%s)"
        % (exc,)
    ) from exc

from raven.contrib.django.models import client
from raven.utils import json

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Optional

    from django.http import HttpRequest

__all__ = ["client", "extract_auth_vars", "is_valid_origin", "json", "report", "with_origin"]

_error_logger = logging.getLogger("sentry.errors")

ALLOWED_METHODS = "GET, POST, OPTIONS"
#: request headers a browser may send in a CORS preflight for this endpoint
ALLOWED_HEADERS = "X-Sentry-Auth, Authorization, Content-Type"


def is_valid_origin(origin: Optional[str]) -> bool:
    """Whether ``SENTRY_ALLOW_ORIGIN`` lets a page from ``origin`` post events.

    The setting is ``'*'`` (any origin, or none), or origins as strings (compared without
    regard to case) and compiled regular expressions (which must match the whole origin).
    Unset or empty, nobody may post.
    """
    allowed = getattr(settings, "SENTRY_ALLOW_ORIGIN", None)
    if not allowed:
        return False
    if allowed == "*":
        return True
    if not origin:
        return False
    if isinstance(allowed, str) or hasattr(allowed, "fullmatch"):
        allowed = [allowed]  # 6.10 iterated over the characters of a lone string
    origin = origin.lower()
    for value in allowed:
        if isinstance(value, str):
            if value == "*" or value.lower() == origin:
                return True
        # the whole origin: 6.10's match() let "https://example.com.evil.net" through a
        # pattern written for "https://example.com"
        elif hasattr(value, "fullmatch") and value.fullmatch(origin):
            return True
    return False


def with_origin(func: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse requests from origins :func:`is_valid_origin` rejects; add the CORS headers."""

    @wraps(func)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        origin = request.META.get("HTTP_ORIGIN")
        # looked up at call time: tests patch this module's is_valid_origin
        if not is_valid_origin(origin):
            return HttpResponseForbidden(
                "This origin may not send events here.", content_type="text/plain"
            )
        response = func(request, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = origin or "*"
        response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        if origin:
            patch_vary_headers(response, ("Origin",))
        return response

    return wrapped


def extract_auth_vars(request: HttpRequest) -> Optional[str]:
    """The browser's Sentry auth header, or one built from its ``sentry_*`` query parameters.

    Browser clients send it as ``X-Sentry-Auth``, as ``Authorization`` or, where they cannot
    set headers, in the query string.
    """
    for header in ("HTTP_X_SENTRY_AUTH", "HTTP_AUTHORIZATION"):
        value = request.META.get(header, "")
        if value.startswith("Sentry"):
            return str(value)
    parts = [
        "%s=%s" % (key, value)
        for key, value in request.GET.items()
        if key.startswith("sentry_") and key != "sentry_data"
    ]
    if parts:
        return "Sentry %s" % ", ".join(parts)
    return None


def _bad_request(message: str) -> HttpResponse:
    return HttpResponseBadRequest(message, content_type="text/plain")


@csrf_exempt
@require_http_methods(["GET", "POST", "OPTIONS"])
@never_cache
@with_origin
def report(request: HttpRequest, project_id: Optional[str] = None) -> HttpResponse:
    """Forward the event in the request to Sentry; 400 with the reason for what is no event.

    The event is the JSON body of a POST, or the ``sentry_data`` parameter of a GET. It goes
    to the configured client's project, whatever ``project_id`` the URL names (as in 6.10).
    """
    if request.method == "OPTIONS":
        return HttpResponse()
    data: Any
    if request.method == "POST":
        try:
            data = request.body
        except RequestDataTooBig:
            return HttpResponse(
                "The event is larger than DATA_UPLOAD_MAX_MEMORY_SIZE.",
                status=413,
                content_type="text/plain",
            )
    else:
        data = request.GET.get("sentry_data")
    if not data:
        return _bad_request(
            "No event: POST it as a JSON body, or GET with the JSON in the sentry_data parameter."
        )
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        payload = json.loads(data)
    except UnicodeDecodeError:
        return _bad_request("The event is not UTF-8 text.")
    except RecursionError:
        return _bad_request("The event is not valid JSON: nested too deeply.")
    except ValueError as e:
        return _bad_request("The event is not valid JSON: %s." % (e,))
    if not isinstance(payload, dict):
        return _bad_request("The event must be a JSON object, not %s." % type(payload).__name__)
    payload.pop("auth_header", None)  # the keyword below; 6.10 answered 500 to such an event
    if not client.is_enabled():  # no DSN: dropped, as the client drops its own events
        return HttpResponse()
    try:
        client.send(auth_header=extract_auth_vars(request), **payload)
    except Exception:
        _error_logger.error("raven: could not forward an event from a browser", exc_info=True)
        return HttpResponse(
            "The event could not be forwarded to Sentry.", status=502, content_type="text/plain"
        )
    return HttpResponse()
