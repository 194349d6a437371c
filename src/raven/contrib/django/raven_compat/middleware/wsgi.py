"""``raven.contrib.django.middleware.wsgi`` under the ``raven_compat`` app (the same objects)."""

from __future__ import annotations

from raven.contrib.django.middleware.wsgi import Sentry, memoize

__all__ = ["Sentry", "memoize"]
