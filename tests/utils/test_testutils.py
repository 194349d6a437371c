"""raven.utils.testutils: the in-memory client and TestCase that raven-era suites import."""

from __future__ import annotations

import importlib.util
import unittest
import warnings

import pytest

if importlib.util.find_spec("raven.base") is None:  # pragma: no cover - only while base is written
    pytest.skip("raven.base does not exist yet", allow_module_level=True)

from raven.utils import testutils


def test_test_case_classes_are_unittest_test_cases() -> None:
    assert issubclass(testutils.BaseTestCase, unittest.TestCase)
    assert issubclass(testutils.TestCase, testutils.BaseTestCase)


def test_removed_unittest_aliases_work_without_deprecation_warnings() -> None:
    class Example(testutils.TestCase):  # type: ignore[misc,name-defined]
        def runTest(self) -> None:
            self.assertEquals(1, 1)  # noqa: UP005 - the alias is the point
            self.assertNotEquals(1, 2)  # noqa: UP005
            self.assertItemsEqual([1, 2], [2, 1])
            self.assertRegexpMatches("abc", "b")  # noqa: UP005
            self.assertDictContainsSubset({"a": 1}, {"a": 1, "b": 2})
            with self.assertRaises(AssertionError):
                self.assertDictContainsSubset({"a": 2}, {"a": 1})

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = unittest.TestResult()
        Example().run(result)
    assert result.wasSuccessful(), result.failures + result.errors


def test_in_memory_client_is_enabled_without_a_dsn_and_keeps_events() -> None:
    client = testutils.InMemoryClient(install_sys_hook=False, install_logging_hook=False)
    assert client.is_enabled()
    assert client.events == []

    client.captureMessage("hello")

    assert len(client.events) == 1
    assert client.events[0]["message"] == "hello"


def test_in_memory_client_send_appends_its_keyword_arguments() -> None:
    client = testutils.InMemoryClient(install_sys_hook=False, install_logging_hook=False)
    client.send(message="x", level=40)
    assert client.events == [{"message": "x", "level": 40}]
