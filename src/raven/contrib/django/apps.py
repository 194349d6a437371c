"""The Django app (``'raven.contrib.django'`` in ``INSTALLED_APPS``): sets raven up when ready."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core import checks

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, List, Optional, Sequence

__all__ = ["RavenConfig"]

_SENTRY_MIDDLEWARE = (
    "raven.contrib.django.middleware.SentryMiddleware",
    "raven.contrib.django.middleware.SentryLogMiddleware",
    "raven.contrib.django.raven_compat.middleware.SentryMiddleware",
    "raven.contrib.django.raven_compat.middleware.SentryLogMiddleware",
)


class RavenConfig(AppConfig):
    """Calls :func:`raven.contrib.django.models.initialize` once the app registry is ready."""

    name = "raven.contrib.django"
    label = "raven_contrib_django"
    verbose_name = "Raven"

    def ready(self) -> None:
        from raven.contrib.django.models import initialize

        initialize()
        checks.register(check_sentry_middleware)


def check_sentry_middleware(
    app_configs: Optional[Sequence[Any]] = None, **kwargs: Any
) -> List[checks.CheckMessage]:
    """``raven.I001`` when ``SentryMiddleware`` is not in ``MIDDLEWARE``.

    raven 6.10 inserted it into the settings by itself; raven no longer edits settings, so the
    check says what is missing without it. Silence it with ``SILENCED_SYSTEM_CHECKS``.
    """
    middleware = getattr(settings, "MIDDLEWARE", None) or ()
    if any(name in _SENTRY_MIDDLEWARE for name in middleware):
        return []
    if getattr(settings, "DISABLE_SENTRY_INSTRUMENTATION", False):
        return []
    return [
        checks.Info(
            "SentryMiddleware is not in MIDDLEWARE. Request errors are still reported, but log "
            "records and captureMessage() calls made during a request carry no request or "
            "route (raven 6.10 added it to the settings silently; raven no longer does).",
            hint="Add 'raven.contrib.django.middleware.SentryMiddleware' first in MIDDLEWARE.",
            id="raven.I001",
        )
    ]
