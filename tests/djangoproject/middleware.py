"""Test middleware: ``X-Test-User: <n>`` makes the request's user ``user<n>`` (no database)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.utils.deprecation import MiddlewareMixin


class HeaderUserMiddleware(MiddlewareMixin):
    def process_request(self, request: Any) -> None:
        number = request.META.get("HTTP_X_TEST_USER")
        if number:
            request.user = User(
                pk=int(number), username="user%s" % number, email="user%s@example.com" % number
            )
