"""AWS Lambda: ``LambdaClient`` reports what a handler raises, with the invocation it was given.

The client sends synchronously by default and flushes before the handler returns or raises:
once a handler has answered, Lambda freezes the process, and anything still queued would be
sent (if at all) only when a later invocation thaws it.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
from urllib.parse import urlencode

from raven.base import Client, _is_exception_spec
from raven.middleware import _charset, _parse_form
from raven.transport.http import HTTPTransport

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from types import TracebackType
    from typing import Any, Callable, Dict, Optional

__all__ = ["Client", "HTTPTransport", "LambdaClient", "get_default_tags", "logger"]

logger = logging.getLogger("sentry.errors.client")

#: request bodies up to this many bytes are reported, when they are form or JSON data
MAX_BODY_SIZE = 10 * 1024

#: time left to the runtime, after the flush, to post the handler's result
_FLUSH_MARGIN = 0.5


def get_default_tags() -> Dict[str, str]:
    """Tag name -> the environment variable of the Lambda runtime that gives its value."""
    return {
        "lambda": "AWS_LAMBDA_FUNCTION_NAME",
        "version": "AWS_LAMBDA_FUNCTION_VERSION",
        "memory_size": "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "log_group": "AWS_LAMBDA_LOG_GROUP_NAME",
        "log_stream": "AWS_LAMBDA_LOG_STREAM_NAME",
        "region": "AWS_REGION",
    }


class LambdaClient(Client):
    """A client for AWS Lambda handlers.

    >>> client = LambdaClient()  # SENTRY_DSN from the function's environment
    >>> @client.capture_exceptions
    ... def handler(event, context):
    ...     raise Exception("I will be sent to Sentry!")

    Events are sent with the synchronous :class:`~raven.transport.http.HTTPTransport`
    unless ``transport=`` says otherwise. Each event is tagged with the function's name,
    version, memory size, log group and stream, and region (see :func:`get_default_tags`),
    and takes its release and environment from ``SENTRY_RELEASE``/``SENTRY_ENVIRONMENT``.

    ``capture*(…, event=event, context=context)`` adds the invocation: the API Gateway
    request (REST and HTTP APIs: URL, method, query string, headers, and a small form or
    JSON body), the caller as the user (Cognito identity, source IP, user agent), and as
    extra data the event, ``aws_request_id``, the context's attributes and the mobile
    client context.
    """

    #: longest wait, in seconds, for queued events before a decorated handler returns
    #: (never more than the invocation has left, less a margin for the runtime)
    flush_timeout = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("transport", HTTPTransport)  # 6.10 failed when one was given
        super().__init__(*args, **kwargs)

    # -- capture -------------------------------------------------------------------------------

    def capture(self, *args: Any, **kwargs: Any) -> Optional[str]:
        """:meth:`Client.capture`; ``event=`` and ``context=`` describe the invocation."""
        event = kwargs.pop("event", None)
        context = kwargs.pop("context", None)
        if event is not None or context is not None:
            try:
                data = dict(kwargs.get("data") or {})
                if isinstance(event, dict):
                    user = self._get_user_interface(event)
                    if user:
                        data.setdefault("user", user["user"])
                    http = self._get_http_interface(event)
                    if http:
                        data.setdefault("request", http["request"])
                kwargs["data"] = data
                kwargs["extra"] = {
                    **self._get_extra_data(event, context),
                    **(kwargs.get("extra") or {}),
                }
            except Exception:
                if self.raise_send_errors:
                    raise
                self.error_logger.error("Failed to describe the Lambda invocation", exc_info=True)
        return super().capture(*args, **kwargs)

    def build_msg(self, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        data = super().build_msg(*args, **kwargs)
        if data is None:  # a processor dropped it
            return data
        tags = data["tags"]
        for tag, variable in get_default_tags().items():
            value = os.environ.get(variable)
            if value and tag not in tags:
                tags[tag] = value
        for key, variable in (("release", "SENTRY_RELEASE"), ("environment", "SENTRY_ENVIRONMENT")):
            value = os.environ.get(variable)
            if value and not data.get(key):
                data[key] = value
        return data

    def capture_exceptions(self, f: Any = None, exceptions: Any = None) -> Any:  # type: ignore[override]
        """Report what a ``handler(event, context)`` raises, then raise it again.

        ``@client.capture_exceptions``, ``@client.capture_exceptions((IOError,))``,
        ``@client.capture_exceptions(exceptions=(IOError,))`` and
        ``with client.capture_exceptions(): …`` all work. Any callable can be decorated
        (6.10 took only plain functions).

        Whether the handler returns or raises, queued events are flushed before it does (for
        at most :attr:`flush_timeout` seconds and never past the invocation's deadline),
        and the invocation's context (tags, user, breadcrumbs) is cleared, so nothing of
        one invocation ends up in the next one's reports.
        """
        if f is not None and (_is_exception_spec(f) or not callable(f)):
            f, exceptions = None, f
        scope = _Invocation(self, exceptions or (Exception,))
        return scope(f) if f is not None else scope

    def end_invocation(self, context: Any = None) -> None:
        """Flush queued events within the invocation's time, then clear the context.

        .. versionadded:: 7.0
        """
        try:
            timeout = self.flush_timeout
            remaining = getattr(context, "get_remaining_time_in_millis", None)
            if remaining is not None:
                timeout = min(timeout, max(remaining() / 1000.0 - _FLUSH_MARGIN, 0.0))
            self.flush(timeout)
        except Exception:
            if self.raise_send_errors:
                raise
            self.error_logger.error(
                "Failed to flush events at the end of the invocation", exc_info=True
            )
        try:
            self.context.clear()
            self.transaction.clear()
        except Exception:
            if self.raise_send_errors:
                raise
            self.error_logger.error("Failed to clear the invocation's context", exc_info=True)

    # -- what is reported ----------------------------------------------------------------------

    @staticmethod
    def _get_user_interface(event: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """The caller, from API Gateway's request context (REST ``identity``, HTTP API ``http``)."""
        request_context = event.get("requestContext")
        if not isinstance(request_context, dict):
            return None
        identity = request_context.get("identity")
        http = request_context.get("http")
        authorizer = request_context.get("authorizer")
        claims: Any = None
        if isinstance(authorizer, dict):  # Cognito user pools (REST) or a JWT authorizer (HTTP)
            claims = (authorizer.get("jwt") or {}).get("claims") or authorizer.get("claims")
        user: Dict[str, Any] = {}
        if isinstance(identity, dict):
            user = {
                "id": identity.get("cognitoIdentityId") or identity.get("user"),
                "username": identity.get("user"),
                "ip_address": identity.get("sourceIp"),
                "cognito_identity_pool_id": identity.get("cognitoIdentityPoolId"),
                "cognito_authentication_type": identity.get("cognitoAuthenticationType"),
                "user_agent": identity.get("userAgent"),
            }
        elif isinstance(http, dict):
            user = {"ip_address": http.get("sourceIp"), "user_agent": http.get("userAgent")}
        if isinstance(claims, dict) and not user.get("id"):
            user["id"] = claims.get("sub")
            user.setdefault("username", claims.get("username") or claims.get("cognito:username"))
        user = {k: v for k, v in user.items() if v is not None}
        return {"user": user} if user else None

    @staticmethod
    def _get_http_interface(event: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """The request an API Gateway (REST or HTTP API) or function URL event carries."""
        http = (event.get("requestContext") or {}).get("http") or {}
        method = event.get("httpMethod") or http.get("method")
        path = event.get("path") or event.get("rawPath") or http.get("path")
        if not (method and path):
            return None
        headers = {str(k): v for k, v in (event.get("headers") or {}).items()}
        lower = {k.lower(): v for k, v in headers.items()}
        host = lower.get("host") or (event.get("requestContext") or {}).get("domainName")
        scheme = str(lower.get("x-forwarded-proto") or "https").split(",")[0].strip()
        request: Dict[str, Any] = {
            "url": "%s://%s%s" % (scheme, host, path) if host else path,
            "method": method,
            "query_string": _query_string(event),
            "headers": headers,
        }
        source_ip = ((event.get("requestContext") or {}).get("identity") or {}).get(
            "sourceIp"
        ) or http.get("sourceIp")
        if source_ip:
            request["env"] = {"REMOTE_ADDR": source_ip}
        cookies = event.get("cookies")
        if isinstance(cookies, list) and cookies:
            request["cookies"] = "; ".join(map(str, cookies))
        body = _body(event, lower.get("content-type"))
        if body is not None:
            request["data"] = body
        return {"request": request}

    @staticmethod
    def _get_extra_data(event: Any, context: Any) -> Dict[str, Any]:
        """The event, the request id, the context's attributes and the mobile client context."""
        extra: Dict[str, Any] = {"event": event}
        if context is None:
            return extra
        extra["aws_request_id"] = getattr(context, "aws_request_id", None)
        extra["context"] = _context_attributes(context)
        client_context = getattr(context, "client_context", None)
        if client_context:
            client = getattr(client_context, "client", None)
            extra["client_context"] = {
                **{
                    "client.%s" % name: getattr(client, name, None)
                    for name in (
                        "installation_id",
                        "app_title",
                        "app_version_name",
                        "app_version_code",
                        "app_package_name",
                    )
                },
                "custom": getattr(client_context, "custom", None),
                "env": getattr(client_context, "env", None),
            }
        return extra


class _Invocation:
    """``capture_exceptions``'s result: a handler decorator, or a ``with`` block."""

    __slots__ = ("client", "exceptions")

    def __init__(self, client: LambdaClient, exceptions: Any) -> None:
        self.client = client
        self.exceptions = exceptions

    def __call__(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        client = self.client
        exceptions = self.exceptions

        @functools.wraps(handler)
        def wrapped(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return handler(event, context, *args, **kwargs)
            except exceptions:
                client.captureException(event=event, context=context)
                raise
            finally:
                client.end_invocation(context)

        return wrapped

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        try:
            if exc is not None and isinstance(exc, self.exceptions):
                self.client.captureException(exc_info=(exc_type, exc, tb))
        finally:
            self.client.end_invocation()


def _context_attributes(context: Any) -> Dict[str, Any]:
    """The public attributes of a Lambda context object, plus the time it has left."""
    try:
        names = [n for n in vars(context) if not n.startswith("_")]
    except TypeError:  # a context with __slots__
        names = [n for n in dir(context) if not n.startswith("_")]
    attributes: Dict[str, Any] = {}
    for name in names:
        value = getattr(context, name, None)
        if callable(value):
            continue
        slots = getattr(type(value), "__slots__", None)
        if slots and not isinstance(value, (str, bytes)):
            value = {slot: getattr(value, slot, None) for slot in slots}
        attributes[name] = value
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            attributes["remaining_time_in_millis"] = remaining()
        except Exception:
            pass
    return attributes


def _query_string(event: Dict[str, Any]) -> str:
    raw = event.get("rawQueryString")
    if isinstance(raw, str):
        return raw
    multi = event.get("multiValueQueryStringParameters")
    if isinstance(multi, dict) and multi:
        return urlencode(multi, doseq=True)
    single = event.get("queryStringParameters")
    if isinstance(single, dict) and single:
        return urlencode(single)
    return ""


def _body(event: Dict[str, Any], content_type: Optional[str]) -> Any:
    """A form or JSON body of at most :data:`MAX_BODY_SIZE` bytes, parsed; else None."""
    body = event.get("body")
    if not isinstance(body, str) or not body:
        return None
    media_type, _, params = str(content_type or "").partition(";")
    media_type = media_type.strip().lower()
    is_json = media_type == "application/json" or media_type.endswith("+json")
    if not is_json and media_type != "application/x-www-form-urlencoded":
        return None
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    if len(raw) > MAX_BODY_SIZE:
        return None
    if is_json:
        try:
            return json.loads(raw)
        except Exception:
            return raw.decode("utf-8", "replace")
    return _parse_form(raw, _charset(params))
