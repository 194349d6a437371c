"""asyncio transport on aiohttp: events leave from the application's own loop, no thread.

    from raven import Client
    from raven.transport.aiohttp import AioHttpTransport, aclose

    client = Client(dsn, transport=AioHttpTransport)     # or DSN scheme aiohttp+https://

    async def main():
        ...
        await aclose(client)   # or: await flush(client)

Each capture schedules its send on the loop running in the capturing thread and returns;
retries, rate limits and counts are the client's delivery rules (``docs/delivery.md``). How
sends from threads without a loop, and the sessions, are handled: see
:mod:`raven.transport._loop`. ``client.flush()`` blocks its thread, so on the loop thread it
cannot wait; there, ``await flush(client)``.

The constructor takes raven-aiohttp's arguments too (``keepalive``, ``family``, ``loop``).
"""

from __future__ import annotations

import asyncio
import inspect

try:
    import aiohttp
except ImportError as exc:  # pragma: no cover - exercised only without aiohttp installed
    raise ImportError(
        "raven.transport.aiohttp needs aiohttp (3.7 or later): pip install 'raven[aiohttp]' (%s)"
        % (exc,)
    ) from exc

from raven.conf import defaults
from raven.transport._loop import Answer, LoopTransport, aclose, flush
from raven.transport.http import _as_bool, _normalize_proxy_url, _proxy_headers, check_response

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Optional, Tuple

__all__ = ["AioHttpTransport", "aclose", "flush"]

#: whether closing a session waits for its TLS connections to shut down (newer aiohttp,
#: whose connectors take ``abort_ssl``)
_GRACEFUL_CLOSE = "abort_ssl" in inspect.signature(aiohttp.BaseConnector.close).parameters


class AioHttpTransport(LoopTransport):
    """POST each event with aiohttp on the running asyncio loop.

    Args:
        timeout: seconds for connecting and for each read of the answer (DSN ``?timeout=``).
        verify_ssl, ca_certs, proxy: as for :class:`~raven.transport.http.HTTPTransport`;
            without ``proxy`` the ``https_proxy``/``http_proxy``/``no_proxy`` environment
            variables are followed (only ``http://`` proxies).
        keepalive: keep connections open between sends (default); False closes each.
        family: the socket family to connect with (0: any; raven-aiohttp used IPv4).
        loop: the loop to send on from threads that run none.
        shutdown_timeout: seconds to keep sending at interpreter exit.
    """

    scheme = ["aiohttp+http", "aiohttp+https"]

    def __init__(
        self,
        *args: Any,
        timeout: Any = defaults.TIMEOUT,
        verify_ssl: Any = True,
        ca_certs: Optional[str] = None,
        proxy: Optional[str] = None,
        keepalive: Any = True,
        family: Any = 0,
        loop: Optional[asyncio.AbstractEventLoop] = None,
        shutdown_timeout: Any = 10,
    ) -> None:
        super().__init__(
            *args,
            loop=loop,
            shutdown_timeout=shutdown_timeout,
            timeout=timeout,
            verify_ssl=verify_ssl,
            ca_certs=ca_certs,
            proxy=proxy,
        )
        self.keepalive = _as_bool(keepalive)
        try:
            self.family = int(family)
        except (TypeError, ValueError):
            raise ValueError("family must be a socket address family, got %r" % (family,))
        self._ssl: Any = None
        #: "scheme://host" -> (proxy URL, Proxy-Authorization headers) or None
        self._proxies: Dict[str, Optional[Tuple[str, Optional[Dict[str, str]]]]] = {}

    def _ssl_context(self) -> Any:
        """False (no checks), or an SSL context with the configured trust store."""
        if not self.verify_ssl:
            return False
        if self._ssl is None:
            import os.path
            import ssl

            ca = self.ca_certs
            if ca == "system":
                context = ssl.create_default_context()
            else:
                ca = ca or defaults.CA_BUNDLE
                if ca and os.path.isdir(ca):
                    context = ssl.create_default_context(capath=ca)
                else:
                    context = ssl.create_default_context(cafile=ca or None)
            self._ssl = context
        return self._ssl

    def _proxy_for(self, url: str) -> Optional[Tuple[str, Optional[Dict[str, str]]]]:
        """The proxy for ``url`` and its credentials header, or None to connect directly."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        key = "%s://%s" % (parts.scheme, parts.netloc)
        if key in self._proxies:
            return self._proxies[key]
        proxy: Optional[str] = self._proxy_url
        if proxy is None:  # from the environment, as the blocking transports do
            import urllib.request

            proxy = urllib.request.getproxies().get(parts.scheme.lower())
            if proxy and urllib.request.proxy_bypass(parts.netloc.rpartition("@")[2]):
                proxy = None
            if proxy:
                proxy = _normalize_proxy_url(proxy, "%s_proxy" % parts.scheme.lower())
        route = None
        if proxy:
            proxy_parts = urlsplit(proxy)
            bare = "%s://%s" % (proxy_parts.scheme, proxy_parts.netloc.rpartition("@")[2])
            route = (bare, _proxy_headers(proxy))
        self._proxies[key] = route
        return route

    def _open(self) -> Any:
        connector = aiohttp.TCPConnector(
            ssl=self._ssl_context(),
            limit=self.max_in_flight,
            family=self.family,  # type: ignore[arg-type]  # any int the socket module takes
            force_close=not self.keepalive,
        )
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout, sock_read=self.timeout
        )
        return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)

    async def _close_resource(self, resource: Any) -> None:
        await resource.close()
        if not _GRACEFUL_CLOSE and getattr(resource, "_raven_tls", False):
            # older aiohttp returns before TLS connections finish closing; its documented
            # advice is a short pause, or the loop closes under them (ResourceWarning)
            await asyncio.sleep(0.25)

    async def _post(self, resource: Any, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        if url[:6].lower() == "https:":
            resource._raven_tls = True
        route = self._proxy_for(url)
        proxy, proxy_headers = route if route is not None else (None, None)
        if proxy_headers and not url.lower().startswith("https:"):
            # aiohttp sends proxy_headers only in an HTTPS tunnel's CONNECT; a plain HTTP
            # request goes to the proxy itself, so the credentials travel with it
            headers = {**headers, **proxy_headers}
            proxy_headers = None
        try:
            async with resource.post(
                url,
                data=data,
                headers=headers,
                proxy=proxy,
                proxy_headers=proxy_headers,
                allow_redirects=False,
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            # one shape for "the server could not be reached": the delivery retries it
            raise ConnectionError("%s: %s" % (type(e).__name__, e)) from e
        check_response(response.status, response.headers, body)
        return Answer(response.status, response.headers)

    def _post_blocking(self, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        return self.send(url, data, headers)
