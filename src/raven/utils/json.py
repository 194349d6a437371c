"""JSON encoding of event dicts, tolerant of the odd types that reach an event."""

from __future__ import annotations

import codecs
import datetime
import json
import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any

from raven.utils.encoding import to_unicode

__all__ = ["BetterJSONEncoder", "JSONDecodeError", "better_decoder", "dumps", "json", "loads"]

JSONDecodeError = json.JSONDecodeError


def _default(o: Any) -> Any:
    """Map the non-JSON types raven events carry: the same rules as raven 6.10's encoder."""
    uuid = sys.modules.get("uuid")  # no UUID can exist unless the app imported uuid
    if uuid is not None and isinstance(o, uuid.UUID):
        return o.hex
    if isinstance(o, datetime.datetime):
        if o.tzinfo is not None:  # 6.10 dropped the offset without converting
            o = o.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return o.isoformat(timespec="seconds") + "Z"
    if isinstance(o, (set, frozenset)):
        return list(o)
    if isinstance(o, (bytes, bytearray)):
        return bytes(o).decode("utf-8", "replace")
    if isinstance(o, tuple) and hasattr(o, "_asdict"):
        return dict(o._asdict())
    try:
        return repr(o)
    except Exception:
        return to_unicode(type(o))


class BetterJSONEncoder(json.JSONEncoder):
    """A ``json.JSONEncoder`` that never gives up on a value (see :func:`dumps`)."""

    def default(self, o: Any) -> Any:
        return _default(o)


def better_decoder(data: Any) -> Any:
    return data


def _json_safe(value: Any, _seen: frozenset[int] = frozenset(), _depth: int = 0) -> Any:
    """A JSON-safe copy of ``value``: string keys, NaN/inf as text, cycles and depth cut off."""
    if _depth > 100:
        return to_unicode(type(value))
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    if isinstance(value, (dict, list, tuple)):
        if id(value) in _seen:
            return "<...>"
        seen = _seen | {id(value)}
        if isinstance(value, dict):
            return {
                (k if isinstance(k, str) else to_unicode(k)): _json_safe(v, seen, _depth + 1)
                for k, v in value.items()
            }
        return [_json_safe(v, seen, _depth + 1) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """Encode ``value``; never raises for odd types, odd keys or NaN (NaN is sent as a string).

    Keyword arguments go to :func:`json.dumps` as in raven 6.10.
    """
    kwargs.setdefault("cls", BetterJSONEncoder)
    kwargs.setdefault("separators", (",", ":"))
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(_json_safe(value), **kwargs)


def loads(value: str | bytes, **kwargs: Any) -> Any:
    return json.loads(value, **kwargs)


def _safe_utf8_search(name: str) -> codecs.CodecInfo | None:
    """A ``safe-utf-8`` codec, kept because 6.10 registered one: UTF-8 with replacement."""
    if name != "safe_utf_8" and name != "safe-utf-8":
        return None
    utf8 = codecs.lookup("utf-8")

    def encode(s: str, errors: str = "strict") -> tuple[bytes, int]:
        return utf8.encode(s, "replace")

    def decode(b: bytes, errors: str = "strict") -> tuple[str, int]:
        return utf8.decode(b, "replace")

    return codecs.CodecInfo(encode, decode, name="safe-utf-8")


codecs.register(_safe_utf8_search)
