"""Blocking HTTP transport on a urllib3 connection pool (keep-alive, TLS with hostname checks)."""

from __future__ import annotations

from raven.conf import defaults
from raven.exceptions import APIError, RateLimited
from raven.transport.base import Transport

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Optional

__all__ = ["HTTPTransport", "check_response", "parse_retry_after", "urlopen"]


def urlopen(*args: Any, **kwargs: Any) -> Any:
    """:func:`raven.utils.http.urlopen`, kept importable from here as in 6.10."""
    from raven.utils.http import urlopen as _urlopen

    return _urlopen(*args, **kwargs)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("expected a boolean (0/1/true/false), got %r" % value)
    return bool(value)


def parse_retry_after(value: Optional[str]) -> float:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date; 0 if absent."""
    if not value:
        return 0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    import datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max((when - datetime.datetime.now(datetime.timezone.utc)).total_seconds(), 0.0)


#: ``ca_certs`` value that selects the operating system's trust store instead of a CA file
_SYSTEM_CA = "system"


def _check_ca_certs(ca_certs: Optional[str]) -> Optional[str]:
    """``ca_certs`` as given, once it names something usable (a typo should fail loudly now)."""
    if ca_certs is None or ca_certs == "":
        return None  # a blank DSN option (?ca_certs=) means the default
    if ca_certs == _SYSTEM_CA:
        return ca_certs
    import os

    try:
        ca_certs = os.fspath(ca_certs)
    except TypeError:
        raise ValueError("ca_certs must be a CA bundle path or %r, got %r" % (_SYSTEM_CA, ca_certs))
    if not isinstance(ca_certs, str) or not os.path.exists(ca_certs):
        raise ValueError("ca_certs: no such CA bundle file or directory: %r" % ca_certs)
    return ca_certs


def _parse_proxy(proxy: Any) -> Optional[str]:
    """The proxy URL to always use, ``""`` for never a proxy, None to follow the environment."""
    if proxy is None:
        return None
    if not isinstance(proxy, str):
        raise ValueError("proxy must be a URL string, got %r" % (proxy,))
    value = proxy.strip()
    if value == "" or value.lower() == "none":
        return ""
    return _normalize_proxy_url(value)


def _normalize_proxy_url(value: str, source: str = "proxy") -> str:
    """``value`` as an ``http(s)://host:port`` proxy URL; ``host:port`` means plain HTTP.

    Raises ValueError naming ``source`` (the option or environment variable) when the value
    is not a usable HTTP proxy: urllib3 and requests speak only HTTP(S) to a proxy here.
    """
    from urllib.parse import urlsplit

    url = value if "://" in value else "http://" + value
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError("%s %r is not a valid proxy URL (%s)" % (source, value, e))
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(
            "%s %r: only http:// and https:// proxies are supported, not %s://"
            % (source, value, parts.scheme)
        )
    if not parts.hostname:
        raise ValueError("%s %r is not a valid proxy URL (no host)" % (source, value))
    if port == 0 or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            "%s %r is not a valid proxy URL (expected scheme://host:port)" % (source, value)
        )
    return url.rstrip("/")


def _proxy_headers(proxy_url: str) -> Optional[Dict[str, str]]:
    """``Proxy-Authorization`` for credentials in the proxy URL (urllib3 ignores them there)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(proxy_url)
    if parts.username is None:
        return None
    import urllib3

    return dict(
        urllib3.util.make_headers(
            proxy_basic_auth="%s:%s" % (unquote(parts.username), unquote(parts.password or ""))
        )
    )


class _ProxyRouter:
    """Sends each request directly or through the proxy the environment names for its URL.

    ``send`` calls ``_get_pool().request(...)``; with ``http_proxy``/``https_proxy`` set the
    choice depends on the URL's scheme and on ``no_proxy``, so it is made per host (and kept).
    """

    def __init__(self, transport: HTTPTransport, proxies: Dict[str, str]) -> None:
        self._transport = transport
        self._proxies = proxies
        self._direct: Any = None
        self._managers: Dict[str, Any] = {}
        self._routes: Dict[str, Any] = {}

    def manager_for(self, url: str) -> Any:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        key = "%s://%s" % (parts.scheme, parts.netloc)
        manager = self._routes.get(key)
        if manager is None:
            proxy = self._proxies.get(parts.scheme.lower())
            if proxy:
                import urllib.request

                host = parts.netloc.rpartition("@")[2]
                if urllib.request.proxy_bypass(host):
                    proxy = None
            if proxy:
                proxy = _normalize_proxy_url(proxy, "%s_proxy" % parts.scheme.lower())
                manager = self._managers.get(proxy)
                if manager is None:
                    manager = self._managers[proxy] = self._transport._make_manager(proxy)
            else:
                if self._direct is None:
                    self._direct = self._transport._make_manager(None)
                manager = self._direct
            self._routes[key] = manager
        return manager

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        return self.manager_for(url).request(method, url, **kwargs)


class HTTPTransport(Transport):
    """POST each event and wait for the answer.

    Args:
        timeout: seconds for connecting and for reading the answer (DSN ``?timeout=``).
        verify_ssl: check the server certificate and host name (DSN ``?verify_ssl=0`` to skip).
        ca_certs: CA bundle path (file or directory; it must exist), certifi's by default, or
            ``"system"`` for the operating system's trust store.
        proxy: ``None`` (default) follows ``http_proxy``/``https_proxy``/``no_proxy`` from the
            environment (read at the first send); a URL (``http://host:port``, or just
            ``host:port``) always goes through that proxy; ``""`` or ``"none"`` never uses a
            proxy, whatever the environment says (DSN ``?proxy=``).
    """

    scheme = ["sync+http", "sync+https"]

    def __init__(
        self,
        *args: Any,
        timeout: Any = defaults.TIMEOUT,
        verify_ssl: Any = True,
        ca_certs: Optional[str] = None,
        proxy: Optional[str] = None,
    ) -> None:
        super().__init__(*args)
        try:
            self.timeout = float(timeout)
        except (TypeError, ValueError):
            raise ValueError("timeout must be a number of seconds, got %r" % (timeout,))
        if self.timeout <= 0:
            raise ValueError("timeout must be positive, got %r" % (timeout,))
        self.verify_ssl = _as_bool(verify_ssl)
        self.ca_certs = _check_ca_certs(ca_certs)
        self.proxy = proxy
        #: None: from the environment; "": never; else the proxy URL
        self._proxy_url = _parse_proxy(proxy)
        self._pool: Any = None

    def _pool_options(self) -> Dict[str, Any]:
        """urllib3 pool keywords for the TLS and timeout settings (shared by every manager)."""
        import urllib3

        options: Dict[str, Any] = {
            "retries": False,
            "timeout": urllib3.Timeout(connect=self.timeout, read=self.timeout),
        }
        if not self.verify_ssl:
            options["cert_reqs"] = "CERT_NONE"
            return options
        # CERT_REQUIRED makes urllib3 check the host name too (6.10 did not)
        options["cert_reqs"] = "CERT_REQUIRED"
        if self.ca_certs == _SYSTEM_CA:
            import ssl

            options["ssl_context"] = ssl.create_default_context()
        else:
            import os.path

            ca = self.ca_certs or defaults.CA_BUNDLE or None
            if ca and os.path.isdir(ca):
                options["ca_cert_dir"] = ca
            elif ca:
                options["ca_certs"] = ca
        return options

    def _make_manager(self, proxy_url: Optional[str]) -> Any:
        """A urllib3 PoolManager, or a ProxyManager when ``proxy_url`` is given."""
        import urllib3

        options = self._pool_options()
        if proxy_url:
            return urllib3.ProxyManager(
                proxy_url, proxy_headers=_proxy_headers(proxy_url), **options
            )
        return urllib3.PoolManager(**options)

    def _get_pool(self) -> Any:
        if self._pool is None:
            if self._proxy_url is None:
                import urllib.request

                proxies = {
                    scheme: url
                    for scheme, url in urllib.request.getproxies().items()
                    if scheme in ("http", "https") and url
                }
                if proxies:
                    self._pool = _ProxyRouter(self, proxies)
                else:
                    self._pool = self._make_manager(None)
            else:
                self._pool = self._make_manager(self._proxy_url)
        return self._pool

    def send(self, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        """POST ``data``; raise :class:`RateLimited`/:class:`APIError` on a refusal."""
        from raven.breadcrumbs import _suppressed

        token = _suppressed.set(True)
        try:
            response = self._get_pool().request(
                "POST", url, body=data, headers=headers, preload_content=True
            )
        finally:
            _suppressed.reset(token)
        check_response(response.status, response.headers, response.data)
        return response


def check_response(status: int, headers: Any, body: Optional[bytes] = None) -> None:
    """Raise for a refused send: :class:`RateLimited` on 429, :class:`APIError` on others.

    Every transport maps its library's response through here, so the delivery core sees one
    shape: the exception carries ``code`` and the response ``headers`` (a case-insensitive
    mapping when the library gives one). The reason is ``X-Sentry-Error``, or else the start of
    a short text body (Bugsink explains a 403 there). 2xx and 3xx return None.
    """
    if status < 400:
        return
    message = headers.get("X-Sentry-Error") or _body_reason(status, headers, body)
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After")) or 60
        raise RateLimited(message, retry_after, headers)
    raise APIError(message, status, headers)


def _body_reason(status: int, headers: Any, body: Optional[bytes]) -> str:
    """``HTTP 403: <first line of a plain-text body>``, or ``HTTP 403``."""
    content_type = (headers.get("Content-Type") or "").lower()
    if (
        isinstance(body, (bytes, bytearray))
        and body
        and ("text/plain" in content_type or not content_type)
    ):
        line = body[:300].decode("utf-8", "replace").strip().splitlines()
        if line and line[0].strip():
            return "HTTP %s: %s" % (status, line[0].strip()[:200])
    return "HTTP %s" % status
