"""Blocking HTTP transport on a keep-alive ``requests.Session`` (needs ``raven[requests]``)."""

from __future__ import annotations

import importlib.util

from raven.conf import defaults
from raven.transport.http import _SYSTEM_CA, HTTPTransport, check_response

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict

__all__ = ["RequestsHTTPTransport", "has_requests", "post"]

#: whether the requests library is installed (looked up, not imported: import raven stays light)
has_requests = importlib.util.find_spec("requests") is not None


def post(url: str, data: Any = None, **kwargs: Any) -> Any:
    """``requests.post``, importable here because raven 6.10's tests patch this name.

    The transport sends through its own session; once this global has been replaced (for
    example by ``mock.patch("raven.transport.requests.post")``) it calls the replacement
    instead, with 6.10's arguments, so such a patch still intercepts every send.
    """
    import requests

    return requests.post(url, data=data, **kwargs)


_unpatched_post = post


def _system_trust_adapter() -> Any:
    """A requests adapter verifying against the OS trust store (requests only takes CA files)."""
    import ssl

    from requests.adapters import HTTPAdapter

    class SystemTrustAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = ssl.create_default_context()
            super().init_poolmanager(*args, **kwargs)

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            kwargs.setdefault("ssl_context", ssl.create_default_context())
            return super().proxy_manager_for(proxy, **kwargs)

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, verify, cert)
            if verify:
                # requests points every verified connection at certifi's file; the context
                # already holds the system store, and loading the file would add to it
                conn.ca_certs = None
                conn.ca_cert_dir = None

    return SystemTrustAdapter()


class RequestsHTTPTransport(HTTPTransport):
    """:class:`HTTPTransport`'s contract, sent with the requests library.

    Unlike 6.10, which ignored the answer, the status is checked: a refusal raises
    :class:`raven.exceptions.RateLimited` or :class:`raven.exceptions.APIError` carrying
    the response headers, as with every other transport.

    Args:
        timeout: seconds for connecting and for reading the answer (DSN ``?timeout=``).
        verify_ssl: check the server certificate and host name (DSN ``?verify_ssl=0``).
        ca_certs: CA bundle path, certifi's by default, or ``"system"`` for the OS store.
        proxy: ``None`` follows the environment (requests' own rules: ``http_proxy``,
            ``https_proxy``, ``all_proxy``, ``no_proxy``); a URL always uses that proxy;
            ``""`` or ``"none"`` never uses one.

    Raises:
        ImportError: requests is not installed (``pip install raven[requests]``).
    """

    scheme = ["requests+http", "requests+https"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            import requests  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "%s needs the requests library: pip install raven[requests] (%s)"
                % (type(self).__name__, e)
            ) from e
        super().__init__(*args, **kwargs)
        self._session: Any = None
        verify: Any
        if not self.verify_ssl:
            verify = False
        elif self.ca_certs == _SYSTEM_CA:
            verify = True  # with the system-trust adapter mounted on the session
        else:
            verify = self.ca_certs or defaults.CA_BUNDLE or True
        #: the keyword arguments of every post (6.10's ``verify``/``timeout``, plus proxies)
        self._post_kwargs: Dict[str, Any] = {"verify": verify, "timeout": self.timeout}
        if self._proxy_url:
            # per request, so that environment proxies (merged in by requests) cannot win
            self._post_kwargs["proxies"] = {"http": self._proxy_url, "https": self._proxy_url}

    def _get_session(self) -> Any:
        if self._session is None:
            import requests

            session = requests.Session()
            if self._proxy_url == "":
                # never a proxy: stop requests reading http(s)_proxy from the environment
                session.trust_env = False
            if self.verify_ssl and self.ca_certs == _SYSTEM_CA:
                session.mount("https://", _system_trust_adapter())
            self._session = session
        return self._session

    def send(self, url: str, data: bytes, headers: Dict[str, str]) -> Any:
        """POST ``data``; raise :class:`RateLimited`/:class:`APIError` on a refusal."""
        from raven.breadcrumbs import _suppressed

        token = _suppressed.set(True)
        try:
            if post is not _unpatched_post:
                response = post(url, data=data, headers=headers, **self._post_kwargs)
            else:
                response = self._get_session().post(
                    url, data=data, headers=headers, **self._post_kwargs
                )
        finally:
            _suppressed.reset(token)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):  # a test double standing in for post() may return anything
            check_response(status, response.headers, getattr(response, "content", None))
        return response
