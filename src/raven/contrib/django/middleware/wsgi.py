"""WSGI middleware for Django: :class:`raven.middleware.Sentry` with the configured client.

application = Sentry(get_wsgi_application())
"""

from __future__ import annotations

from raven.middleware import Sentry as _WSGISentry
from raven.utils import memoize

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Optional

__all__ = ["Sentry", "memoize"]


class Sentry(_WSGISentry):
    """Reports what escapes the Django application, through ``raven.contrib.django.models.client``.

    The client is looked up on first use, so the wrapper can be built in ``wsgi.py`` before
    the settings are read.
    """

    def __init__(
        self, application: Callable[..., Any], max_body_size: Optional[int] = None
    ) -> None:
        super().__init__(application, client=_LAZY, max_body_size=max_body_size)
        del self.client

    def _get_client(self) -> Any:
        from raven.contrib.django.models import client

        return client

    client = memoize(_get_client)


_LAZY: Any = object()
