"""Fixtures for the unit tests: in-memory clients, and isolation of raven's process-wide state.

Two things here go beyond fixtures:

* raven never raises into the host application; it logs what it swallowed on ``sentry.errors``.
  A test that makes raven log an error there fails (unless marked ``logs_sentry_errors``), so a
  bug hidden by that funnel still fails the test that provoked it.
* raven keeps some state per process (the first client, the installed excepthooks, the logging
  breadcrumb rules, the active contexts of this thread). Each test gets it back as it found it.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, Callable, Iterator, List

import pytest

import raven.base
import raven.context
from raven import breadcrumbs
from raven.utils.testutils import InMemoryClient

MakeClient = Callable[..., InMemoryClient]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "logs_sentry_errors: the test expects raven to log errors on the sentry.errors logger",
    )


# -- the internal-error funnel --------------------------------------------------------------


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    handler = _ErrorRecords()
    logger = logging.getLogger("sentry.errors")
    logger.addHandler(handler)
    try:
        outcome = yield
    finally:
        logger.removeHandler(handler)
    if (
        handler.records
        and outcome.excinfo is None
        and item.get_closest_marker("logs_sentry_errors") is None
    ):
        text = "\n".join(logging.Formatter().format(r) for r in handler.records)
        outcome.force_exception(
            AssertionError("raven logged internal errors on sentry.errors:\n" + text)
        )


@pytest.fixture
def sentry_errors() -> Iterator[List[logging.LogRecord]]:
    """The records raven logs on ``sentry.errors`` during the test (any level)."""
    records: List[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    logger = logging.getLogger("sentry.errors")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


# -- process-wide state -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _restore_raven_globals() -> Iterator[None]:
    hooks = (
        sys.excepthook,
        threading.excepthook,
        raven.base.__excepthook__,
        raven.base.__threading_excepthook__,
    )
    first_client = raven.base.Raven
    logger_handlers = dict(breadcrumbs.special_logger_handlers)
    logging_handlers = list(breadcrumbs.special_logging_handlers)
    # which contexts are active is per thread/task; a test that deactivates one must not change
    # what the next test's clients see (None means "every live client's context")
    active_token = raven.context._active.set(None)
    try:
        yield
    finally:
        raven.context._active.reset(active_token)
        (
            sys.excepthook,
            threading.excepthook,
            raven.base.__excepthook__,
            raven.base.__threading_excepthook__,
        ) = hooks
        raven.base.Raven = first_client
        breadcrumbs.special_logger_handlers.clear()
        breadcrumbs.special_logger_handlers.update(logger_handlers)
        breadcrumbs.special_logging_handlers[:] = logging_handlers
        breadcrumbs._rules.clear()


@pytest.fixture(autouse=True)
def _no_dsn_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SENTRY_DSN",
        "SENTRY_RELEASE",
        "SENTRY_ENVIRONMENT",
        "SENTRY_NAME",
        "HEROKU_SLUG_COMMIT",
    ):
        monkeypatch.delenv(name, raising=False)


# -- clients ----------------------------------------------------------------------------------


@pytest.fixture
def make_client() -> MakeClient:
    """Build an :class:`InMemoryClient`; no sys hook and no library hooks unless asked for."""

    def make(**options: Any) -> InMemoryClient:
        options.setdefault("install_sys_hook", False)
        options.setdefault("hook_libraries", [])
        return InMemoryClient(**options)

    return make


@pytest.fixture
def client(make_client: MakeClient) -> InMemoryClient:
    return make_client()
