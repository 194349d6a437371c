"""``{% load raven %}{% sentry_public_dsn %}``: the DSN a browser-side Sentry client may use.

The public DSN carries no secret key. ``{% sentry_public_dsn 'https' %}`` forces the scheme;
without one the DSN is protocol-relative (``//key@host/1``), as raven 6.10 gave it.
"""

from __future__ import annotations

import logging

try:
    from django import template
except ImportError as exc:  # pragma: no cover - exercised only without Django installed
    raise ImportError(
        "raven.contrib.django needs Django (2.2 or later): pip install 'raven[django]' (%s)"
        % (exc,)
    ) from exc

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Optional

__all__ = ["register", "sentry_public_dsn"]

register = template.Library()

_error_logger = logging.getLogger("sentry.errors")


@register.simple_tag
def sentry_public_dsn(scheme: Optional[str] = None) -> str:
    """The configured client's public DSN, or ``''`` (no DSN, or the client failed).

    A page must render even when raven is misconfigured, so failures are logged on
    ``sentry.errors`` instead of raised.
    """
    from raven.contrib.django.models import client

    try:
        return client.get_public_dsn(scheme) or ""
    except Exception:
        _error_logger.error("raven: could not get the public DSN for a template", exc_info=True)
        return ""
