"""``SentryHandler`` for Django's ``LOGGING``: reports through the configured client.

LOGGING = {..., 'handlers': {'sentry': {
    'level': 'ERROR', 'class': 'raven.contrib.django.handlers.SentryHandler',
    'tags': {'custom-tag': 'x'}}}}
"""

from __future__ import annotations

import logging

from raven.handlers.logging import SentryHandler as BaseSentryHandler
from raven.utils import memoize

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any

__all__ = ["BaseSentryHandler", "SentryHandler", "memoize"]


class SentryHandler(BaseSentryHandler):
    """A logging handler bound to ``raven.contrib.django.models.client``.

    The client is looked up on first use: ``LOGGING`` is configured before the apps are
    loaded. A record's ``request`` attribute (Django's ``django.request`` and
    ``django.security`` loggers set one) becomes the event's request and user.

    Args:
        level: the handler's level (default ``NOTSET``).
        tags: tags added to every event of this handler.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.tags = kwargs.pop("tags", None)
        logging.Handler.__init__(self, level=kwargs.get("level", logging.NOTSET))

    def _get_client(self) -> Any:
        from raven.contrib.django.models import client

        return client

    client = memoize(_get_client)

    def _emit(self, record: logging.LogRecord, **kwargs: Any) -> Any:
        request = getattr(record, "request", None)
        if request is not None:
            kwargs["request"] = request
        return super()._emit(record, **kwargs)
