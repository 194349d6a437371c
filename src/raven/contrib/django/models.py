"""The configured client (``client``, ``get_client()``) and the hooks ``initialize()`` installs.

``initialize()`` runs once, from ``RavenConfig.ready()``: it registers the Django
serializers, connects the request signals (unless ``DISABLE_SENTRY_INSTRUMENTATION``) and
builds the client from the settings, so a bad configuration fails at start-up.

Unlike raven 6.10, it does not edit ``settings.MIDDLEWARE``: errors are captured through
Django's ``got_request_exception`` signal with or without middleware. Listing
``SentryMiddleware`` adds the request to captures made outside a failing request's signal
(log records, ``captureMessage`` in views); a system check (``raven.I001``) points it out.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings

from django.conf import settings
from django.core.signals import got_request_exception, request_started, setting_changed

from raven.utils.conf import _SETTING_KEYS, convert_options
from raven.utils.imports import import_string

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Iterable, Optional, Set, Tuple

__all__ = [
    "ProxyClient",
    "SentryDjangoHandler",
    "client",
    "get_client",
    "get_installed_apps",
    "initialize",
    "install_middleware",
    "register_serializers",
    "sentry_exception_handler",
]

logger = logging.getLogger("sentry.errors.client")

DEFAULT_CLIENT = "raven.contrib.django.DjangoClient"


def get_installed_apps() -> Set[str]:
    """``settings.INSTALLED_APPS`` as a set (the default ``include_paths``)."""
    return set(settings.INSTALLED_APPS)


#: (the SENTRY_CLIENT value it was built for, the client)
_client: Tuple[Any, Any] = (None, None)
_client_lock = threading.RLock()


class ProxyClient:
    """Stands for the configured client at all times, built on first use.

    Attribute access, calls, comparisons and ``isinstance`` go to ``get_client()``, so the
    proxy can be imported at module level before settings are read, and follows a client
    rebuilt after the settings change (``override_settings`` in tests).
    """

    __slots__ = ()

    # pretend to be the client, for isinstance() and equality
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return get_client().__class__

    @property
    def __dict__(self) -> Any:  # type: ignore[override]
        return get_client().__dict__

    def __getattr__(self, name: str) -> Any:
        return getattr(get_client(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(get_client(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(get_client(), name)

    def __dir__(self) -> Iterable[str]:
        return dir(get_client())

    def __repr__(self) -> str:
        return repr(get_client())

    def __str__(self) -> str:
        return str(get_client())

    def __eq__(self, other: object) -> bool:
        return bool(get_client() == other)

    def __ne__(self, other: object) -> bool:
        return bool(get_client() != other)

    def __hash__(self) -> int:
        return hash(get_client())

    def __bool__(self) -> bool:
        return bool(get_client())


client: Any = ProxyClient()


def get_client(client: Any = None, reset: bool = False) -> Any:
    """The client configured by the settings, built once (``reset=True`` builds it again).

    ``client`` names another client class (dotted path or class); that client is built from
    the same settings and returned without being cached. The class comes from
    ``SENTRY_CLIENT`` (default ``raven.contrib.django.DjangoClient``); options from
    ``SENTRY_CONFIG``/``RAVEN_CONFIG`` and the ``SENTRY_<OPTION>`` settings, with
    ``include_paths`` defaulting to ``INSTALLED_APPS``.

    A ``SENTRY_CLIENT`` that cannot be imported is logged once and replaced by
    ``DjangoClient`` (raven 6.10 logged it again on every use of the proxy).
    """
    global _client
    temporary = client is not None
    name = client if temporary else getattr(settings, "SENTRY_CLIENT", DEFAULT_CLIENT)
    if not temporary and not reset and _client[0] == name and _client[1] is not None:
        return _client[1]
    with _client_lock:
        if not temporary and not reset and _client[0] == name and _client[1] is not None:
            return _client[1]
        instance = _build_client(name)
        if not temporary:
            _client = (name, instance)
        return instance


def _build_client(name: Any) -> Any:
    options = convert_options(settings, defaults={"include_paths": get_installed_apps()})
    try:
        cls = import_string(name) if isinstance(name, str) else name
    except ImportError:
        logger.exception("Failed to import client: %s (using %s)", name, DEFAULT_CLIENT)
        cls = import_string(DEFAULT_CLIENT)
    return cls(**options)


#: settings the client is built from: a change builds it again
_CLIENT_SETTINGS = frozenset(
    ["SENTRY_CLIENT", "SENTRY_CONFIG", "RAVEN_CONFIG", "SENTRY_TRANSPORT", "INSTALLED_APPS"]
    + ["SENTRY_%s" % key.upper() for key in _SETTING_KEYS]
)


def _reset_client(setting: Any = None, **kwargs: Any) -> None:
    """Build the client again after its settings change (``override_settings`` in tests)."""
    global _client
    if setting in _CLIENT_SETTINGS:
        with _client_lock:
            _client = (None, None)


setting_changed.connect(_reset_client, dispatch_uid="raven.contrib.django.reset_client")


def sentry_exception_handler(request: Any = None, **kwargs: Any) -> None:
    """Capture the exception being handled, with ``request`` (``got_request_exception``)."""
    _capture_handled_exception(client, request)


def _capture_handled_exception(target: Any, request: Any) -> None:
    try:
        target.captureException(exc_info=sys.exc_info(), request=request)
    except Exception as exc:
        if getattr(target, "raise_send_errors", False):
            raise
        try:
            logger.exception("Unable to process log entry: %s", exc)
        except Exception as exc2:
            warnings.warn("Unable to process log entry: %s" % (exc2,), stacklevel=2)


class SentryDjangoHandler:
    """Connects the client to Django's request signals (and to Celery when it is installed).

    - ``request_started``: the thread's context starts empty (no tags, user, breadcrumbs or
      route left by an earlier request);
    - ``got_request_exception``: the exception is captured with the request.
    """

    def __init__(self, client: Any = client) -> None:
        self.client = client
        try:
            import celery
        except ImportError:
            self.has_celery = False
        else:
            self.has_celery = tuple(getattr(celery, "VERSION", ())[:2]) >= (2, 5)
        self.celery_handler: Any = None

    def install_celery(self) -> None:
        from raven.contrib.celery import SentryCeleryHandler

        ignore_expected = getattr(settings, "SENTRY_CELERY_IGNORE_EXPECTED", False)
        handler = SentryCeleryHandler(self.client, ignore_expected=ignore_expected)
        handler.install()
        self.celery_handler = handler

    def install(self) -> None:
        request_started.connect(self.before_request, weak=False)
        got_request_exception.connect(self.exception_handler, weak=False)
        if self.has_celery:
            try:
                self.install_celery()
            except ImportError:
                logger.info("raven.contrib.celery is not available; Celery tasks are not hooked")
            except Exception:
                logger.exception("Failed to install Celery error handler")

    def uninstall(self) -> None:
        request_started.disconnect(self.before_request)
        got_request_exception.disconnect(self.exception_handler)
        if self.celery_handler is not None:
            self.celery_handler.uninstall()
            self.celery_handler = None

    def exception_handler(self, request: Any = None, **kwargs: Any) -> None:
        _capture_handled_exception(self.client, request)

    def before_request(self, *args: Any, **kwargs: Any) -> None:
        try:
            context = self.client.context
            context.clear(deactivate=False)
            context.activate()
            self.client.transaction.clear()
        except Exception:
            if getattr(self.client, "raise_send_errors", False):
                raise
            logger.exception("Failed to start a fresh context for the request")


def install_middleware(middleware_name: str, lookup_names: Optional[Iterable[str]] = None) -> None:
    """Put ``middleware_name`` first in ``MIDDLEWARE`` (or ``MIDDLEWARE_CLASSES``) unless present.

    ``initialize()`` no longer calls this (raven 6.10 did, silently); call it from settings
    code if you want that behaviour. ``lookup_names``: names that count as already present.
    """
    names = set(lookup_names) if lookup_names is not None else {middleware_name}
    attr = (
        "MIDDLEWARE" if getattr(settings, "MIDDLEWARE", None) is not None else "MIDDLEWARE_CLASSES"
    )
    middleware: Any = getattr(settings, attr, ()) or ()
    if names.isdisjoint(middleware):
        setattr(settings, attr, type(middleware)((middleware_name,)) + middleware)


def register_serializers() -> None:
    """Teach the serializer about lazy strings, querysets and requests."""
    import raven.contrib.django.serializers  # noqa: F401  (registers on import)


_initialized = False
_initialize_lock = threading.Lock()
#: the handler ``initialize()`` installed, for ``_uninstall()`` in tests
_installed_handler: Optional[SentryDjangoHandler] = None


def initialize() -> None:
    """Register serializers, connect the signals and build the client; once per process.

    A client that cannot be built (an invalid DSN, a bad option) raises here, at start-up,
    and the next call tries again.
    """
    global _initialized, _installed_handler
    with _initialize_lock:
        if _initialized:
            return
        _initialized = True
        handler = None
        try:
            register_serializers()
            get_client()  # built now: configuration errors surface at start-up
            if not getattr(settings, "DISABLE_SENTRY_INSTRUMENTATION", False):
                handler = SentryDjangoHandler()
                handler.install()
        except BaseException:
            _initialized = False
            if handler is not None:
                handler.uninstall()
            raise
        _installed_handler = handler


def _uninstall() -> None:
    """Undo ``initialize()`` (for tests)."""
    global _initialized, _installed_handler
    with _initialize_lock:
        if _installed_handler is not None:
            _installed_handler.uninstall()
            _installed_handler = None
        _initialized = False


# raven 6.10 names importable from here
__all__ += ["convert_options", "import_string", "logger"]
