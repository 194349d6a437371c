"""Fixtures shared by every test directory: real servers on 127.0.0.1, started once per session."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

import pytest

# tests/servers is a plain directory of helpers; make it importable whatever pytest's import mode.
_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from servers.bugsink import Bugsink, BugsinkInstallError  # noqa: E402
from servers.redis import RedisNotInstalled, RedisServer  # noqa: E402


@pytest.fixture(autouse=True)
def _stop_delivery_workers() -> Iterator[None]:
    """Stop the delivery threads a test started, so none outlives it (or waits at exit)."""
    yield
    from raven.transport import worker

    for live in list(worker._live_workers):
        live.close(0)


@pytest.fixture(scope="session")
def bugsink(request: pytest.FixtureRequest) -> Iterator[Bugsink]:
    """A real Bugsink on 127.0.0.1 for the whole session (``.dsn``, ``.events()``, ``.issues()``).

    Installed on first use (see tests/servers/bugsink.py). Where it cannot be installed (no
    network), e2e tests are skipped, except in CI (``CI`` set), where that is a failure.
    Failing to start an installed server is always a failure.
    """
    # strict: the server drops events that fail its event-schema check, so every e2e test
    # also proves that what we send is valid, not merely accepted
    server = Bugsink(validate="strict")
    # let the progress lines of a first install/migration through pytest's capture
    capture = request.config.pluginmanager.getplugin("capturemanager")
    uncaptured = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    try:
        with uncaptured:
            writer = getattr(reporter, "_tw", None)
            if writer is not None and writer.width_of_current_line:
                writer.line()  # not in the middle of a line of progress dots
            server.start()
    except BugsinkInstallError as exc:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(
                "Bugsink could not be installed, and CI must run the e2e tests:\n%s" % exc,
                pytrace=False,
            )
        pytest.skip(
            "Bugsink could not be installed (no network to the package index?): %s"
            % str(exc).splitlines()[0]
        )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on 127.0.0.1 for the whole session (``.url`` is a broker URL).

    Where the binary is missing, the tests that need it are skipped, except in CI (``CI`` set),
    where that is a failure (``.ci/run`` installs it). Failing to start it is always a failure.
    """
    server = RedisServer()
    try:
        server.start()
    except RedisNotInstalled as exc:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail("%s, and CI must run the tests that need it" % exc, pytrace=False)
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()
