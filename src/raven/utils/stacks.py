"""Stack frames to event data: file, function, line, source context and (bounded) locals.

Differences from raven 6.10, all for speed or safety: source lines come from ``linecache``
(which caches, and asks the module's loader itself for zip imports) instead of re-reading the
file through the loader on every capture; the current stack is walked with ``sys._getframe``
instead of ``inspect.stack()`` (which reads the source of every frame); locals and source
context are only built for the frames that keep them; very deep stacks keep their two ends.
"""

from __future__ import annotations

import linecache
import os
import sys

from raven.utils.serializer import transform

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from types import FrameType
    from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

    FrameInput = Any

__all__ = [
    "get_frame_locals",
    "get_lines_from_file",
    "get_stack_info",
    "iter_stack_frames",
    "iter_traceback_frames",
    "slim_frame_data",
    "slim_string",
    "to_dict",
]

CONTEXT_LINES = 5
LINE_MAX_LENGTH = 512
MAX_VAR_SIZE = 4096
#: stacks deeper than this keep only their outermost and innermost halves (a RecursionError's
#: traceback can hold tens of thousands of frames)
MAX_FRAMES = 500
#: the value put in place of a local that did not fit the frame's budget (6.10 dropped it silently)
TOO_LARGE = "<too large>"


def slim_string(value: Any, length: int = LINE_MAX_LENGTH) -> Any:
    """Cut a string to ``length`` characters, ending in ``...`` when it was longer."""
    if not value:
        return value
    if len(value) > length:
        return value[: length - 3] + "..."
    return value


def _getitem_from_frame(f_locals: Any, key: str, default: Any = None) -> Any:
    """``f_locals[key]`` for mappings that may lack ``get`` or raise on lookup."""
    try:
        return f_locals[key]
    except Exception:
        return default


def to_dict(dictish: Any) -> Dict[Any, Any]:
    """Coerce a mapping-like object (with ``keys()``) into a dict."""
    if hasattr(dictish, "iterkeys"):
        m = dictish.iterkeys
    elif hasattr(dictish, "keys"):
        m = dictish.keys
    else:
        raise ValueError(dictish)
    return {k: dictish[k] for k in m()}


_context_cache: Dict[Tuple[str, int, int], Any] = {}


def _context_from_lines(lines: List[str], lineno: int, context_lines: int) -> Any:
    if lineno >= len(lines) or lineno < 0:
        return None, None, None
    lower = max(0, lineno - context_lines)
    upper = min(lineno + 1 + context_lines, len(lines))
    pre = [slim_string(line.strip("\r\n")) for line in lines[lower:lineno]]
    line = slim_string(lines[lineno].strip("\r\n"))
    post = [slim_string(line.strip("\r\n")) for line in lines[lineno + 1 : upper]]
    return pre, line, post


def get_lines_from_file(
    filename: str,
    lineno: int,
    context_lines: int,
    loader: Any = None,
    module_name: Optional[str] = None,
) -> Tuple[Optional[List[str]], Optional[str], Optional[List[str]]]:
    """``(pre_context, context_line, post_context)`` around the 0-based ``lineno``.

    Lines come from ``linecache``; when it has nothing (a module without a file, e.g. loaded
    from a zip or generated), the loader's ``get_source`` is asked.
    """
    lines: Any = None
    try:
        lines = linecache.getlines(filename)
    except Exception:
        lines = None
    if not lines and loader is not None and hasattr(loader, "get_source"):
        try:
            source = loader.get_source(module_name)
        except Exception:
            source = None
        if source is not None:
            lines = source.splitlines()
    if not lines:
        return None, None, None
    return _context_from_lines(lines, lineno, context_lines)


def _cached_context(abs_path: str, lineno: int, f_globals: Any) -> Any:
    """Source context for a frame, cached per (file, line, linecache entry)."""
    try:
        lines = linecache.getlines(abs_path, f_globals if type(f_globals) is dict else None)
    except Exception:
        lines = None
    if not lines:
        # "<string>", "<stdin>": no file, and the module's loader would give another file's
        # source (6.10 showed the main script's lines for exec'd code)
        if abs_path[:1] == "<":
            return None, None, None
        loader = _getitem_from_frame(f_globals, "__loader__")
        if loader is None:
            return None, None, None
        return get_lines_from_file(
            abs_path, lineno, CONTEXT_LINES, loader, _getitem_from_frame(f_globals, "__name__")
        )
    key = (abs_path, lineno, id(lines))
    hit = _context_cache.get(key)
    if hit is None:
        if len(_context_cache) > 4096:
            _context_cache.clear()
        hit = _context_cache[key] = _context_from_lines(lines, lineno, CONTEXT_LINES)
    # lists are handed out to events (and processors may edit them): copy
    pre, line, post = hit
    return (pre[:] if pre is not None else None), line, (post[:] if post is not None else None)


def iter_traceback_frames(tb: Any) -> Iterator[Tuple[Any, Optional[int]]]:
    """``(frame, lineno)`` for each traceback entry, outermost first, skipping hidden frames."""
    while tb is not None and hasattr(tb, "tb_frame"):
        frame = tb.tb_frame
        if not _getitem_from_frame(getattr(frame, "f_locals", {}), "__traceback_hide__"):
            yield frame, getattr(tb, "tb_lineno", None)
        tb = tb.tb_next


def iter_stack_frames(frames: Optional[Iterable[Any]] = None) -> Iterator[Tuple[Any, int]]:
    """``(frame, lineno)`` outermost first; by default the caller's stack, skipping hidden ones.

    ``frames`` may be ``inspect.stack()``-style records or ``(frame, lineno)`` pairs, innermost
    first, as in 6.10.
    """
    if not frames:
        collected = []
        f: Optional[FrameType] = sys._getframe(1)
        while f is not None:
            collected.append((f, f.f_lineno))
            f = f.f_back
    else:
        collected = [(f[0], f[2] if len(f) > 2 else f[1]) for f in frames]
    for frame, lineno in reversed(collected):
        if not _getitem_from_frame(getattr(frame, "f_locals", {}), "__traceback_hide__"):
            yield frame, lineno


def _value_size(value: Any) -> int:
    if type(value) is str:
        return len(value)
    try:
        return len(repr(value))
    except Exception:
        return MAX_VAR_SIZE


def get_frame_locals(
    frame: Any, transformer: Callable[[Any], Any] = transform, max_var_size: int = MAX_VAR_SIZE
) -> Optional[Dict[str, Any]]:
    """The frame's locals, transformed, while their total size stays under ``max_var_size``.

    A local that does not fit keeps its name with the value :data:`TOO_LARGE`.
    """
    f_locals = getattr(frame, "f_locals", None)
    if not f_locals:
        return None
    if not isinstance(f_locals, dict):
        try:
            f_locals = to_dict(f_locals)
        except Exception:
            return None
    f_vars: Dict[str, Any] = {}
    f_size = 0
    for k, v in f_locals.items():
        v = transformer(v)
        v_size = _value_size(v)
        if v_size + f_size < max_var_size:
            f_vars[k] = v
            f_size += v_size
        else:
            f_vars[k] = TOO_LARGE
    return f_vars


def _strip_frame(frame: Dict[str, Any]) -> None:
    frame.pop("vars", None)
    frame.pop("pre_context", None)
    frame.pop("post_context", None)


def slim_frame_data(
    frames: List[Dict[str, Any]], frame_allowance: int = 25
) -> List[Dict[str, Any]]:
    """Drop locals and surrounding source from the middle frames beyond ``frame_allowance``.

    System frames (``in_app`` false) are slimmed first, as in 6.10.
    """
    frames_len = len(frames)
    if frames_len <= frame_allowance:
        return frames
    app_frames = [f for f in frames if f.get("in_app")]
    system_frames = [f for f in frames if not f.get("in_app")]
    remaining = frames_len - frame_allowance
    app_count = len(app_frames)
    system_allowance = max(frame_allowance - app_count, 0)
    if system_allowance:
        half_max = system_allowance // 2
        for frame in system_frames[half_max:-half_max] if half_max else system_frames:
            _strip_frame(frame)
            remaining -= 1
    else:
        for frame in system_frames:
            _strip_frame(frame)
            remaining -= 1
    if remaining > 0:
        app_allowance = app_count - remaining
        half_max = app_allowance // 2
        for frame in app_frames[half_max:-half_max] if half_max > 0 else app_frames:
            _strip_frame(frame)
    return frames


_filename_cache: Dict[Tuple[str, Optional[str]], str] = {}


def _relative_filename(abs_path: str, module_name: Optional[str]) -> str:
    """The path below the directory holding the module's top-level package (cached)."""
    key = (abs_path, module_name)
    hit = _filename_cache.get(key)
    if hit is not None:
        return hit
    filename = abs_path
    try:
        base = sys.modules[module_name.split(".", 1)[0]].__file__  # type: ignore[union-attr]
        if base:
            filename = abs_path.split(base.rsplit(os.sep, 2)[0], 1)[-1].lstrip(os.sep) or abs_path
    except Exception:
        filename = abs_path
    if len(_filename_cache) > 4096:
        _filename_cache.clear()
    _filename_cache[key] = filename
    return filename


def get_stack_info(
    frames: Iterable[FrameInput],
    transformer: Callable[[Any], Any] = transform,
    capture_locals: bool = True,
    frame_allowance: int = 25,
) -> Dict[str, Any]:
    """``{'frames': [...]}`` for frames given outermost first (frame objects or pairs)."""
    pairs: List[Tuple[Any, Optional[int]]] = []
    for frame_info in frames:
        if isinstance(frame_info, (list, tuple)):
            frame, lineno = frame_info[0], frame_info[1]
        else:
            frame, lineno = frame_info, getattr(frame_info, "f_lineno", None)
        if _getitem_from_frame(getattr(frame, "f_locals", {}), "__traceback_hide__"):
            continue
        pairs.append((frame, lineno))

    if len(pairs) > MAX_FRAMES:
        half = MAX_FRAMES // 2
        pairs = pairs[:half] + pairs[-half:]
    n = len(pairs)
    # frames in [lo, hi) are going to lose locals and surrounding lines: don't build them
    if n > frame_allowance:
        half_max = frame_allowance // 2
        lo, hi = half_max, n - half_max
    else:
        lo = hi = n

    result = []
    for index, (frame, lineno) in enumerate(pairs):
        f_globals = getattr(frame, "f_globals", None) or {}
        f_code = getattr(frame, "f_code", None)
        if f_code is not None:
            abs_path = f_code.co_filename
            function = f_code.co_name
        else:
            abs_path = function = None
        module_name = _getitem_from_frame(f_globals, "__name__")
        if not isinstance(module_name, str):
            module_name = None
        frame_result: Dict[str, Any] = {
            "abs_path": abs_path,
            "filename": _relative_filename(abs_path, module_name) if abs_path else abs_path,
            "module": module_name or None,
            "function": function or "<unknown>",
            "lineno": lineno or 0,
        }
        slim = lo <= index < hi
        if capture_locals and not slim:
            f_vars = get_frame_locals(frame, transformer=transformer)
            if f_vars:
                frame_result["vars"] = f_vars
        if lineno and abs_path:
            pre, line, post = _cached_context(abs_path, lineno - 1, f_globals)
            if line is not None:
                if slim:
                    frame_result["context_line"] = line
                else:
                    frame_result["pre_context"] = pre
                    frame_result["context_line"] = line
                    frame_result["post_context"] = post
        result.append(frame_result)
    return {"frames": result}
