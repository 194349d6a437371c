"""Tornado integration: a client that sends on Tornado's loop, and a mixin for request handlers.

    class Checkout(SentryMixin, tornado.web.RequestHandler):
        async def post(self):
            ...                      # an uncaught exception here is reported

    app = tornado.web.Application([(r"/checkout", Checkout)])
    app.sentry_client = AsyncSentryClient(dsn)

Works with Tornado 6.0 and later (raven 6.10's code needed ``IOLoop.initialized()`` and
``fetch(callback=)``, both gone). Every request runs in its own asyncio task and raven's
context is per task, so tags, user and breadcrumbs set while handling one request never
show up in another's events, even while many requests are in flight on one thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
from contextvars import ContextVar

try:
    from tornado.web import HTTPError as WebHTTPError
except ImportError as exc:  # pragma: no cover - exercised only without Tornado installed
    raise ImportError(
        "raven.contrib.tornado needs Tornado (6.0 or later): pip install 'raven[tornado]' (%s)"
        % (exc,)
    ) from exc

from raven.base import Client
from raven.middleware import Sentry as _Middleware
from raven.middleware import _charset, _parse_form
from raven.transport.tornado import TornadoHTTPTransport

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, List, Optional, Union

    EventFuture = Union[asyncio.Future, concurrent.futures.Future]

__all__ = ["AsyncSentryClient", "Client", "SentryMixin"]

#: inside ``capture``: where :meth:`AsyncSentryClient.send` leaves the future it made
_sending: ContextVar[Optional[List[Any]]] = ContextVar("raven_tornado_sending", default=None)


def _new_future() -> EventFuture:
    """A future of the running loop (awaitable in a handler), else a thread-safe one."""
    loop = asyncio._get_running_loop()
    return loop.create_future() if loop is not None else concurrent.futures.Future()


def _resolve(future: EventFuture, value: Optional[bool]) -> None:
    """Complete ``future`` with ``value``, from whichever thread the outcome arrives on."""
    if isinstance(future, concurrent.futures.Future):
        if not future.done():
            future.set_result(value)
        return

    def complete() -> None:
        if not future.done():
            future.set_result(value)

    loop = future.get_loop()
    if asyncio._get_running_loop() is loop:
        complete()
        return
    try:
        loop.call_soon_threadsafe(complete)
    except RuntimeError:  # the loop is closed: nobody can await it any more
        pass


class AsyncSentryClient(Client):
    """A client that sends through Tornado's HTTP client on the running loop.

    With a plain ``http(s)://`` DSN and no ``transport``, events go through
    :class:`~raven.transport.tornado.TornadoHTTPTransport` (with the client's delivery
    rules: retries, rate limits, counts). As in raven 6.10, ``capture``/``captureException``/
    ``captureMessage`` return ``(event_id, future)``: the future (awaitable in a coroutine)
    resolves to True once the server accepted the event, False if it was dropped (the reason
    is in :attr:`stats`), None if the transport does not say; it never raises. ``event_id``
    is None when the event was not sent (filtered, sampled out). A ``callback=`` is called
    with that same value.

    Args:
        validate_cert: False skips the server certificate check (as ``?verify_ssl=0``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.validate_cert = kwargs.pop("validate_cert", True)
        super().__init__(*args, **kwargs)

    def set_dsn(self, dsn: Optional[str] = None, transport: Any = None) -> None:
        if transport is None:
            value = dsn or os.environ.get("SENTRY_DSN") or ""
            if isinstance(value, str) and value.strip().lower().startswith(("http:", "https:")):
                transport = TornadoHTTPTransport
        super().set_dsn(dsn, transport)
        if not self.validate_cert:
            chosen = self.remote.get_transport()
            if chosen is not None and hasattr(chosen, "verify_ssl"):
                chosen.verify_ssl = False

    def capture(self, *args: Any, **kwargs: Any) -> Any:  # 6.10 returned a tuple here
        callback = kwargs.pop("callback", None)
        if not self.is_enabled():
            return None
        made: List[Any] = []
        token = _sending.set(made)
        try:
            event_id = super().capture(*args, **kwargs)
        finally:
            _sending.reset(token)
        future = made[-1] if made else None
        if future is None:  # nothing was sent, or a patched send() returned no future
            future = _new_future()
            _resolve(future, None if event_id else False)
        if callback is not None:
            future.add_done_callback(lambda done: callback(done.result()))
        return (event_id, future)

    def send(  # type: ignore[override]  # 6.10's signature
        self,
        auth_header: Optional[str] = None,
        callback: Optional[Callable[..., Any]] = None,
        **data: Any,
    ) -> EventFuture:
        """Encode and send an event dict; returns the future of its delivery (see above)."""
        future = _new_future()
        event_id = data.get("event_id")
        sends = None
        if self.is_enabled() and event_id:
            sends = getattr(self._get_delivery(), "_async", None)
        if sends is None:
            super().send(auth_header=auth_header, **data)
            _resolve(future, None)  # a threaded transport: handed over, the outcome comes later
        else:
            sends.watch(event_id, lambda delivered: _resolve(future, delivered))
            try:
                super().send(auth_header=auth_header, **data)
            finally:
                sends.settle(event_id)  # dropped before it was handed over (rate limited)
        if callback is not None:
            future.add_done_callback(lambda done: callback(done.result()))
        made = _sending.get()
        if made is not None:
            made.append(future)
        return future


class SentryMixin:
    """Reports a ``RequestHandler``'s uncaught exceptions with the request and the user.

    Put it before ``RequestHandler`` in the bases. The client is
    ``self.application.sentry_client`` (override :meth:`get_sentry_client` to change that);
    any :class:`raven.Client` works, :class:`AsyncSentryClient` sends on the loop.
    ``tornado.web.HTTPError`` outside 500–599 is a response, not an error, and is not
    reported. ``self.captureException()`` / ``self.captureMessage()`` report with the same
    request data.
    """

    #: request bodies up to this many bytes are reported (form or JSON only)
    max_body_size = _Middleware.max_body_size

    # what the mixin expects of the handler it is mixed into
    application: Any
    request: Any
    current_user: Any

    def get_sentry_client(self) -> Any:
        return self.application.sentry_client

    def get_sentry_data_from_request(self) -> Dict[str, Any]:
        """The request interface: URL (with its query, as in 6.10), method, headers, cookies
        (by name; None without a ``Cookie`` header).

        The body is included when it is form-encoded or JSON (parsed, so the processors can
        scrub fields such as ``password``) and no larger than :attr:`max_body_size`; 6.10
        sent any body raw.
        """
        request = self.request
        info: Dict[str, Any] = {
            "url": request.full_url(),
            "method": request.method,
            "query_string": request.query,
            "cookies": self._sentry_cookies(),
            "headers": dict(request.headers),
        }
        body = self._sentry_body()
        if body is not None:
            info["data"] = body
        return {"request": info}

    def _sentry_cookies(self) -> Optional[Dict[str, str]]:
        """The cookies by name (6.10 sent the header's text, which the event schema refuses)."""
        if not self.request.headers.get("Cookie"):
            return None
        try:
            return {name: morsel.value for name, morsel in self.request.cookies.items()}
        except Exception:  # a header Python's cookie parser refuses
            return None

    def _sentry_body(self) -> Any:
        body = self.request.body
        if not body or len(body) > self.max_body_size:
            return None
        media_type, _, params = (self.request.headers.get("Content-Type") or "").partition(";")
        media_type = media_type.strip().lower()
        if media_type == "application/x-www-form-urlencoded":
            return _parse_form(body, _charset(params))
        if media_type == "application/json" or media_type.endswith("+json"):
            try:
                return json.loads(body)
            except Exception:
                return body.decode("utf-8", "replace")
        return None

    def get_sentry_user_info(self) -> Dict[str, Any]:
        """Whether a user is logged in (``current_user``), and the client's address."""
        try:
            user = self.current_user
        except Exception:
            return {}
        info: Dict[str, Any] = {"is_authenticated": bool(user)}
        remote_ip = getattr(self.request, "remote_ip", None)
        if remote_ip:
            info["ip_address"] = remote_ip
        return {"user": info}

    def get_sentry_extra_info(self) -> Dict[str, Any]:
        """Override to add ``extra`` data to every event of this handler."""
        return {"extra": {}}

    def get_default_context(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {}
        data.update(self.get_sentry_data_from_request())
        data.update(self.get_sentry_user_info())
        data.update(self.get_sentry_extra_info())
        return data

    def _capture(self, call_name: str, data: Any = None, **kwargs: Any) -> Any:
        default_context = self.get_default_context()
        if isinstance(data, dict):
            default_context.update(data)
        elif data is not None:
            default_context.setdefault("extra", {})["extra_data"] = data
        client = self.get_sentry_client()
        return getattr(client, call_name)(data=default_context, **kwargs)

    def captureException(self, exc_info: Any = None, **kwargs: Any) -> Any:
        return self._capture("captureException", exc_info=exc_info, **kwargs)

    def captureMessage(self, message: Any, **kwargs: Any) -> Any:
        return self._capture("captureMessage", message=message, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> Any:
        """Tornado's hook for uncaught exceptions: report, then log as Tornado does.

        Reported first, so Tornado's own log line about this exception is not a breadcrumb
        of its event (6.10 logged first).
        """
        if not (isinstance(value, WebHTTPError) and not 500 <= value.status_code <= 599):
            try:
                self.captureException(exc_info=(typ, value, tb))
            except Exception:  # a broken get_sentry_* override must not break the response
                import logging

                logging.getLogger("sentry.errors").error(
                    "raven: failed to report a Tornado request's exception", exc_info=True
                )
        return super().log_exception(typ, value, tb)  # type: ignore[misc]
