"""``raven.contrib.django.models`` under the ``raven_compat`` app (the same objects)."""

from __future__ import annotations

from raven.contrib.django.models import (
    ProxyClient,
    SentryDjangoHandler,
    client,
    convert_options,
    get_client,
    get_installed_apps,
    import_string,
    initialize,
    install_middleware,
    logger,
    register_serializers,
    sentry_exception_handler,
)

__all__ = [
    "ProxyClient",
    "SentryDjangoHandler",
    "client",
    "convert_options",
    "get_client",
    "get_installed_apps",
    "import_string",
    "initialize",
    "install_middleware",
    "logger",
    "register_serializers",
    "sentry_exception_handler",
]
