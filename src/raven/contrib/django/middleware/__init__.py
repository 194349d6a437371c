"""Django middleware: the current request and route for reports, 404 reports, ``X-Sentry-ID``.

Every class here works in ``MIDDLEWARE`` under WSGI and ASGI (sync and async capable: an async
view keeps running on the event loop), and can also be built bare (``SentryMiddleware()``) and
driven through its ``process_*`` methods, as code written for raven 6.10 and Django's old-style
middleware did.
"""

from __future__ import annotations

import asyncio
import logging
from contextvars import ContextVar

from django.conf import settings
from django.utils.deprecation import MiddlewareMixin

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Optional

_sync_to_async: Any = None
_iscoroutinefunction: Any = asyncio.iscoroutinefunction
_markcoroutinefunction: Any = None
try:  # asgiref comes with Django >= 3.0
    from asgiref.sync import sync_to_async as _sync_to_async
except ImportError:  # pragma: no cover - Django 2.2
    pass
try:  # asgiref >= 3.6 (Django >= 4.1): also understands markcoroutinefunction
    from asgiref.sync import iscoroutinefunction as _iscoroutinefunction
    from asgiref.sync import markcoroutinefunction as _markcoroutinefunction
except ImportError:  # pragma: no cover - older asgiref
    pass

__all__ = [
    "DjangoRestFrameworkCompatMiddleware",
    "MiddlewareMixin",
    "Sentry404CatchMiddleware",
    "SentryLogMiddleware",
    "SentryMiddleware",
    "SentryResponseErrorIdMiddleware",
    "current_request",
    "is_ignorable_404",
]

_error_logger = logging.getLogger("sentry.errors")

#: the request being handled in this thread or asyncio task (``SentryMiddleware`` sets it)
_request: ContextVar[Any] = ContextVar("raven_django_request", default=None)


def current_request() -> Any:
    """The request ``SentryMiddleware`` is handling in this thread or task, or None.

    .. versionadded:: 7.0
    """
    return _request.get()


def is_ignorable_404(uri: str) -> bool:
    """Whether a 404 at ``uri`` matches ``settings.IGNORABLE_404_URLS`` (not worth a report)."""
    return any(pattern.search(uri) for pattern in getattr(settings, "IGNORABLE_404_URLS", ()))


def _mark_async(instance: Any) -> None:
    if _markcoroutinefunction is not None:
        _markcoroutinefunction(instance)
    else:  # pragma: no cover - Django 3.1-4.0 with asgiref < 3.6
        instance._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]


def _internal_error(message: str) -> None:
    from raven.contrib.django.models import client

    if getattr(client, "raise_send_errors", False):
        raise
    _error_logger.error(message, exc_info=True)


class _SentryMiddlewareBase(MiddlewareMixin):
    """Runs ``process_request``/``process_response`` around the rest of the chain, in both modes.

    Django 4 made ``get_response`` mandatory in ``MiddlewareMixin``; here it is optional, so
    the middleware can still be built bare and driven by hand. Under ASGI the hooks run on the
    event loop: they are quick and never touch the database.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Optional[Callable[..., Any]] = None) -> None:
        self.get_response = get_response
        self.async_mode = get_response is not None and _iscoroutinefunction(get_response)
        if self.async_mode:
            _mark_async(self)

    def process_request(self, request: Any) -> Any:
        return None

    def process_response(self, request: Any, response: Any) -> Any:
        return response

    def __call__(self, request: Any) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        if self.get_response is None:
            raise TypeError(
                "%s was built without get_response: call its process_* methods, or list it "
                "in MIDDLEWARE" % type(self).__name__
            )
        response = self.process_request(request)
        if response is None:
            response = self.get_response(request)
        return self.process_response(request, response)

    async def __acall__(self, request: Any) -> Any:
        response = self.process_request(request)
        if response is None:
            response = await self.get_response(request)  # type: ignore[misc]
        return self.process_response(request, response)


class _RequestSlot:
    """raven 6.10's ``SentryMiddleware.thread``: ``.request`` is this thread's/task's request.

    6.10 kept it in a ``threading.local``; under ASGI many requests share one thread, so each
    saw whichever request came last. It lives in a ``ContextVar`` now.
    """

    @property
    def request(self) -> Any:
        return _request.get()

    @request.setter
    def request(self, value: Any) -> None:
        _request.set(value)

    @request.deleter
    def request(self) -> None:
        _request.set(None)


class SentryMiddleware(_SentryMiddlewareBase):
    """Makes the request the default of every capture during it, and names its transaction.

    While a request is handled, ``client.capture*`` calls and ``SentryHandler`` log records
    without a request of their own get this one (URL, headers, body, user). Once the URL is
    resolved, the route (``/items/{pk}/``) is pushed onto ``client.transaction``, and popped
    when the response leaves. List it first in ``MIDDLEWARE``.

    Errors are captured through Django's ``got_request_exception`` signal whether or not this
    middleware is installed (see :mod:`raven.contrib.django.models`).
    """

    thread = _RequestSlot()

    def __init__(self, get_response: Optional[Callable[..., Any]] = None) -> None:
        super().__init__(get_response)
        if self.async_mode:
            # Django calls view middleware in the handler's mode; a coroutine keeps this one on
            # the event loop instead of a round trip through a worker thread per request
            self.process_view = self._aprocess_view  # type: ignore[method-assign]

    def process_request(self, request: Any) -> Any:
        try:
            request._raven_request_token = _request.set(request)
        except Exception:
            _internal_error("Failed to remember the request for error reports")
        return None

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> Any:
        from raven.contrib.django.models import client

        try:
            resolve = getattr(client, "get_transaction_from_request", None)
            route = resolve(request) if resolve is not None else None
            if route:
                request._raven_transaction = client.transaction.push(route)
        except Exception:
            _internal_error("Failed to name the transaction after the request's route")
        return None

    async def _aprocess_view(
        self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> Any:
        return SentryMiddleware.process_view(self, request, view_func, view_args, view_kwargs)

    def process_response(self, request: Any, response: Any) -> Any:
        self._end(request)
        return response

    def _end(self, request: Any) -> None:
        try:
            route = request.__dict__.pop("_raven_transaction", None)
            if route is not None:
                from raven.contrib.django.models import client

                client.transaction.pop(route)
            token = request.__dict__.pop("_raven_request_token", None)
            if token is not None:
                try:
                    _request.reset(token)
                except ValueError:  # set in another context (hooks driven by hand)
                    _request.set(None)
        except Exception:
            _internal_error("Failed to forget the request after its response")

    def __call__(self, request: Any) -> Any:
        if self.async_mode or self.get_response is None:
            return super().__call__(request)
        # the request and route are forgotten even when the chain below raises
        self.process_request(request)
        try:
            return self.process_response(request, self.get_response(request))
        finally:
            self._end(request)

    async def __acall__(self, request: Any) -> Any:
        self.process_request(request)
        try:
            response = await self.get_response(request)  # type: ignore[misc]
            return self.process_response(request, response)
        finally:
            self._end(request)


#: raven's older name for :class:`SentryMiddleware`
SentryLogMiddleware = SentryMiddleware


class Sentry404CatchMiddleware(_SentryMiddlewareBase):
    """Reports 404 responses as ``Page Not Found: <url>`` (level info, logger ``http404``).

    URLs matching ``settings.IGNORABLE_404_URLS`` are not reported. The response is always
    returned unchanged (raven 6.10 returned None when the capture returned nothing).
    """

    async def __acall__(self, request: Any) -> Any:
        response = await self.get_response(request)  # type: ignore[misc]
        if getattr(response, "status_code", None) != 404 or _sync_to_async is None:
            return response
        # the report reads request.user, which may query the database: not on the event loop
        return await _sync_to_async(self.process_response, thread_sensitive=True)(request, response)

    def process_response(self, request: Any, response: Any) -> Any:
        if getattr(response, "status_code", None) != 404:
            return response
        from raven.contrib.django.models import client

        try:
            if is_ignorable_404(request.get_full_path()) or not client.is_enabled():
                return response
            data = client.get_data_from_request(request)
            data.update({"level": logging.INFO, "logger": "http404"})
            url = data.get("request", {}).get("url") or request.path
            result = client.captureMessage(message="Page Not Found: %s" % url, data=data)
            if result:
                request.sentry = {
                    "project_id": data.get("project", client.remote.project),
                    "id": result,
                }
        except Exception:
            _internal_error("Failed to report a 404 response")
        return response


class SentryResponseErrorIdMiddleware(_SentryMiddlewareBase):
    """Adds the ``X-Sentry-ID`` header (the event id) to a response whose request was reported."""

    def process_response(self, request: Any, response: Any) -> Any:
        sentry = getattr(request, "sentry", None)
        if sentry:
            try:
                response["X-Sentry-ID"] = sentry["id"]
            except Exception:
                _internal_error("Failed to add the X-Sentry-ID header")
        return response


class DjangoRestFrameworkCompatMiddleware(_SentryMiddlewareBase):
    """Reads a small request body before the view, so reports can still show it.

    Django REST framework (and any view that reads ``request`` as a stream) consumes the
    body, after which Django refuses ``request.body``; reading it first keeps a copy that the
    view reads as usual. Form, multipart and binary bodies are left alone (Django parses
    forms itself), and so is any body larger than the client's ``max_body_size`` or of unknown
    length: those would not be reported anyway.
    """

    non_cacheable_types = (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/octet-stream",
    )

    def process_request(self, request: Any) -> Any:
        content_type = request.META.get("CONTENT_TYPE", "")
        if any(kind in content_type for kind in self.non_cacheable_types):
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length <= 0:
            return None
        from raven.contrib.django.models import client

        limit = getattr(client, "max_body_size", 0)
        if length > limit:
            return None
        try:
            request.body  # noqa: B018  (read and cached by Django for the view)
        except Exception:
            pass  # Django raises the same to the view when it reads the body
        return None
