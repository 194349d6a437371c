"""Which transport class handles which DSN scheme (``threaded+https``, ``sync+http``, …).

Built-in transports are registered by dotted path and imported on first use, so
``import raven`` imports no HTTP or event-loop library.
"""

from __future__ import annotations

from raven.transport.exceptions import DuplicateScheme, InvalidScheme
from raven.utils.urlparse import register_scheme as _register_urlparse_scheme

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Iterable, Iterator, Optional, Union

    TransportSpec = Union[type, str]

__all__ = ["TransportRegistry", "default_transports"]


#: scheme -> "module:Class" of the transports that ship with raven
BUILTIN_SCHEMES: Dict[str, str] = {
    "http": "raven.transport.threaded:ThreadedHTTPTransport",
    "https": "raven.transport.threaded:ThreadedHTTPTransport",
    "threaded+http": "raven.transport.threaded:ThreadedHTTPTransport",
    "threaded+https": "raven.transport.threaded:ThreadedHTTPTransport",
    "sync+http": "raven.transport.http:HTTPTransport",
    "sync+https": "raven.transport.http:HTTPTransport",
    "requests+http": "raven.transport.requests:RequestsHTTPTransport",
    "requests+https": "raven.transport.requests:RequestsHTTPTransport",
    "threaded+requests+http": "raven.transport.threaded_requests:ThreadedRequestsHTTPTransport",
    "threaded+requests+https": "raven.transport.threaded_requests:ThreadedRequestsHTTPTransport",
    "gevent+http": "raven.transport.gevent:GeventedHTTPTransport",
    "gevent+https": "raven.transport.gevent:GeventedHTTPTransport",
    "eventlet+http": "raven.transport.eventlet:EventletHTTPTransport",
    "eventlet+https": "raven.transport.eventlet:EventletHTTPTransport",
    "twisted+http": "raven.transport.twisted:TwistedHTTPTransport",
    "twisted+https": "raven.transport.twisted:TwistedHTTPTransport",
    "tornado+http": "raven.transport.tornado:TornadoHTTPTransport",
    "tornado+https": "raven.transport.tornado:TornadoHTTPTransport",
    "aiohttp+http": "raven.transport.aiohttp:AioHttpTransport",
    "aiohttp+https": "raven.transport.aiohttp:AioHttpTransport",
}


def _load(path: str) -> type:
    import importlib

    module_name, _, attr = path.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    return cls


class TransportRegistry:
    """Maps DSN schemes to transport classes.

    Supports raven 6.10's API (``register_transport``, ``register_scheme``,
    ``supported_scheme``, ``get_transport_cls``) and the older documented one (``register``,
    ``get_transport``). Iterating a registry yields its transport classes.
    """

    def __init__(
        self, transports: Optional[Iterable[Union[type, TransportRegistry]]] = None
    ) -> None:
        self._schemes: Dict[str, TransportSpec] = {}
        self._transports: Dict[str, Any] = {}
        for transport in transports or ():
            if isinstance(transport, TransportRegistry):
                self._schemes.update(transport._schemes)
            else:
                self.register_transport(transport)

    def register_transport(self, transport: type) -> None:
        """Register ``transport`` under every scheme in its ``scheme`` list."""
        if not hasattr(transport, "scheme") or not hasattr(transport.scheme, "__iter__"):
            raise AttributeError("Transport %s must have a scheme list" % transport.__name__)
        for scheme in transport.scheme:
            self.register_scheme(scheme, transport)

    def register_scheme(self, scheme: str, cls: TransportSpec) -> None:
        """Register ``cls`` for ``scheme``; raises :class:`DuplicateScheme` if it is taken."""
        if scheme in self._schemes:
            raise DuplicateScheme(
                "scheme %r is already registered (%s)" % (scheme, self._schemes[scheme])
            )
        _register_urlparse_scheme(scheme)
        self._schemes[scheme] = cls

    def register(self, scheme: str, cls: TransportSpec) -> None:
        """Register ``cls`` for ``scheme``, replacing any previous registration."""
        _register_urlparse_scheme(scheme)
        self._schemes[scheme] = cls

    def supported_scheme(self, scheme: str) -> bool:
        return scheme in self._schemes

    @property
    def schemes(self) -> list:
        return sorted(self._schemes)

    def get_transport_cls(self, scheme: str) -> type:
        """The class for ``scheme`` (imported now if it was registered by path)."""
        try:
            spec = self._schemes[scheme]
        except KeyError:
            raise InvalidScheme(
                "Unsupported transport scheme %r (supported: %s)"
                % (scheme, ", ".join(self.schemes))
            )
        if isinstance(spec, str):
            spec = self._schemes[scheme] = _load(spec)
        return spec

    def get_transport(self, parsed_url: Any, **options: Any) -> Any:
        """A cached transport instance for a parsed DSN URL (the pre-6.x API)."""
        full_url = parsed_url.geturl() if hasattr(parsed_url, "geturl") else str(parsed_url)
        if full_url not in self._transports:
            scheme = getattr(parsed_url, "scheme", None) or str(parsed_url).split("://", 1)[0]
            cls = self.get_transport_cls(scheme)
            self._transports[full_url] = cls(parsed_url, **options)
        return self._transports[full_url]

    def __iter__(self) -> Iterator[type]:
        seen = []
        for scheme in list(self._schemes):
            cls = self.get_transport_cls(scheme)
            if cls not in seen:
                seen.append(cls)
        return iter(seen)

    def __contains__(self, scheme: object) -> bool:
        return scheme in self._schemes


_LAZY_NAMES = {
    "HTTPTransport": "raven.transport.http:HTTPTransport",
    "ThreadedHTTPTransport": "raven.transport.threaded:ThreadedHTTPTransport",
    "RequestsHTTPTransport": "raven.transport.requests:RequestsHTTPTransport",
    "ThreadedRequestsHTTPTransport": (
        "raven.transport.threaded_requests:ThreadedRequestsHTTPTransport"
    ),
    "GeventedHTTPTransport": "raven.transport.gevent:GeventedHTTPTransport",
    "EventletHTTPTransport": "raven.transport.eventlet:EventletHTTPTransport",
    "TwistedHTTPTransport": "raven.transport.twisted:TwistedHTTPTransport",
    "TornadoHTTPTransport": "raven.transport.tornado:TornadoHTTPTransport",
}


def __getattr__(name: str) -> Any:
    # 6.10 imported every transport class here; they load on first use instead
    if name == "urlparse":
        from raven.utils import urlparse

        return urlparse
    path = _LAZY_NAMES.get(name)
    if path is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    return _load(path)


#: the registry every :class:`raven.Client` resolves schemes through
default_transports = TransportRegistry()
for _scheme, _path in BUILTIN_SCHEMES.items():
    default_transports.register_scheme(_scheme, _path)
