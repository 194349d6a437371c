"""Tornado transport: events leave from Tornado's own loop (Tornado 6, on asyncio).

raven 6.10 asked ``IOLoop.initialized()`` (gone since Tornado 5) whether to fetch
asynchronously, and passed ``callback=`` (gone in Tornado 6). Here a send is a task on the
asyncio loop running in the capturing thread, through an ``AsyncHTTPClient`` of its own
(not the application's shared one, whose few connection slots stay the application's).
Without a running loop the event is sent with the blocking ``HTTPClient`` (looked up on this
module at call time, as 6.10's tests patch it), as 6.10 did. Retries, rate limits and counts
are the client's delivery rules (``docs/delivery.md``); sessions and threads without a loop:
see :mod:`raven.transport._loop`.
"""

from __future__ import annotations

try:
    from tornado.httpclient import AsyncHTTPClient, HTTPClient, HTTPClientError
    from tornado.iostream import StreamClosedError
except ImportError as exc:  # pragma: no cover - exercised only without Tornado installed
    raise ImportError(
        "raven.transport.tornado needs Tornado (6.0 or later): pip install 'raven[tornado]' (%s)"
        % (exc,)
    ) from exc

from raven.conf import defaults
from raven.transport._loop import Answer, LoopTransport, aclose, flush
from raven.transport.base import AsyncTransport
from raven.transport.http import HTTPTransport, check_response

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, NoReturn, Optional

__all__ = [
    "AsyncTransport",
    "HTTPClient",
    "HTTPTransport",
    "TornadoHTTPTransport",
    "aclose",
    "flush",
    "has_tornado",
]

#: 6.10's flag; importing this module needs Tornado, so it is always true here
has_tornado = True


class TornadoHTTPTransport(LoopTransport):
    """POST each event with Tornado's HTTP client on the running loop.

    Args:
        timeout: seconds to connect, and again to read the answer (DSN ``?timeout=``).
        verify_ssl: check the server certificate (DSN ``?verify_ssl=0`` to skip).
        ca_certs: CA bundle file (certifi's by default), a directory of CA files, or
            ``"system"`` for the operating system's trust store.
        proxy: ``host:port`` or ``http://[user:password@]host:port``; Tornado sends through
            a proxy only with its curl client (``AsyncHTTPClient.configure(
            "tornado.curl_httpclient.CurlAsyncHTTPClient")``), and ignores ``http_proxy``.
        shutdown_timeout: seconds to keep sending at interpreter exit.
    """

    scheme = ["tornado+http", "tornado+https"]
    #: Tornado's simple client queues requests beyond its ``max_clients`` and times out the
    #: queued ones; the delivery keeps the rest in its own queue instead
    max_in_flight = 10

    def __init__(
        self,
        *args: Any,
        timeout: Any = defaults.TIMEOUT,
        verify_ssl: Any = True,
        ca_certs: Optional[str] = None,
        proxy: Optional[str] = None,
        shutdown_timeout: Any = 10,
    ) -> None:
        super().__init__(
            *args,
            shutdown_timeout=shutdown_timeout,
            timeout=timeout,
            verify_ssl=verify_ssl,
            ca_certs=ca_certs,
            proxy=proxy,
        )
        if self._proxy_url and "curl" not in AsyncHTTPClient.configured_class().__name__.lower():
            raise ValueError(
                "proxy: Tornado's simple HTTP client cannot use a proxy; configure its curl "
                'client first: AsyncHTTPClient.configure("tornado.curl_httpclient.'
                'CurlAsyncHTTPClient")'
            )
        self._fetch_options: Optional[Dict[str, Any]] = None

    def _options(self) -> Dict[str, Any]:
        """The ``fetch`` keywords for the TLS, timeout and proxy settings (made once)."""
        if self._fetch_options is None:
            options: Dict[str, Any] = {
                "validate_cert": self.verify_ssl,
                "connect_timeout": self.timeout,
                "request_timeout": 2 * self.timeout,
                "follow_redirects": False,
                "decompress_response": False,
            }
            ca = self.ca_certs
            if ca != "system":  # "system": Tornado's default context, the OS trust store
                import os.path

                ca = ca or defaults.CA_BUNDLE
                if ca and os.path.isdir(ca):
                    import ssl

                    options["ssl_options"] = ssl.create_default_context(capath=ca)
                else:
                    options["ca_certs"] = ca
            if self._proxy_url:
                from urllib.parse import unquote, urlsplit

                parts = urlsplit(self._proxy_url)
                options["proxy_host"] = parts.hostname
                options["proxy_port"] = parts.port or 80
                if parts.username is not None:
                    options["proxy_username"] = unquote(parts.username)
                    options["proxy_password"] = unquote(parts.password or "")
            self._fetch_options = options
        return self._fetch_options

    def _open(self) -> Any:
        return AsyncHTTPClient(force_instance=True, max_clients=self.max_in_flight)

    async def _close_resource(self, resource: Any) -> None:
        resource.close()

    async def _post(self, resource: Any, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        try:
            response = await resource.fetch(
                url, method="POST", body=data, headers=headers, raise_error=False, **self._options()
            )
        except Exception as e:
            _reraise(e)
        return _answer(response)

    def _post_blocking(self, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        from raven.breadcrumbs import _suppressed

        token = _suppressed.set(True)
        client = None
        try:
            client = HTTPClient()
            response = client.fetch(
                url, method="POST", body=data, headers=headers, raise_error=False, **self._options()
            )
        except Exception as e:
            _reraise(e)
        finally:
            _suppressed.reset(token)
            if client is not None:
                client.close()
        return _answer(response)


def _answer(response: Any) -> Answer:
    """The delivery's view of a Tornado response: raise for a refusal or a failed connection."""
    code = getattr(response, "code", 200)
    headers = getattr(response, "headers", None) or {}
    if code == 599:  # Tornado's stand-in status for "no answer" (timeouts, closed streams)
        error = getattr(response, "error", None)
        raise ConnectionError("%s" % (error or "no answer from the server"))
    body = getattr(response, "body", None)
    check_response(code, headers, body if isinstance(body, bytes) else None)
    return Answer(code, headers)


def _reraise(exc: Exception) -> NoReturn:
    """Map Tornado's errors to the delivery's: refusals to APIError, the rest to the network."""
    if isinstance(exc, HTTPClientError):
        if exc.code == 599:
            raise ConnectionError(str(exc)) from exc
        response = exc.response
        headers = response.headers if response is not None else {}
        check_response(exc.code, headers, response.body if response is not None else None)
    if isinstance(exc, StreamClosedError):
        raise ConnectionError(str(exc) or "the connection was closed") from exc
    raise exc
