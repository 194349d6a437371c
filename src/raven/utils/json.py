"""JSON encoding of event dicts, tolerant of the odd types that reach an event."""

from __future__ import annotations

import codecs
import datetime
import json
import sys

from raven.utils import is_namedtuple
from raven.utils.encoding import to_unicode

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any


__all__ = [
    "BetterJSONEncoder",
    "JSONDecodeError",
    "better_decoder",
    "dumps",
    "is_namedtuple",
    "json",
    "loads",
]

JSONDecodeError = json.JSONDecodeError


def _default(o: Any) -> Any:
    """Map the non-JSON types raven events carry: the same rules as raven 6.10's encoder."""
    if type(o) is datetime.datetime and o.tzinfo is None:  # every event's timestamp
        return o.isoformat(timespec="seconds") + "Z"
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
    """A JSON-safe copy of ``value``: string keys, NaN/inf as text, cycles and depth cut off,
    sets as lists, and anything that fails (huge ints, raising iterators) as its type's name."""
    try:
        if _depth > 100:
            return to_unicode(type(value))
        if isinstance(value, bool) or value is None or type(value) is str:
            return value
        if isinstance(value, int):
            value = int(value)
            return value if value.bit_length() < 10000 else "<int of %d bits>" % value.bit_length()
        if isinstance(value, float):
            value = float(value)
            return value if value == value and abs(value) != float("inf") else repr(value)
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, (dict, list, tuple, set, frozenset)):
            if id(value) in _seen:
                return "<...>"
            seen = _seen | {id(value)}
            if isinstance(value, dict):
                return {
                    (k if type(k) is str else to_unicode(k)): _json_safe(v, seen, _depth + 1)
                    for k, v in list(value.items())
                }
            return [_json_safe(v, seen, _depth + 1) for v in list(value)]
        return _default(value)
    except Exception:
        return to_unicode(type(value))


def dumps(value: Any, **kwargs: Any) -> str:
    """Encode ``value``; never raises for odd types, odd keys or NaN (NaN is sent as a string).

    Keyword arguments go to :func:`json.dumps` as in raven 6.10.
    """
    kwargs.setdefault("cls", BetterJSONEncoder)
    kwargs.setdefault("separators", (",", ":"))
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except Exception:
        return json.dumps(_json_safe(value), **kwargs)


def loads(value: str | bytes, **kwargs: Any) -> Any:
    return json.loads(value, **kwargs)


def safe_encode(input: str, errors: str = "backslashreplace") -> tuple[bytes, int]:
    """UTF-8 encoding that never fails (undecodable surrogates are escaped)."""
    return input.encode("utf-8", errors), len(input)


def safe_decode(input: Any, errors: str = "replace") -> tuple[str, int]:
    """UTF-8 decoding that never fails (bad bytes become U+FFFD)."""
    return bytes(input).decode("utf-8", errors), len(input)


class Codec(codecs.Codec):
    def encode(self, input: str, errors: str = "strict") -> tuple[bytes, int]:
        return safe_encode(input)

    def decode(self, input: Any, errors: str = "strict") -> tuple[str, int]:
        return safe_decode(input)


class IncrementalEncoder(codecs.IncrementalEncoder):
    def encode(self, input: str, final: bool = False) -> bytes:
        return safe_encode(input)[0]


class IncrementalDecoder(codecs.BufferedIncrementalDecoder):
    def _buffer_decode(self, input: bytes, errors: str, final: bool) -> tuple[str, int]:  # type: ignore[override]
        return codecs.utf_8_decode(input, "replace", final)


class StreamWriter(Codec, codecs.StreamWriter):
    pass


class StreamReader(Codec, codecs.StreamReader):
    pass


def getregentry() -> codecs.CodecInfo:
    """The ``safe-utf-8`` codec that 6.10 registered (UTF-8 that never raises)."""
    return codecs.CodecInfo(
        name="safe-utf-8",
        encode=Codec().encode,
        decode=Codec().decode,
        incrementalencoder=IncrementalEncoder,
        incrementaldecoder=IncrementalDecoder,
        streamreader=StreamReader,
        streamwriter=StreamWriter,
    )


def _search(name: str) -> codecs.CodecInfo | None:
    return getregentry() if name in ("safe_utf_8", "safe-utf-8") else None


codecs.register(_search)
