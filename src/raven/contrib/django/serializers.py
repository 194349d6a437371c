"""Serializers for Django values in events: lazy strings, querysets and requests.

They are registered by :func:`raven.contrib.django.models.register_serializers` (which
``initialize()`` calls); importing this module registers them too, as in raven 6.10.
"""

from __future__ import annotations

from django.db.models.query import QuerySet
from django.http import HttpRequest
from django.utils.functional import Promise

from raven.utils.serializer import Serializer, register

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any

__all__ = ["HttpRequestSerializer", "PromiseSerializer", "QuerySetSerializer"]


class PromiseSerializer(Serializer):
    """A lazy value (``gettext_lazy('...')``, ``reverse_lazy``) is reported as its value."""

    types = (Promise,)

    def serialize(self, value: Any, **kwargs: Any) -> Any:
        cast = getattr(value, "_proxy____cast", None)  # lazy()'s proxy, every Django since 1.x
        if callable(cast):
            return self.recurse(cast(), **kwargs)
        return self.recurse(str(value), **kwargs)


class QuerySetSerializer(Serializer):
    """A queryset is named, never evaluated: its repr would run the query (and its length more)."""

    types = (QuerySet,)

    def serialize(self, value: Any, **kwargs: Any) -> str:
        name = type(value).__name__
        if value.model:
            return "<%s: model=%s>" % (name, value.model.__name__)
        return "<%s: (Unbound)>" % (name,)


class HttpRequestSerializer(Serializer):
    """A request (in ``extra``, e.g. a log record's ``request``) is named by method and path.

    The request itself goes into the event's ``request`` interface, where it is scrubbed; the
    query string is left out here, because ``extra`` values are not.
    """

    types = (HttpRequest,)

    def serialize(self, value: Any, **kwargs: Any) -> str:
        return "<%s: %s %r>" % (
            type(value).__name__,
            getattr(value, "method", None),
            getattr(value, "path", ""),
        )


register(PromiseSerializer)
register(QuerySetSerializer)
register(HttpRequestSerializer)
