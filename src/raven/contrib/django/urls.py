"""URLs of the browser relay (:func:`raven.contrib.django.views.report`), for ``include()``.

    urlpatterns = [path("sentry/", include("raven.contrib.django.urls"))]

gives ``sentry/api/<project_id>/store/`` (named ``raven-report``), the endpoint a browser
client posts to when its DSN points at this site, and ``sentry/report/``.
"""

from __future__ import annotations

try:
    from django.urls import re_path
except ImportError as exc:  # pragma: no cover - exercised only without Django installed
    raise ImportError(
        "raven.contrib.django needs Django (2.2 or later): pip install 'raven[django]' (%s)"
        % (exc,)
    ) from exc

from raven.contrib.django.views import report

__all__ = ["urlpatterns"]

# re_path, not django.conf.urls.url (removed in Django 4.0), with 6.10's patterns unchanged
urlpatterns = [
    re_path(r"^api/(?P<project_id>[\w_-]+)/store/$", report, name="raven-report"),
    re_path(r"^report/", report),
]
