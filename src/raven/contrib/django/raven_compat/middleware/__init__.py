"""``raven.contrib.django.middleware`` under the ``raven_compat`` app (the same classes)."""

from __future__ import annotations

from raven.contrib.django.middleware import (
    DjangoRestFrameworkCompatMiddleware,
    MiddlewareMixin,
    Sentry404CatchMiddleware,
    SentryLogMiddleware,
    SentryMiddleware,
    SentryResponseErrorIdMiddleware,
    is_ignorable_404,
)

__all__ = [
    "DjangoRestFrameworkCompatMiddleware",
    "MiddlewareMixin",
    "Sentry404CatchMiddleware",
    "SentryLogMiddleware",
    "SentryMiddleware",
    "SentryResponseErrorIdMiddleware",
    "is_ignorable_404",
]
