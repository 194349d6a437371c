"""A Django client that keeps its events in memory (``client.events``), for unit tests."""

from __future__ import annotations

from typing import Any, Dict, List

from raven.contrib.django.client import DjangoClient


class InMemoryDjangoClient(DjangoClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.events: List[Dict[str, Any]] = []
        super().__init__(*args, **kwargs)

    def is_enabled(self) -> bool:
        return True

    def send(self, **kwargs: Any) -> None:  # type: ignore[override]
        self.events.append(kwargs)
