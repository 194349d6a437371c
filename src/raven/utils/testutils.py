"""Test helpers for code that reports through raven: a client that keeps events in memory."""

from __future__ import annotations

import unittest
from collections.abc import Mapping

from raven.base import Client

__all__ = ["BaseTestCase", "InMemoryClient", "TestCase"]


class BaseTestCase(unittest.TestCase):
    """``unittest.TestCase`` plus the assertion aliases raven-era suites still call.

    Python 3.12 removed ``assertEquals`` and friends (3.11 warns on each call). Defining them
    here, silently, lets suites written against raven 6.10 run unchanged.
    """

    assertEquals = unittest.TestCase.assertEqual
    assertNotEquals = unittest.TestCase.assertNotEqual
    assertAlmostEquals = unittest.TestCase.assertAlmostEqual
    assertNotAlmostEquals = unittest.TestCase.assertNotAlmostEqual
    assert_ = unittest.TestCase.assertTrue
    failUnless = unittest.TestCase.assertTrue
    failIf = unittest.TestCase.assertFalse
    failUnlessEqual = unittest.TestCase.assertEqual
    failIfEqual = unittest.TestCase.assertNotEqual
    failUnlessRaises = unittest.TestCase.assertRaises
    assertRegexpMatches = unittest.TestCase.assertRegex
    assertNotRegexpMatches = unittest.TestCase.assertNotRegex
    assertRaisesRegexp = unittest.TestCase.assertRaisesRegex
    assertItemsEqual = unittest.TestCase.assertCountEqual

    def assertDictContainsSubset(
        self, subset: Mapping[Any, Any], dictionary: Mapping[Any, Any], msg: Any = None
    ) -> None:
        """Check that every key of ``subset`` is in ``dictionary`` with an equal value."""
        missing = [key for key in subset if key not in dictionary]
        different = [key for key in subset if key in dictionary and subset[key] != dictionary[key]]
        if missing or different:
            detail = f"missing keys {missing!r}, different values for {different!r}"
            self.fail(self._formatMessage(msg, detail))


class _WithoutExam:
    """Stands in for ``exam.Exam`` when the exam package is not installed."""


TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any

if TYPE_CHECKING:
    _ExamMixin = _WithoutExam
else:
    try:
        from exam import Exam as _ExamMixin
    except ImportError:
        _ExamMixin = _WithoutExam


class TestCase(_ExamMixin, BaseTestCase):
    """The base class raven 6.10's own tests used.

    When the ``exam`` package is installed it is mixed in, as in 6.10, so suites that use its
    ``@fixture`` and ``@before`` decorators keep working; raven itself does not need it.
    """


class InMemoryClient(Client):
    """A client that is always enabled and appends each event to ``events`` instead of sending.

    Assert on ``client.events[-1]['message']`` and the like; no DSN or network is needed.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.events: list[dict[str, Any]] = []
        super().__init__(**kwargs)

    def is_enabled(self) -> bool:
        return True

    def send(self, **kwargs: Any) -> None:  # type: ignore[override]
        self.events.append(kwargs)
