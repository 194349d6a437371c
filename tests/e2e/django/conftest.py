"""Django e2e tests: the test project, with the real DjangoClient pointed at the Bugsink server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, List

import pytest

from djangoproject import testing

testing.setup()

from django.test import override_settings  # noqa: E402

from raven.transport.http import HTTPTransport  # noqa: E402

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    # an old venv's six registers an importer that warns on every late import (urllib3's too)
    mark = pytest.mark.filterwarnings("ignore:_SixMetaPathImporter:ImportWarning")
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(mark)


@pytest.fixture
def reported_to(bugsink: Any) -> Iterator[Any]:
    """The project's errors go to Bugsink through a real ``DjangoClient`` (synchronous HTTP).

    Overriding the settings builds the client again, as a settings change in production would;
    leaving restores the in-memory client of the unit tests.
    """
    with override_settings(
        SENTRY_CLIENT="raven.contrib.django.DjangoClient",
        RAVEN_CONFIG={
            "dsn": bugsink.dsn,
            "transport": HTTPTransport,
            "install_sys_hook": False,
            "release": "shop@1.0",
        },
    ):
        from raven.contrib.django.models import get_client

        client = get_client()
        try:
            yield bugsink
        finally:
            client.close(5)
