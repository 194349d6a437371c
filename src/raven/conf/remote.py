"""The DSN: where events go, the keys that authorise them, and the transport that takes them."""

from __future__ import annotations

import logging
import os
import threading
import warnings
from urllib.parse import parse_qsl, urlsplit

from raven.exceptions import InvalidDsn
from raven.transport.exceptions import InvalidScheme
from raven.utils.encoding import to_string as to_string  # 6.10 name, kept importable
from raven.utils.urlparse import urlparse as urlparse  # 6.10 name, kept importable

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Optional

__all__ = ["RemoteConfig", "discover_default_transport"]  # and DEFAULT_TRANSPORT (lazy)

#: serialises building transports on first use
_transport_lock = threading.RLock()

logger = logging.getLogger("raven")


def _importable(transport: Any) -> Any:
    """A transport given by dotted path (``transport = …`` in an ini file) as its class.

    Imported now, so a typo is a configuration error rather than a failure at the first send.
    """
    if not isinstance(transport, str):
        return transport
    from raven.exceptions import ConfigurationError
    from raven.utils.imports import import_string

    try:
        return import_string(transport)
    except Exception as exc:
        raise ConfigurationError("transport %r cannot be imported: %s" % (transport, exc))


def discover_default_transport() -> type:
    """The transport for plain http(s) DSNs: synchronous where background threads freeze.

    On AWS Lambda (``LAMBDA_TASK_ROOT``) and Google App Engine (``CURRENT_VERSION_ID`` and
    ``INSTANCE_ID``) a queued event may never leave the frozen process, so events are sent
    before the capture returns. 6.10 computed this but ignored it whenever a DSN was given.
    """
    env = os.environ
    if env.get("LAMBDA_TASK_ROOT") or (env.get("CURRENT_VERSION_ID") and env.get("INSTANCE_ID")):
        from raven.transport.http import HTTPTransport

        return HTTPTransport
    from raven.transport.threaded import ThreadedHTTPTransport

    return ThreadedHTTPTransport


def __getattr__(name: str) -> Any:
    if name == "DEFAULT_TRANSPORT":
        return discover_default_transport()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


ERR_UNKNOWN_SCHEME = "Unsupported Sentry DSN scheme: {0}"


def _mask(dsn: str) -> str:
    """The DSN with its secret key replaced, for error messages."""
    try:
        parts = urlsplit(dsn)
        if parts.password:
            return dsn.replace(":" + parts.password + "@", ":***@", 1)
    except ValueError:
        pass
    return dsn


def _accepted_options(cls: Any) -> Optional[set]:
    """Keyword names a transport class accepts, or None when it takes anything."""
    import inspect  # only needed when a DSN carries options

    accepted: set[str] = set()
    for klass in getattr(cls, "__mro__", ()):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        accepted.update(
            p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            accepted.discard("self")
            return accepted
    return None


def transport_accepts(cls: Any, name: str) -> bool:
    """Whether the transport class takes the keyword option ``name``."""
    if not isinstance(cls, type):
        return False
    accepted = _accepted_options(cls)
    return accepted is None or name in accepted


def _check_transport_options(cls: Any, options: Dict[str, Any], dsn: str) -> None:
    """Reject DSN query options the transport cannot take (6.10 failed at the first send).

    The accepted names are collected along the MRO's ``__init__`` signatures for as long as
    they pass ``**kwargs`` on; a chain that accepts anything is not checked.
    """
    accepted = _accepted_options(cls)
    if accepted is None:
        return
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise InvalidDsn(
            "Invalid Sentry DSN %s: option(s) %s not understood by the %s transport "
            "(it takes: %s)"
            % (
                _mask(dsn),
                ", ".join(unknown),
                getattr(cls, "__name__", cls),
                ", ".join(sorted(accepted)),
            )
        )


class RemoteConfig:
    """A parsed DSN: ``base_url``, ``project``, keys, transport ``options`` and the transport."""

    def __init__(
        self,
        base_url: Optional[str] = None,
        project: Optional[str] = None,
        public_key: Optional[str] = None,
        secret_key: Optional[str] = None,
        transport: Any = None,
        options: Optional[Dict[str, Any]] = None,
    ) -> None:
        if base_url:
            base_url = base_url.rstrip("/")
            store_endpoint = "%s/api/%s/store/" % (base_url, project)
        else:
            store_endpoint = None
        self.base_url = base_url
        self.project = project
        self.public_key = public_key
        self.secret_key = secret_key
        self.options = options or {}
        self.store_endpoint = store_endpoint
        self._transport_cls = _importable(transport)
        self._transport: Any = None
        #: DSN query options for the client's delivery (``endpoint``, ``spool_path``, …)
        self.delivery_options: Dict[str, str] = {}

    def __str__(self) -> str:
        return str(self.base_url)

    def __repr__(self) -> str:
        return "<RemoteConfig %s project=%s>" % (self.base_url, self.project)

    def is_active(self) -> bool:
        return bool(self.base_url and self.project and self.public_key)

    @property
    def envelope_endpoint(self) -> Optional[str]:
        if not self.base_url:
            return None
        return "%s/api/%s/envelope/" % (self.base_url, self.project)

    def get_transport(self) -> Any:
        """The transport instance (built on first use, with the DSN's options); None if idle."""
        if not self.store_endpoint:
            return None
        if self._transport is None:
            with _transport_lock:  # threads sending their first events at once: build one
                if self._transport is None:
                    cls = self._transport_cls
                    if isinstance(cls, type) or not hasattr(cls, "send"):
                        self._transport = cls(**self.options)
                    else:
                        self._transport = cls  # an instance was given
        return self._transport

    def get_public_dsn(self) -> Optional[str]:
        """``//public_key@host[:port]/path/project`` (no scheme, no secret), for browsers."""
        if not self.is_active() or self.base_url is None:
            return None
        url = urlsplit(self.base_url)
        netloc = url.hostname or ""
        if ":" in netloc:
            netloc = "[%s]" % netloc
        if url.port:
            netloc += ":%s" % url.port
        return "//%s@%s%s/%s" % (self.public_key, netloc, url.path, self.project)

    @classmethod
    def from_string(
        cls, value: str, transport: Any = None, transport_registry: Any = None
    ) -> RemoteConfig:
        """Parse ``[transport+]scheme://public[:secret]@host[:port][/path]/project[?options]``.

        Raises :class:`raven.exceptions.InvalidDsn` naming the part that is wrong.
        """
        if not isinstance(value, str):
            raise InvalidDsn("Invalid Sentry DSN: expected a string, got %s" % type(value).__name__)
        transport = _importable(transport)
        value = value.strip()
        masked = _mask(value)
        try:
            url = urlsplit(value)
        except ValueError as e:
            raise InvalidDsn("Invalid Sentry DSN %s: %s" % (masked, e))
        scheme = url.scheme
        if not scheme or "://" not in value:
            raise InvalidDsn(
                "Invalid Sentry DSN %s: missing scheme (expected e.g. https://KEY@host/PROJECT)"
                % masked
            )
        if transport is None:
            if transport_registry is None:
                from raven.transport.registry import default_transports as transport_registry
            if not transport_registry.supported_scheme(scheme):
                raise InvalidDsn(
                    ERR_UNKNOWN_SCHEME.format(scheme)
                    + " (supported: %s)" % ", ".join(transport_registry.schemes)
                )
        if scheme not in ("http", "https"):
            warnings.warn(
                "Transport selection via DSN is deprecated. You should explicitly pass the "
                "transport class to Client() instead.",
                category=DeprecationWarning,
                stacklevel=3,
            )
        try:
            hostname = url.hostname
            port = url.port
        except ValueError as e:
            raise InvalidDsn("Invalid Sentry DSN %s: bad port (%s)" % (masked, e))
        if not hostname:
            raise InvalidDsn("Invalid Sentry DSN %s: missing host" % masked)
        if not url.username:
            raise InvalidDsn("Invalid Sentry DSN %s: missing public key (KEY@host)" % masked)
        path_bits = url.path.rsplit("/", 1)
        path = path_bits[0] if len(path_bits) > 1 else ""
        project = path_bits[-1]
        if not project:
            raise InvalidDsn(
                "Invalid Sentry DSN %s: missing project id (the last path part)" % masked
            )

        netloc = "[%s]" % hostname if ":" in hostname else hostname
        if port:
            netloc += ":%s" % port
        url_scheme = scheme.rsplit("+", 1)[-1]
        if url_scheme not in ("http", "https"):
            raise InvalidDsn(
                "Invalid Sentry DSN %s: scheme must end in http or https, got %r" % (masked, scheme)
            )
        base_url = "%s://%s%s" % (url_scheme, netloc, path)
        options = dict(parse_qsl(url.query or "", keep_blank_values=True))
        from raven._core.options import DELIVERY_KEYS

        delivery_options = {k: options.pop(k) for k in list(options) if k in DELIVERY_KEYS}

        if (
            transport is None
            and scheme in ("http", "https")
            and (
                transport_registry.get_transport_cls(scheme).__module__
                == "raven.transport.threaded"
            )
        ):
            transport = discover_default_transport()
        if transport is None:
            try:
                transport = transport_registry.get_transport_cls(scheme)
            except InvalidScheme as e:
                raise InvalidDsn(str(e))
            except ImportError as e:
                raise InvalidDsn(
                    "Invalid Sentry DSN %s: the %r transport needs a library that is not "
                    "installed (%s)" % (masked, scheme, e)
                )
        if isinstance(transport, type) and options:
            _check_transport_options(transport, options, value)
            if getattr(transport, "__module__", "").startswith("raven.transport."):
                # our transports only store their options: building one now turns a bad
                # value (?timeout=abc) into an error here instead of at the first send
                try:
                    transport(**options)
                except (TypeError, ValueError) as e:
                    raise InvalidDsn("Invalid Sentry DSN %s: %s" % (masked, e))
                except ImportError as e:
                    raise InvalidDsn(
                        "Invalid Sentry DSN %s: the %r transport needs a library that is not "
                        "installed (%s)" % (masked, scheme, e)
                    )

        config = cls(
            base_url=base_url,
            project=project,
            public_key=url.username,
            secret_key=url.password,
            options=options,
            transport=transport,
        )
        config.delivery_options = delivery_options
        return config
