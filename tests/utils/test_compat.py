"""raven.utils.compat: the six-style names old code imports still resolve on Python 3."""

from __future__ import annotations

import http.client
import io
import queue
import sys
import types
import urllib.error
import urllib.parse
import urllib.request
import warnings

import pytest

from raven.utils import compat


def test_python_version_flags_say_python_3() -> None:
    assert compat.PY2 is False
    assert compat.PY3 is True


def test_type_tuples_work_with_isinstance() -> None:
    assert isinstance("text", compat.string_types)
    assert not isinstance(b"bytes", compat.string_types)
    assert isinstance(3, compat.integer_types)
    assert isinstance(int, compat.class_types)
    assert compat.text_type is str
    assert compat.binary_type is bytes


def test_dict_iterators_return_iterators_over_the_views() -> None:
    d = {"a": 1, "b": 2}
    assert list(compat.iteritems(d)) == [("a", 1), ("b", 2)]
    assert list(compat.iterkeys(d)) == ["a", "b"]
    assert list(compat.itervalues(d)) == [1, 2]
    assert next(compat.iteritems(d)) == ("a", 1)


def test_iterlists_calls_the_multidicts_lists_method() -> None:
    class MultiDict(dict):  # type: ignore[type-arg]
        def lists(self) -> list[tuple[str, list[int]]]:
            return [(k, [v]) for k, v in self.items()]

    assert list(compat.iterlists(MultiDict(a=1))) == [("a", [1])]


def test_literal_helpers_b_and_u() -> None:
    assert compat.b("caf\xe9") == b"caf\xe9"
    assert compat.u("café") == "café"


def test_io_and_builtins_aliases() -> None:
    assert compat.StringIO is io.StringIO
    assert compat.BytesIO is io.BytesIO
    assert compat.next is next
    assert compat.advance_iterator is next
    assert compat.callable is callable
    namespace: dict[str, object] = {}
    compat.exec_("x = 1 + 1", namespace)
    assert namespace["x"] == 2


def test_iterator_base_is_a_plain_object_base() -> None:
    class Countdown(compat.Iterator):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self.n = 2

        def __iter__(self) -> Countdown:
            return self

        def __next__(self) -> int:
            if not self.n:
                raise StopIteration
            self.n -= 1
            return self.n

    assert list(Countdown()) == [1, 0]


def test_stdlib_module_aliases() -> None:
    assert compat.httplib is http.client
    assert compat.urllib2 is urllib.request
    assert compat.urlparse is urllib.parse
    assert compat.HTTPError is urllib.error.HTTPError
    assert compat.Queue is queue.Queue
    assert compat.urllib_quote("/a b") == "/a%20b"


def test_raise_from_chains_the_cause() -> None:
    cause = KeyError("k")
    with pytest.raises(ValueError) as info:
        compat.raise_from(ValueError("v"), cause)
    assert info.value.__cause__ is cause


def test_reraise_keeps_the_original_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        tp, value, tb = sys.exc_info()

    with pytest.raises(ValueError, match="boom") as info:
        compat.reraise(tp, value, tb)
    assert info.value is value
    assert info.tb.tb_next is not None  # the original frames are still attached


def test_reraise_instantiates_the_type_when_value_is_none() -> None:
    with pytest.raises(KeyError):
        compat.reraise(KeyError, None)


def test_get_code_returns_the_code_object_or_a_type_error() -> None:
    def f() -> None:
        pass

    assert compat.get_code(f) is f.__code__
    with pytest.raises(TypeError, match="int"):
        compat.get_code(3)


def _fake_uwsgi(monkeypatch: pytest.MonkeyPatch, opt: dict[object, object]) -> None:
    module = types.ModuleType("uwsgi")
    module.opt = opt  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uwsgi", module)


def test_check_threads_is_silent_outside_uwsgi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uwsgi", None)  # makes `import uwsgi` fail
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.check_threads()


def test_check_threads_warns_under_uwsgi_without_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_uwsgi(monkeypatch, {"master": True})
    with pytest.warns(RuntimeWarning, match="enable-threads"):
        compat.check_threads()


@pytest.mark.parametrize("value", [b"0", "false", "off", b"no", False])
def test_check_threads_warns_when_threads_are_explicitly_off(
    monkeypatch: pytest.MonkeyPatch, value: object
) -> None:
    _fake_uwsgi(monkeypatch, {"enable-threads": value})
    with pytest.warns(RuntimeWarning):
        compat.check_threads()


@pytest.mark.parametrize(
    "opt",
    [{"enable-threads": True}, {"enable-threads": b"1"}, {"threads": b"4"}, {b"threads": b"2"}],
)
def test_check_threads_is_silent_when_uwsgi_has_threads(
    monkeypatch: pytest.MonkeyPatch, opt: dict[object, object]
) -> None:
    _fake_uwsgi(monkeypatch, opt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.check_threads()


def test_names_old_tests_import_are_importable() -> None:
    from raven.utils.compat import (  # noqa: F401
        PY2,
        PY3,
        Iterator,
        StringIO,
        iteritems,
        iterkeys,
        raise_from,
        string_types,
        text_type,
    )
