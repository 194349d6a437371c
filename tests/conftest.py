"""Fixtures shared by every test directory: real servers on 127.0.0.1, started once per session."""

from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

# tests/servers is a plain directory of helpers; make it importable whatever pytest's import mode.
_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from servers.bugsink import Bugsink, BugsinkInstallError  # noqa: E402


@pytest.fixture(scope="session")
def bugsink() -> Iterator[Bugsink]:
    """A real Bugsink on 127.0.0.1 for the whole session (``.dsn``, ``.events()``, ``.issues()``).

    Installed on first use (see tests/servers/bugsink.py). Where it cannot be installed (no
    network), e2e tests are skipped, except in CI (``CI`` set), where that is a failure.
    Failing to start an installed server is always a failure.
    """
    server = Bugsink()
    try:
        server.start()
    except BugsinkInstallError as exc:
        if os.environ.get("CI"):
            pytest.fail("Bugsink could not be installed, and CI must run the e2e tests:\n%s" % exc,
                        pytrace=False)
        pytest.skip("Bugsink could not be installed (no network to the package index?): %s"
                    % str(exc).splitlines()[0])
    try:
        yield server
    finally:
        server.stop()
