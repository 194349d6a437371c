"""``raven.contrib.django.templatetags.raven`` under the ``raven_compat`` app (the same library)."""

from __future__ import annotations

from raven.contrib.django.templatetags.raven import register, sentry_public_dsn

__all__ = ["register", "sentry_public_dsn"]
