"""``raven.utils.stacks``: frames to event data (location, source context, locals), bounded."""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

import pytest

from raven.utils import varmap
from raven.utils.stacks import (
    get_frame_locals,
    get_lines_from_file,
    get_stack_info,
    iter_stack_frames,
    iter_traceback_frames,
    slim_frame_data,
    slim_string,
    to_dict,
)

FRAME_KEYS = {
    "abs_path",
    "filename",
    "module",
    "function",
    "lineno",
    "vars",
    "pre_context",
    "context_line",
    "post_context",
}


def traceback_of(function: Any, *args: Any) -> Any:
    try:
        function(*args)
    except Exception:
        return sys.exc_info()[2]
    raise AssertionError("%r did not raise" % function)


def fails_with_locals() -> None:
    number = 7  # noqa: F841
    text = "seven"  # noqa: F841
    raise ValueError("x")  # line used by the context assertions


def recurse(depth: int) -> None:
    if depth:
        recurse(depth - 1)
    raise ValueError("bottom")


# -- get_stack_info ---------------------------------------------------------------------------


def test_a_frame_carries_location_source_context_and_locals() -> None:
    frames = get_stack_info(iter_traceback_frames(traceback_of(fails_with_locals)))["frames"]

    frame = frames[-1]
    assert set(frame) == FRAME_KEYS
    assert frame["abs_path"] == os.path.abspath(__file__)
    assert frame["module"] == __name__
    assert frame["function"] == "fails_with_locals"
    assert frame["lineno"] == fails_with_locals.__code__.co_firstlineno + 3
    assert (
        frame["context_line"] == '    raise ValueError("x")  # line used by the context assertions'
    )
    assert frame["pre_context"][-2:] == [
        "    number = 7  # noqa: F841",
        '    text = "seven"  # noqa: F841',
    ]
    assert len(frame["pre_context"]) == 5
    assert len(frame["post_context"]) == 5
    assert frame["vars"] == {"number": "7", "text": "'seven'"}


def test_frames_are_listed_outermost_first() -> None:
    frames = get_stack_info(iter_traceback_frames(traceback_of(fails_with_locals)))["frames"]

    assert [f["function"] for f in frames] == ["traceback_of", "fails_with_locals"]


def test_the_filename_is_relative_to_the_directory_holding_the_top_level_package() -> None:
    def explode(key: Any, value: Any) -> Any:
        raise KeyError("from inside raven")

    frames = get_stack_info(iter_traceback_frames(traceback_of(varmap, explode, {"a": 1})))[
        "frames"
    ]

    raven_frame = next(f for f in frames if f["module"] == "raven.utils")
    assert raven_frame["filename"] == os.path.join("raven", "utils", "__init__.py")
    assert os.path.isabs(raven_frame["abs_path"])
    assert raven_frame["abs_path"].endswith(raven_frame["filename"])


def test_capture_locals_false_leaves_vars_out() -> None:
    frames = get_stack_info(
        iter_traceback_frames(traceback_of(fails_with_locals)), capture_locals=False
    )["frames"]

    assert all("vars" not in f for f in frames)


def test_locals_go_through_the_given_transformer() -> None:
    frames = get_stack_info(
        iter_traceback_frames(traceback_of(fails_with_locals)), transformer=lambda v: "<%s>" % (v,)
    )["frames"]

    assert frames[-1]["vars"] == {"number": "<7>", "text": "<seven>"}


def test_frame_objects_and_frame_lineno_pairs_are_both_accepted() -> None:
    frame = sys._getframe()

    from_object = get_stack_info([frame])["frames"]
    from_pair = get_stack_info([(frame, 42)])["frames"]

    assert (
        from_object[0]["function"]
        == from_pair[0]["function"]
        == ("test_frame_objects_and_frame_lineno_pairs_are_both_accepted")
    )
    assert from_pair[0]["lineno"] == 42


def test_frames_with_traceback_hide_are_dropped() -> None:
    def hidden() -> None:
        __traceback_hide__ = True
        fails_with_locals()

    frames = get_stack_info(iter_traceback_frames(traceback_of(hidden)))["frames"]

    assert [f["function"] for f in frames] == ["traceback_of", "fails_with_locals"]


def test_a_frame_with_a_false_traceback_hide_is_kept() -> None:
    def not_hidden() -> None:
        __traceback_hide__ = False
        fails_with_locals()

    frames = get_stack_info(iter_traceback_frames(traceback_of(not_hidden)))["frames"]

    assert "not_hidden" in [f["function"] for f in frames]


def test_more_than_25_frames_keep_locals_and_context_only_at_both_ends() -> None:
    frames = get_stack_info(iter_traceback_frames(traceback_of(recurse, 40)))["frames"]

    assert len(frames) == 42
    full = [i for i, f in enumerate(frames) if "vars" in f]
    assert full == list(range(12)) + list(range(30, 42))
    for frame in frames[12:30]:
        assert "pre_context" not in frame and "post_context" not in frame
        assert frame["context_line"] and frame["lineno"] > 0  # the location stays


def test_a_local_too_large_for_the_frame_budget_is_not_sent_whole() -> None:
    def big_locals() -> None:
        first = "a" * 300  # noqa: F841
        second = "b" * 300  # noqa: F841
        rest = ["c" * 300] * 40  # noqa: F841
        raise ValueError("x")

    frame = get_stack_info(
        iter_traceback_frames(traceback_of(big_locals)),
        transformer=lambda v: v if isinstance(v, str) else repr(v),
    )["frames"][-1]

    assert frame["vars"]["first"] == "a" * 300
    assert frame["vars"]["second"] == "b" * 300
    assert len(repr(frame["vars"]["rest"])) < 4096
    assert sum(len(repr(v)) for v in frame["vars"].values()) < 4096 + 100


def test_source_context_lines_are_cut_to_512_characters() -> None:
    source = "x = 1\n" + "y = '%s'\n" % ("z" * 1000) + "raise ValueError('long line above')\n"
    code = compile(source, "<long-line-test>", "exec")

    import linecache

    linecache.cache["<long-line-test>"] = (
        len(source),
        None,
        source.splitlines(True),
        "<long-line-test>",
    )
    try:
        traceback = traceback_of(exec, code, {"__name__": "long_line_module"})
        frame = get_stack_info(iter_traceback_frames(traceback))["frames"][-1]
    finally:
        del linecache.cache["<long-line-test>"]

    assert frame["context_line"] == "raise ValueError('long line above')"
    assert len(frame["pre_context"][-1]) == 512
    assert frame["pre_context"][-1].endswith("...")


def test_a_frame_without_source_has_no_context_lines() -> None:
    code = compile("raise ValueError('no source')", "<nowhere>", "exec")

    frame = get_stack_info(iter_traceback_frames(traceback_of(exec, code, {})))["frames"][-1]

    assert "context_line" not in frame and "pre_context" not in frame
    assert frame["abs_path"] == "<nowhere>"


# -- get_lines_from_file ----------------------------------------------------------------------


class SourceLoader:
    """A PEP 302 loader that has the source of one module only."""

    def __init__(self, name: str, source: str) -> None:
        self.name, self.source = name, source

    def get_source(self, name: str) -> Optional[str]:
        return self.source if name == self.name else None


def test_lines_come_from_the_loader_when_the_file_does_not_exist() -> None:
    loader = SourceLoader("zipped.module", "one\ntwo\nthree\nfour\nfive\n")

    lines = get_lines_from_file(
        "/not/on/disk/zipped.py", 2, 1, loader=loader, module_name="zipped.module"
    )

    assert lines == (["two"], "three", ["four"])


def test_lines_come_from_the_file(tmp_path: Any) -> None:
    path = tmp_path / "module.py"
    path.write_text("".join("line %d\n" % i for i in range(1, 21)))

    pre, line, post = get_lines_from_file(str(path), 9, 5)

    assert pre == ["line 5", "line 6", "line 7", "line 8", "line 9"]
    assert line == "line 10"
    assert post == ["line 11", "line 12", "line 13", "line 14", "line 15"]


def test_context_is_clipped_at_the_start_and_end_of_the_file() -> None:
    loader = SourceLoader("m", "a\nb\nc\n")

    assert get_lines_from_file("/missing/m.py", 0, 5, loader=loader, module_name="m") == (
        [],
        "a",
        ["b", "c"],
    )
    assert get_lines_from_file("/missing/m.py", 2, 5, loader=loader, module_name="m") == (
        ["a", "b"],
        "c",
        [],
    )


@pytest.mark.parametrize("lineno", [3, 100, -1])
def test_a_line_outside_the_file_gives_nothing(lineno: int) -> None:
    loader = SourceLoader("m", "a\nb\nc\n")

    assert get_lines_from_file("/missing/m.py", lineno, 5, loader=loader, module_name="m") == (
        None,
        None,
        None,
    )


def test_a_missing_file_without_a_loader_gives_nothing() -> None:
    assert get_lines_from_file("/missing/entirely.py", 1, 5) == (None, None, None)


def test_a_loader_that_raises_gives_nothing() -> None:
    class Broken:
        def get_source(self, name: str) -> str:
            raise ImportError("broken loader")

    assert get_lines_from_file("/missing/b.py", 1, 5, loader=Broken(), module_name="b") == (
        None,
        None,
        None,
    )


# -- iterating frames -------------------------------------------------------------------------


def test_iter_stack_frames_defaults_to_the_callers_stack_outermost_first() -> None:
    def inner() -> List[Tuple[Any, int]]:
        return list(iter_stack_frames())

    frames = inner()

    names = [frame.f_code.co_name for frame, _ in frames]
    assert names[-2:] == [
        "test_iter_stack_frames_defaults_to_the_callers_stack_outermost_first",
        "inner",
    ]
    assert frames[-1][1] == inner.__code__.co_firstlineno + 1


def test_iter_stack_frames_accepts_inspect_stack_records() -> None:
    frames = list(iter_stack_frames(inspect.stack()))

    assert frames[-1][0].f_code.co_name == "test_iter_stack_frames_accepts_inspect_stack_records"


def test_iter_traceback_frames_gives_frame_and_line_outermost_first() -> None:
    traceback = traceback_of(fails_with_locals)

    pairs = list(iter_traceback_frames(traceback))

    assert [frame.f_code.co_name for frame, _ in pairs] == ["traceback_of", "fails_with_locals"]
    assert pairs[-1][1] == fails_with_locals.__code__.co_firstlineno + 3


# -- helpers ----------------------------------------------------------------------------------


def frame_dicts(count: int, in_app: Any = None) -> List[Dict[str, Any]]:
    return [
        {
            "n": i,
            "in_app": in_app,
            "vars": {},
            "pre_context": [],
            "context_line": "x",
            "post_context": [],
        }
        for i in range(count)
    ]


def test_slim_frame_data_leaves_25_frames_or_fewer_alone() -> None:
    frames = frame_dicts(25)

    slim_frame_data(frames)

    assert all("vars" in f for f in frames)


def test_slim_frame_data_strips_the_middle_of_a_long_stack() -> None:
    frames = frame_dicts(40)

    assert slim_frame_data(frames) is frames

    stripped = [f["n"] for f in frames if "vars" not in f]
    assert stripped == list(range(12, 28))
    for frame in frames:
        if frame["n"] in stripped:
            assert set(frame) == {"n", "in_app", "context_line"}


def test_slim_frame_data_strips_system_frames_before_app_frames() -> None:
    frames = frame_dicts(10, in_app=True) + frame_dicts(30, in_app=False)

    slim_frame_data(frames)

    assert all("vars" in f for f in frames if f["in_app"])
    assert len([f for f in frames if "vars" not in f]) == 16


def test_slim_frame_data_honours_a_frame_allowance() -> None:
    frames = frame_dicts(12)

    slim_frame_data(frames, frame_allowance=4)

    assert [f["n"] for f in frames if "vars" in f] == [0, 1, 10, 11]


def test_slim_string_cuts_long_text_with_an_ellipsis() -> None:
    assert slim_string("short") == "short"
    assert slim_string("") == ""
    assert slim_string(None) is None
    assert slim_string("x" * 600) == "x" * 509 + "..."
    assert slim_string("x" * 20, 10) == "x" * 7 + "..."


def test_get_frame_locals_transforms_each_local() -> None:
    def frame_with_locals() -> Any:
        answer = 42  # noqa: F841
        return sys._getframe()

    assert get_frame_locals(frame_with_locals()) == {"answer": "42"}


def test_get_frame_locals_of_a_frame_without_locals_is_none() -> None:
    def no_locals() -> Any:
        return sys._getframe()

    assert get_frame_locals(no_locals()) is None


def test_to_dict_copies_anything_with_keys() -> None:
    class KeysOnly:
        def keys(self) -> List[str]:
            return ["a"]

        def __getitem__(self, key: str) -> int:
            return 1

    assert to_dict(KeysOnly()) == {"a": 1}
    with pytest.raises(ValueError):
        to_dict(object())
