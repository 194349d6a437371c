"""``raven.contrib.django.handlers`` under the ``raven_compat`` app (the same objects)."""

from __future__ import annotations

from raven.contrib.django.handlers import BaseSentryHandler, SentryHandler, memoize

__all__ = ["BaseSentryHandler", "SentryHandler", "memoize"]
