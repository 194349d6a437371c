"""WSGI middleware that reports what an application raises, with the request it was handling."""

from __future__ import annotations

import codecs
import json
import logging
from collections.abc import Iterator
from urllib.parse import parse_qsl

from raven.exceptions import ConfigurationError
from raven.utils.wsgi import get_cookies, get_current_url, get_environ, get_headers, peek_body

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from collections.abc import Iterable
    from types import TracebackType
    from typing import Any, Callable, Dict, Optional

    from raven.base import Client

__all__ = [
    "ClosingIterator",
    "Sentry",
    "common_exception_handling",
    "get_current_url",
    "get_environ",
    "get_headers",
]

_error_logger = logging.getLogger("sentry.errors")

#: request bodies of these media types are reported (parsed); others are left out
_FORM_TYPE = "application/x-www-form-urlencoded"
_JSON_TYPE = "application/json"


def _is_failure(exc: BaseException) -> bool:
    """Whether an exception leaving the application is a failure worth reporting.

    ``StopIteration`` and ``GeneratorExit`` are how iteration ends, not errors; a
    ``SystemExit`` asking for a successful exit (code 0 or None) is a shutdown, not a crash.
    """
    if isinstance(exc, (StopIteration, GeneratorExit)):
        return False
    if isinstance(exc, SystemExit):
        return exc.code not in (None, 0)
    return isinstance(exc, (Exception, KeyboardInterrupt))


class _ExceptionGuard:
    """Report a failure raised inside the ``with`` block to the middleware, then let it go."""

    __slots__ = ("environ", "sentry")

    def __init__(self, environ: Any, sentry: Sentry) -> None:
        self.environ = environ
        self.sentry = sentry

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc is not None and _is_failure(exc):
            self.sentry.handle_exception(self.environ)


def common_exception_handling(environ: Any, client: Sentry) -> _ExceptionGuard:
    """A context manager that reports what the block raises through ``client`` and re-raises it.

    ``client`` is the :class:`Sentry` middleware (its ``handle_exception`` is called), as in
    raven 6.10. ``Exception``, ``KeyboardInterrupt`` and ``SystemExit`` with a failure code
    are reported; ``StopIteration``, ``GeneratorExit`` and successful exits pass unreported.
    """
    return _ExceptionGuard(environ, client)


def _end_request(sentry: Sentry) -> None:
    """Forget the request's context (data, breadcrumbs, transaction names) in this thread."""
    try:
        client = sentry.client
        client.context.clear()
        client.transaction.clear()
    except Exception:
        if _raises_internal_errors(sentry):
            raise
        _error_logger.error("Failed to clear the request context", exc_info=True)


def _raises_internal_errors(sentry: Sentry) -> bool:
    """``raise_send_errors`` is the one opt-out of "never raise into the application"."""
    try:
        return bool(getattr(sentry.client, "raise_send_errors", False))
    except Exception:
        return False


class ClosingIterator(Iterator[bytes]):
    """The response iterable handed to the server: reports what iterating or closing raises.

    The application's iterable is closed (``close()``, as PEP 3333 requires) when the server
    closes this one, or as soon as it is exhausted, because some servers never call
    ``close()``. Either way the request's context is cleared then.

    Args:
        sentry: the middleware that reports failures.
        iterable: what the application returned.
        environ: the request's environ.
    """

    def __init__(self, sentry: Sentry, iterable: Iterable[bytes], environ: Any) -> None:
        self.sentry = sentry
        self.environ = environ
        self._wrapped: Any = iterable
        self._close: Optional[Callable[[], Any]] = getattr(iterable, "close", None)
        self.iterable = iter(iterable)
        self.closed = False

    def __iter__(self) -> ClosingIterator:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self.iterable)
        except StopIteration:
            self.close()
            raise
        except BaseException as exc:
            if _is_failure(exc):
                self.sentry.handle_exception(self.environ)
            raise

    def __len__(self) -> int:
        """The application's own length, so servers can still set ``Content-Length`` from it.

        Raises TypeError, as ``len()`` of the application's iterable would, when it has none.
        """
        return len(self._wrapped)

    def __bool__(self) -> bool:
        return True  # a response is never "false", whatever its length says

    def close(self) -> None:
        """Close the application's iterable (reporting what that raises), then end the request."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._close is not None:
                with common_exception_handling(self.environ, self.sentry):
                    self._close()
        finally:
            _end_request(self.sentry)


class Sentry:
    """WSGI middleware: reports exceptions the application raises, with the request attached.

    Each request starts with an empty context (no data, tags, user or breadcrumbs left by an
    earlier request or by start-up code in this thread) holding the request: its method,
    URL without the query, query string, headers, cookies, the server variables
    ``REMOTE_ADDR``/``SERVER_NAME``/``SERVER_PORT``, and the body when it is safe to read
    (see :meth:`get_http_context`). What the application raises, while being called, while
    its response is iterated or while it is closed, is captured and raised again. The
    context is cleared again when the request ends, so nothing outlives it.

    The context lives in the thread (and asyncio task) handling the request, so requests
    served at the same time by a threaded server never see each other's data.

    >>> from raven import Client
    >>> application = Sentry(application, Client(dsn))

    Args:
        application: the WSGI application to wrap.
        client: the client that reports; a ``Client()`` configured from the environment
            (``SENTRY_DSN``) when omitted.
        max_body_size: the largest request body, in bytes, that is read for reports
            (default 10 KiB); 0 never reads the body.
    """

    #: request bodies up to this many bytes are read and reported (see ``get_http_context``)
    max_body_size = 10 * 1024

    def __init__(
        self,
        application: Callable[..., Any],
        client: Optional[Client] = None,
        max_body_size: Optional[int] = None,
    ) -> None:
        self.application = application
        if client is None:
            from raven.base import Client

            client = Client()
        self.client = client
        if max_body_size is not None:
            if type(max_body_size) is not int or max_body_size < 0:
                raise ConfigurationError(
                    "max_body_size must be a number of bytes (0 or more), got %r" % (max_body_size,)
                )
            self.max_body_size = max_body_size

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self._start_request(environ)
        try:
            iterable = self.application(environ, start_response)
            return ClosingIterator(self, iterable, environ)
        except BaseException as exc:
            try:
                if _is_failure(exc):
                    self.handle_exception(environ)
            finally:
                # no response will be closed: the request ends here
                _end_request(self)
            raise

    def _start_request(self, environ: Dict[str, Any]) -> None:
        try:
            client = self.client
            context = client.context
            context.clear(deactivate=False)
            context.activate()  # the last request's end may have deactivated it in this thread
            client.transaction.clear()
            client.http_context(self.get_http_context(environ))
        except Exception:
            if _raises_internal_errors(self):
                raise
            _error_logger.error("Failed to record the request for error reports", exc_info=True)

    def get_http_context(self, environ: Dict[str, Any]) -> Dict[str, Any]:
        """Describe the request as the event's ``request`` interface.

        The body is included as ``data`` only when it is form-encoded or JSON (parsed, so
        the processors can scrub fields such as ``password``), no larger than
        :attr:`max_body_size`, sent with a ``Content-Length`` and without ``Transfer-Encoding``
        or ``Expect: 100-continue``. Reading it puts a replay of it in ``wsgi.input``, so the
        application reads the same bytes (see :func:`raven.utils.wsgi.peek_body`). Chunked,
        streamed, multipart and larger bodies are never read.
        """
        context: Dict[str, Any] = {
            "method": environ.get("REQUEST_METHOD"),
            "url": get_current_url(environ, strip_querystring=True),
            "query_string": environ.get("QUERY_STRING"),
            "headers": dict(get_headers(environ)),
            "env": dict(get_environ(environ)),
        }
        if environ.get("HTTP_COOKIE"):
            context["cookies"] = get_cookies(environ)
        body = self._read_body(environ)
        if body is not None:
            context["data"] = body
        return context

    def _read_body(self, environ: Dict[str, Any]) -> Any:
        media_type, _, params = str(environ.get("CONTENT_TYPE") or "").partition(";")
        media_type = media_type.strip().lower()
        is_json = media_type == _JSON_TYPE or media_type.endswith("+json")
        if not is_json and media_type != _FORM_TYPE:
            return None
        body = peek_body(environ, self.max_body_size)
        if body is None:
            return None
        if is_json:
            try:
                return json.loads(body)
            except Exception:  # not JSON after all (or nested too deep): report the text
                return body.decode("utf-8", "replace")
        return _parse_form(body, _charset(params))

    def handle_exception(self, environ: Optional[Dict[str, Any]] = None) -> Optional[str]:
        """Capture the exception being handled; returns the event id."""
        return self.client.captureException()


def _charset(params: str) -> str:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"')
            try:
                return codecs.lookup(charset).name
            except LookupError:
                break
    return "utf-8"


def _parse_form(body: bytes, charset: str) -> Dict[str, Any]:
    """Form fields by name; a name sent more than once maps to the list of its values."""
    fields: Dict[str, Any] = {}
    text = body.decode(charset, "replace")
    for name, value in parse_qsl(text, keep_blank_values=True, encoding=charset, errors="replace"):
        if name not in fields:
            fields[name] = value
        elif isinstance(fields[name], list):
            fields[name].append(value)
        else:
            fields[name] = [fields[name], value]
    return fields
