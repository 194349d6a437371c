"""The size budget: trim an event, least valuable data first, until a Sentry server will take it."""

from __future__ import annotations

from functools import partial
from itertools import islice

from raven.protocol import MAX_EVENT_BODY, MAX_EVENT_JSON

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import AbstractSet, Any, Callable, Dict, List, Optional, Set, Tuple

    Event = Dict[str, Any]
    Dumps = Callable[[Any], bytes]
    FramesFn = Callable[[List[Any], bool], Optional[List[Any]]]

__all__ = [
    "MAX_COMPRESSED_BYTES",
    "MAX_JSON_BYTES",
    "ORIGINAL_SIZE_KEY",
    "TRIMMED_KEY",
    "Fitted",
    "fit",
]

#: Sentry's limits for one event (docs.sentry.io "size limits"); above either, it answers 413
MAX_JSON_BYTES = MAX_EVENT_JSON
MAX_COMPRESSED_BYTES = MAX_EVENT_BODY

#: keys added under ``extra`` of a trimmed event, so the user sees that data is missing and why
TRIMMED_KEY = "raven.trimmed"
ORIGINAL_SIZE_KEY = "raven.original_size"

#: Sentry's own advice for request bodies ("HTTP body: 8 kB, always trim before attaching")
REQUEST_BODY_CHARS = 8192
#: breadcrumbs kept by the first breadcrumb step: the newest are the ones that led to the error
KEEP_CRUMBS = 10
#: the two string caps: 1024 keeps most of a SQL query or a URL, 256 still names things
STRING_CAPS = (1024, 256)
#: outermost and innermost frames kept of a long stack trace, in two steps: both ends tell where
#: the program started and where it failed; the middle of a deep recursion repeats itself
FRAME_ENDS = (25, 5)
#: what the minimal stand-in event keeps of exceptions and stack traces
MINIMAL_EXCEPTIONS = 3
MINIMAL_FRAMES = 5
MINIMAL_TAGS = 50
MINIMAL_STRING = 256
#: a walk deeper than this leaves the rest as it is (the encoder has its own fallback for it)
MAX_DEPTH = 200

#: values that identify or classify the event: cutting them would corrupt it, not shorten it
# fmt: off
_WHOLE = frozenset((
    "event_id", "timestamp", "start_timestamp", "level", "platform", "release", "dist",
    "environment", "fingerprint", "type", "sdk", "trace_id", "span_id", "parent_span_id",
))
#: what the minimal event keeps as it is; ``fingerprint``: it groups with the events it stands for
_MINIMAL_KEYS = (
    "event_id", "timestamp", "level", "platform", "logger", "transaction", "release",
    "environment", "server_name", "fingerprint",
)
_FRAME_KEYS = (
    "filename", "abs_path", "module", "function", "lineno", "colno", "in_app", "context_line",
)
# fmt: on


class Fitted:
    """An event ready to send: its JSON, the request body made of it, and what was trimmed.

    ``trimmed`` is empty when the event fitted as it was; it starts with the stages of an earlier
    fit when the event was trimmed before. When it ends with ``"minimal"`` the JSON may still
    exceed the limits (absurdly small ones after repeated 413s): nothing smaller is worth
    sending, so the caller should send it once and give up if it is refused again.
    """

    __slots__ = ("body", "json", "trimmed")

    def __init__(self, json: bytes, body: bytes, trimmed: Tuple[str, ...] = ()) -> None:
        self.json = json
        self.body = body
        self.trimmed = trimmed

    def __repr__(self) -> str:
        sizes = (len(self.json), len(self.body), self.trimmed)
        return "<Fitted json=%d body=%d trimmed=%r>" % sizes


def fit(
    event: Event,
    dumps: Dumps,
    to_body: Callable[[bytes], bytes],
    max_json: int = MAX_JSON_BYTES,
    max_body: int = MAX_COMPRESSED_BYTES,
) -> Fitted:
    """The JSON and request body of ``event`` (a ``protocol.to_wire`` dict) within the limits.

    An event that fits is encoded once and returned as it is: this runs for every event. One
    that does not is trimmed in stages, least valuable data first, re-measured after each step
    until it fits; the stages used are listed under ``extra["raven.trimmed"]`` and in
    :attr:`Fitted.trimmed`. The caller's event is never changed (changed paths are copied).

    After a 413, call it again with the halves of the refused sizes: it trims from the original
    event, and always ends, at worst with a minimal stand-in event (see :class:`Fitted`).

    Args:
        event: the wire dict.
        dumps: the JSON encoder (``protocol.dumps``).
        to_body: the request body for a JSON text (gzip when it is large).
        max_json: the largest JSON accepted, in bytes.
        max_body: the largest request body accepted, in bytes.
    """
    raw = dumps(event)
    body = to_body(raw) if len(raw) <= max_json else None
    if body is not None and len(body) <= max_body:
        return Fitted(raw, body)
    return _trim(event, raw, body, dumps, to_body, max_json, max_body)


def _trim(
    event: Event,
    raw: bytes,
    body: Optional[bytes],
    dumps: Dumps,
    to_body: Callable[[bytes], bytes],
    max_json: int,
    max_body: int,
) -> Fitted:
    """Apply the steps of :data:`_STEPS` in order until the event fits.

    A size is ``(json, body)``, the body None while the JSON alone is too large (no point in
    compressing it). The first pass skips a step that saves less than an eighth of the excess:
    an event too large because of its request body should not lose its locals too. When that
    pass does not fit, a second one applies every step; then comes the minimal event.
    """
    # an event trimmed before (the transport re-fits a refused body after a 413) keeps its mark
    extra = event.get("extra")
    earlier = extra if isinstance(extra, dict) else {}
    prior = earlier.get(TRIMMED_KEY)
    prior = [n for n in prior if isinstance(n, str)] if isinstance(prior, list) else []
    original_size = earlier.get(ORIGINAL_SIZE_KEY)
    if type(original_size) is not int:
        original_size = len(raw)

    def measure(candidate: Event, names: List[str]) -> Tuple[bytes, Optional[bytes]]:
        # measured with the mark, so the mark itself is paid for
        new_raw = dumps(_mark(candidate, names, original_size))
        return new_raw, to_body(new_raw) if len(new_raw) <= max_json else None

    for targeted in (True, False):
        names: List[str] = list(prior)
        current, size, skipped = event, (raw, body), False
        for name, step, repeat in _STEPS:
            while True:
                over = len(size[0]) - max_json if size[1] is None else len(size[1]) - max_body
                candidate = step(current, over, dumps)
                if candidate is None:  # nothing of this kind left to cut
                    break
                new_names = names if names[-1:] == [name] else [*names, name]
                new = measure(candidate, new_names)
                if new[1] is not None and len(new[1]) <= max_body:
                    return Fitted(new[0], new[1], tuple(new_names))
                if targeted and _saving(size, new) < over // 8:
                    skipped = True
                    break
                current, size, names = candidate, new, new_names
                if not repeat:
                    break
        if not skipped:
            break
    # the smallest thing worth sending, even when it does not fit absurdly small limits
    names = [*prior, "minimal"]
    raw, body = measure(_minimal(event), names)
    return Fitted(raw, to_body(raw) if body is None else body, tuple(names))


def _saving(old: Tuple[bytes, Optional[bytes]], new: Tuple[bytes, Optional[bytes]]) -> int:
    """How much a step saved, in the units of the limit that binds ``old``."""
    if old[1] is None:
        return len(old[0]) - len(new[0])
    return -1 if new[1] is None else len(old[1]) - len(new[1])


def _mark(event: Event, names: List[str], original_size: int) -> Event:
    extra = event.get("extra")
    marked = dict(extra) if isinstance(extra, dict) else {}
    marked[TRIMMED_KEY] = list(names)
    marked[ORIGINAL_SIZE_KEY] = original_size
    out = dict(event)
    out["extra"] = marked
    return out


# -- walking and copying ----------------------------------------------------------------------


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cap(value: Any, limit: int, path: Set[int], whole: AbstractSet[str] = _WHOLE) -> Any:
    """``value`` with every string (and key) longer than ``limit`` cut; unchanged parts shared.

    ``path`` holds the containers being walked, so a cycle in raw data ends the walk there;
    the values of the keys in ``whole`` are left as they are.
    """
    if isinstance(value, str):
        return _cut(value, limit)
    if not isinstance(value, (dict, list, tuple)) or id(value) in path or len(path) > MAX_DEPTH:
        return value
    path.add(id(value))
    try:
        if isinstance(value, dict):
            out: Dict[Any, Any] = {}
            changed = False
            for key, item in value.items():
                new = item if type(key) is str and key in whole else _cap(item, limit, path, whole)
                new_key = _cut(key, limit) if isinstance(key, str) else key
                changed = changed or new is not item or new_key is not key
                out[new_key] = new
            return out if changed else value
        items = [_cap(item, limit, path, whole) for item in value]
        if any(new is not old for new, old in zip(items, value)):
            return items
        return value
    finally:
        path.discard(id(value))


def _frames_of(stacktrace: Any) -> Optional[List[Any]]:
    if isinstance(stacktrace, dict):
        frames = stacktrace.get("frames")
        if isinstance(frames, list) and frames:
            return frames
    return None


def _values(event: Event, key: str) -> Optional[List[Any]]:
    container = event.get(key)
    if isinstance(container, dict):
        values = container.get("values")
        if isinstance(values, list):
            return values
    return None


def _crash_stacktrace(event: Event) -> Any:
    """The stack trace whose innermost frame raised: the last exception's, else the event's."""
    for value in reversed(_values(event, "exception") or ()):
        if isinstance(value, dict) and _frames_of(value.get("stacktrace")) is not None:
            return value["stacktrace"]
    return event.get("stacktrace")


def _on_frames(fn: FramesFn, event: Event, excess: int, dumps: Dumps) -> Optional[Event]:
    """``event`` with ``fn(frames, is_crash)`` applied to every stack trace (None: no change)."""
    crash = _crash_stacktrace(event)
    out: Optional[Event] = None
    stacktrace: Any = event.get("stacktrace")
    frames = _frames_of(stacktrace)
    if frames is not None:
        new = fn(frames, stacktrace is crash)
        if new is not None:
            out = dict(event)
            out["stacktrace"] = dict(stacktrace, frames=new)
    for key in ("exception", "threads"):
        values = _values(event, key)
        new_values = None
        for i, value in enumerate(values or ()):
            stacktrace = value.get("stacktrace") if isinstance(value, dict) else None
            frames = _frames_of(stacktrace)
            new = None if frames is None else fn(frames, stacktrace is crash)
            if new is not None:
                if new_values is None:
                    new_values = list(values or ())
                new_values[i] = dict(value, stacktrace=dict(stacktrace, frames=new))
        if new_values is not None:
            out = dict(event) if out is None else out
            out[key] = dict(event[key], values=new_values)
    return out


# -- the steps: each returns a smaller copy of the event, or None when it has nothing to cut ----


def _strip_vars(keep_crash_frame: bool, frames: List[Any], crash: bool) -> Optional[List[Any]]:
    keep = len(frames) - 1 if crash and keep_crash_frame else -1
    new = None
    for i, frame in enumerate(frames):
        if i != keep and isinstance(frame, dict) and "vars" in frame:
            if new is None:
                new = list(frames)
            new[i] = {k: v for k, v in frame.items() if k != "vars"}
    return new


def _cap_crash_vars(frames: List[Any], crash: bool) -> Optional[List[Any]]:
    """The crash frame's locals are worth the most: cut its long strings before dropping them."""
    frame = frames[-1]
    if not crash or not isinstance(frame, dict) or "vars" not in frame:
        return None
    capped = _cap(frame["vars"], STRING_CAPS[0], set())
    if capped is frame["vars"]:
        return None
    return [*frames[:-1], dict(frame, vars=capped)]


def _frame_ends(keep: int, frames: List[Any], crash: bool) -> Optional[List[Any]]:
    if len(frames) <= 2 * keep:
        return None
    return frames[:keep] + frames[-keep:]


def _crumbs(keep: int, event: Event, excess: int, dumps: Dumps) -> Optional[Event]:
    crumbs = event.get("breadcrumbs")
    if crumbs is None:
        return None
    out = dict(event)
    if keep:
        values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
        if not isinstance(values, list) or len(values) <= keep:
            return None
        kept = values[-keep:]  # the newest are last
        out["breadcrumbs"] = dict(crumbs, values=kept) if isinstance(crumbs, dict) else kept
    else:
        del out["breadcrumbs"]
    return out


def _request_body(limit: int, event: Event, excess: int, dumps: Dumps) -> Optional[Event]:
    """Cut the body to ``limit`` characters (a structured body becomes its JSON text), or drop it.

    Bodies are what the request *carried*: the method, URL, headers and query say more.
    """
    request = event.get("request")
    if not isinstance(request, dict) or "data" not in request:
        return None
    data = request["data"]
    out = dict(event)
    if limit:
        if not isinstance(data, str):
            if not isinstance(data, (dict, list, tuple)):
                return None
            data = dumps(data).decode("utf-8", "replace")
        if len(data) <= limit:
            return None
        out["request"] = dict(request, data=_cut(data, limit))
    else:
        out["request"] = {k: v for k, v in request.items() if k != "data"}
    return out


def _strings(limit: int, event: Event, excess: int, dumps: Dumps) -> Optional[Event]:
    capped = _cap(event, limit, set())
    return None if capped is event else capped


def _largest_items(key: str, event: Event, excess: int, dumps: Dumps) -> Optional[Event]:
    """Drop the largest items of ``event[key]`` until at least ``excess`` bytes are gone.

    Removing n bytes of JSON shrinks the gzip body by at most about n, so ``excess`` bytes is
    the least that can help; removing no more than that keeps the smaller items.
    """
    mapping = event.get(key)
    if not isinstance(mapping, dict) or not mapping:
        return None
    sizes = {name: len(dumps({name: value})) for name, value in mapping.items()}
    kept = dict(mapping)
    removed = 0
    for name in sorted(sizes, key=sizes.__getitem__, reverse=True):
        del kept[name]
        removed += sizes[name]
        if removed >= excess:
            break
    out = dict(event)
    out[key] = kept
    return out


def _minimal(event: Event) -> Event:
    """The stand-in sent when nothing else fits: what groups the event and says what failed."""
    out: Event = {key: event[key] for key in _MINIMAL_KEYS if key in event}
    tags = event.get("tags")
    if isinstance(tags, dict):  # tag values are text; anything else would not be a tag
        scalars = ((k, v) for k, v in tags.items() if isinstance(v, (str, int, float, type(None))))
        out["tags"] = dict(islice(scalars, MINIMAL_TAGS))
    sdk = event.get("sdk")
    if isinstance(sdk, dict):
        out["sdk"] = {k: sdk[k] for k in ("name", "version") if k in sdk}
    user = event.get("user")
    if isinstance(user, dict) and user.get("id") is not None:
        out["user"] = {"id": user["id"]}
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        out["logentry"] = {k: logentry[k] for k in ("message", "formatted") if k in logentry}
    values = []
    for value in (_values(event, "exception") or [])[-MINIMAL_EXCEPTIONS:]:
        if isinstance(value, dict):
            kept = {k: value[k] for k in ("type", "value", "module") if k in value}
            stacktrace = _minimal_stacktrace(value.get("stacktrace"))
            if stacktrace is not None:
                kept["stacktrace"] = stacktrace
            values.append(kept)
    if values:
        out["exception"] = {"values": values}
    stacktrace = _minimal_stacktrace(event.get("stacktrace"))
    if stacktrace is not None:
        out["stacktrace"] = stacktrace
    # every string, identifiers included: a 10 MB release must not make the stand-in too large
    return _cap(out, MINIMAL_STRING, set(), frozenset())


def _minimal_stacktrace(stacktrace: Any) -> Optional[Dict[str, Any]]:
    frames = _frames_of(stacktrace)
    if frames is None:
        return None
    kept = [
        {k: frame[k] for k in _FRAME_KEYS if k in frame}
        for frame in frames[-MINIMAL_FRAMES:]
        if isinstance(frame, dict)
    ]
    return {"frames": kept} if kept else None


#: ``(stage name, step(event, excess, dumps), repeat while it still cuts)``, in order; then
#: comes the minimal event
_STEPS: Tuple[Tuple[str, Callable[[Event, int, Dumps], Optional[Event]], bool], ...] = (
    # locals are the bulk of most large events, and the least read
    ("locals", partial(_on_frames, partial(_strip_vars, True)), False),
    ("locals", partial(_on_frames, _cap_crash_vars), False),
    ("locals", partial(_on_frames, partial(_strip_vars, False)), False),
    ("breadcrumbs", partial(_crumbs, KEEP_CRUMBS), False),
    ("breadcrumbs", partial(_crumbs, 0), False),
    ("request_body", partial(_request_body, REQUEST_BODY_CHARS), False),
    ("request_body", partial(_request_body, 0), False),
    # cutting strings keeps every key, so it goes before anything that drops whole items
    ("strings", partial(_strings, STRING_CAPS[0]), False),
    ("strings", partial(_strings, STRING_CAPS[1]), False),
    ("frames", partial(_on_frames, partial(_frame_ends, FRAME_ENDS[0])), False),
    ("frames", partial(_on_frames, partial(_frame_ends, FRAME_ENDS[1])), False),
    ("extra", partial(_largest_items, "extra"), True),
    ("contexts", partial(_largest_items, "contexts"), True),
    ("modules", partial(_largest_items, "modules"), True),
)
