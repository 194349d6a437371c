"""A URLconf with raven's browser relay mounted the documented way (``include``)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("sentry/", include("raven.contrib.django.urls"))]
