"""Django is set up once per process (``djangoproject.testing.setup``); events stay in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from djangoproject import testing

testing.setup()

from raven.contrib.django.models import client, get_client  # noqa: E402

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    # an old venv's six registers an importer that warns on every import Django makes late
    mark = pytest.mark.filterwarnings("ignore:_SixMetaPathImporter:ImportWarning")
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(mark)


@pytest.fixture(autouse=True)
def _fresh_client_state() -> Iterator[None]:
    """Each test starts with no events, an empty context and no transaction."""
    get_client()  # built from the project settings (an override may have reset it)
    client.events.clear()
    client.context.clear(deactivate=False)
    client.transaction.clear()
    yield
    events = getattr(client, "events", None)
    if events is not None:
        events.clear()
    client.context.clear(deactivate=False)
    client.transaction.clear()


@pytest.fixture
def events() -> List[Dict[str, Any]]:
    """What the configured (in-memory) client captured during the test."""
    return client.events  # type: ignore[no-any-return]
