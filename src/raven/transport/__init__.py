"""Transports: how encoded events reach the server (see :mod:`raven.transport.registry`).

raven 6.10 star-imported every transport module here, importing requests, gevent, Twisted
and Tornado when they were installed. The same names resolve here on first access instead,
so ``import raven`` stays free of optional libraries.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any

#: public name -> module that defines it
_NAMES = {
    "Transport": "raven.transport.base",
    "AsyncTransport": "raven.transport.base",
    "has_newstyle_transports": "raven.transport.base",
    "DuplicateScheme": "raven.transport.exceptions",
    "InvalidScheme": "raven.transport.exceptions",
    "HTTPTransport": "raven.transport.http",
    "AsyncWorker": "raven.transport.threaded",
    "ThreadedHTTPTransport": "raven.transport.threaded",
    "RequestsHTTPTransport": "raven.transport.requests",
    "ThreadedRequestsHTTPTransport": "raven.transport.threaded_requests",
    "TransportRegistry": "raven.transport.registry",
    "default_transports": "raven.transport.registry",
    "APIError": "raven.exceptions",
    "RateLimited": "raven.exceptions",
    "DEFAULT_TIMEOUT": "raven.transport.threaded",
    "urlopen": "raven.transport.http",
    "GeventedHTTPTransport": "raven.transport.gevent",
    "EventletHTTPTransport": "raven.transport.eventlet",
    "TwistedHTTPTransport": "raven.transport.twisted",
    "TornadoHTTPTransport": "raven.transport.tornado",
    "HTTPClient": "raven.transport.tornado",  # 6.10 star-imported Tornado's blocking client
    "AioHttpTransport": "raven.transport.aiohttp",
}

__all__ = sorted(_NAMES)  # and the has_* flags, defaults, logger, urlparse


#: 6.10's "is this library installed" flags, answered without importing the library
_HAS = {
    "has_eventlet": "eventlet",
    "has_gevent": "gevent",
    "has_requests": "requests",
    "has_tornado": "tornado",
    "has_twisted": "twisted",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _HAS:
        import importlib.util

        return importlib.util.find_spec(_HAS[name]) is not None
    if name in ("defaults", "urlparse"):
        module = importlib.import_module(
            "raven.conf.defaults" if name == "defaults" else "raven.utils.urlparse"
        )
        return module
    if name == "logger":
        import logging

        return logging.getLogger("raven")
    module_name = _NAMES.get(name)
    if module_name is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise AttributeError(
            "module %r has no attribute %r (%s is not available yet)"
            % (__name__, name, module_name)
        )
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_NAMES))
