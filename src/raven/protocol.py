"""The wire format: JSON body, gzip, and the ``X-Sentry-Auth`` header.

raven 6.10 sent zlib data labelled ``Content-Encoding: deflate``, which HTTP servers are free
to read as raw deflate; Bugsink does, and refuses every 6.10 event with a 400. gzip means one
thing everywhere, so that is what we send.
"""

from __future__ import annotations

import time
import zlib
from datetime import datetime, timedelta, timezone
from itertools import repeat
from operator import is_

from raven.utils.encoding import to_unicode

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Optional, Tuple

__all__ = [
    "CONTENT_ENCODING",
    "CONTENT_TYPE",
    "ENVELOPE_CONTENT_TYPE",
    "auth_header",
    "client_report",
    "compress",
    "content_encoding",
    "decode",
    "dumps",
    "encode",
    "envelope",
    "envelope_event_json",
    "parse_envelope",
    "to_wire",
]

CONTENT_ENCODING = "gzip"
CONTENT_TYPE = "application/json"
#: gzip level: 1 costs half the CPU of zlib's default (6) for bodies ~7 % larger
#: (event JSON is repetitive)
COMPRESS_LEVEL = 1
#: bodies smaller than this go uncompressed: setting up a gzip stream costs more CPU (10-30 µs)
#: than the few hundred bytes it would save
COMPRESS_MIN_SIZE = 2048

#: ``(one_shot, encoder)``, made by the first :func:`dumps`: importing ``json`` is about 5 % of
#: raven's start-up, and a process that captures nothing never needs it
_encoders: Any = None


def _make_encoders() -> Any:
    global _encoders
    import json

    from raven.utils.json import _default

    # no circular check: serialized events are trees; a cycle in raw ``data`` ends in
    # RecursionError, and :func:`dumps` then encodes a cycle-free copy
    encoder = json.JSONEncoder(
        default=_default,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        check_circular=False,
    )
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is not None:
        # the C encoder behind ``encoder``, built once (``JSONEncoder.encode`` builds it per call)
        one_shot = c_make_encoder(
            None,
            _default,
            json.encoder.c_encode_basestring,  # type: ignore[attr-defined]
            None,
            ":",
            ",",
            False,
            False,
            False,
        )
    else:  # pragma: no cover - CPython always has it

        def one_shot(data: Any, _indent: int) -> Any:
            return [encoder.encode(data)]

    _encoders = (one_shot, encoder)
    return _encoders


if TYPE_CHECKING:
    import json as json  # what ``protocol.json`` is, for type checkers
else:

    def __getattr__(name: str) -> Any:
        """``protocol.json`` (``raven.transport.delivery`` reads it): the module, imported when
        first asked for (see ``_encoders``)."""
        if name == "json":
            import json

            return json
        raise AttributeError("module %r has no attribute %r" % (__name__, name))


def dumps(data: Any) -> bytes:
    """UTF-8 JSON of an event; odd types, NaN, bad keys and lone surrogates never fail it."""
    one_shot, encoder = _encoders or _make_encoders()
    try:
        text = "".join(one_shot(data, 0))
    except Exception:  # odd raw data (huge ints, raising iterators): encode a safe copy
        from raven.utils.json import _json_safe

        text = encoder.encode(_json_safe(data))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from the app's strings
        return text.encode("utf-8", "replace")


def _gzip(data: bytes, level: int = COMPRESS_LEVEL) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


#: logging levels as the names the event schema accepts
_LEVEL_NAMES = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "fatal"}
#: 6.10 spellings the schema does not know
_LEVEL_ALIASES = {
    "warn": "warning",
    "critical": "fatal",
    "exception": "error",
    "notset": "debug",
    "notice": "info",  # Logbook
    "trace": "debug",  # Logbook
}


def _level_name(level: Any) -> Any:
    if isinstance(level, int) and not isinstance(level, bool):
        if level in _LEVEL_NAMES:
            return _LEVEL_NAMES[level]
        # custom numeric levels: the nearest standard one at or below
        return _LEVEL_NAMES[max(10, min(50, level // 10 * 10))]
    if isinstance(level, str):
        lowered = level.lower()
        return _LEVEL_ALIASES.get(lowered, lowered)
    return level


_CRUMB_LEVELS = frozenset(("debug", "info", "warning", "error", "fatal", None))


def _crumb_level(level: Any) -> Any:
    """A breadcrumb level the schema accepts (``notice`` → info, ``warn`` → warning, 5 → debug)."""
    if isinstance(level, str):
        try:
            level = int(level)
        except ValueError:
            name = _LEVEL_ALIASES.get(level.lower(), level.lower())
            return name if name in _CRUMB_LEVELS else "info"
    name = _level_name(level)
    return name if name in _CRUMB_LEVELS else "info"


#: the keys of the event schema's user interface; others go under ``user.data``
_USER_KEYS = frozenset(
    ("id", "email", "ip_address", "username", "name", "geo", "segment", "sentry_user", "data")
)


def to_wire(data: Dict[str, Any]) -> Dict[str, Any]:
    """The event as it goes on the wire: the current event schema, which every server reads.

    The dict handed to ``Client.send`` keeps raven 6.10's shape (code inspects it); on the
    wire, the legacy spellings become what Relay would turn them into on ingest, so servers
    that validate against the schema (Bugsink in strict mode drops invalid events) keep them:

    - ``level`` 40 → ``"error"`` (numeric logging levels → names);
    - ``sentry.interfaces.Message`` → ``logentry``; a bare ``message`` → ``logentry.formatted``;
    - ``sentry.interfaces.Query`` (``captureQuery``) → a ``query`` context, and ``template``
      / ``sentry.interfaces.Template`` (Django template errors) → a ``template`` context
      (Relay drops these interfaces; strict servers drop the whole event);
    - ``project``, ``time_spent`` and empty ``repos`` are left out; ``user.id`` becomes text,
      and user keys the schema does not name (``is_authenticated``) move under ``user.data``;
    - an exception without a traceback (a group member never raised) has no frames, and Relay
      rejects an empty frame list, so its ``stacktrace`` is left out.
    """
    out = dict(data)
    if "level" in out:
        level = out["level"]
        # the usual logging levels without a call
        known = type(level) is int and _LEVEL_NAMES.get(level)
        out["level"] = known or _level_name(level)
    timestamp = out.get("timestamp")
    if type(timestamp) is datetime and timestamp.tzinfo is None:
        # formatted here: cheaper than the JSON encoder's call back into Python
        out["timestamp"] = _timestamp_text(timestamp)
    # keys 6.10 sent that no current server reads (the project is in the URL)
    out.pop("project", None)
    out.pop("time_spent", None)
    if "repos" in out and not out["repos"]:
        del out["repos"]

    logentry = out.pop("sentry.interfaces.Message", None)
    message = out.pop("message", None)
    if isinstance(logentry, dict):
        if any(map(is_, logentry.values(), repeat(None))):
            entry = {k: v for k, v in logentry.items() if v is not None}
        else:  # nothing to leave out: a plain copy (``is`` runs no code of the values)
            entry = dict(logentry)
        if not entry.get("params"):
            entry.pop("params", None)
        if "formatted" not in entry and message and message != entry.get("message"):
            entry["formatted"] = message
        out.setdefault("logentry", entry)
    elif message and "logentry" not in out:
        out["logentry"] = {"formatted": message}

    user = out.get("user")
    if isinstance(user, dict) and "id" in user and not isinstance(user["id"], str):
        user = out["user"] = dict(user, id=None if user["id"] is None else to_unicode(user["id"]))
    if isinstance(user, dict) and not _USER_KEYS.issuperset(user):
        # 6.10 integrations put their own keys there (Tornado's is_authenticated); Relay
        # keeps such keys under user.data, and a schema-checking server refuses them outside
        data = dict(user["data"]) if isinstance(user.get("data"), dict) else {}
        data.update((k, v) for k, v in user.items() if k not in _USER_KEYS)
        out["user"] = {k: v for k, v in user.items() if k in _USER_KEYS}
        out["user"]["data"] = data

    crumbs = out.get("breadcrumbs")
    if isinstance(crumbs, dict) and isinstance(crumbs.get("values"), list):
        values = crumbs["values"]
        if any(isinstance(c, dict) and c.get("level") not in _CRUMB_LEVELS for c in values):
            out["breadcrumbs"] = dict(
                crumbs,
                values=[
                    dict(c, level=_crumb_level(c.get("level")))
                    if isinstance(c, dict) and c.get("level") not in _CRUMB_LEVELS
                    else c
                    for c in values
                ],
            )

    exception = out.get("exception")
    if isinstance(exception, dict) and isinstance(exception.get("values"), list):
        values = exception["values"]
        if any(_empty_stacktrace(v) for v in values):
            out["exception"] = dict(
                exception,
                values=[
                    {k: v for k, v in value.items() if k != "stacktrace"}
                    if _empty_stacktrace(value)
                    else value
                    for value in values
                ],
            )
    # checked with ``in`` first: no method call for these keys, which are seldom there
    query = out.pop("sentry.interfaces.Query", None) if "sentry.interfaces.Query" in out else None
    if query is not None:
        contexts = dict(out.get("contexts") or {})
        contexts["query"] = (
            dict(query, type="query") if isinstance(query, dict) else {"query": query}
        )
        out["contexts"] = contexts
    for key in ("template", "sentry.interfaces.Template"):
        if key not in out:
            continue
        template = out.pop(key)
        if isinstance(template, dict):
            contexts = dict(out.get("contexts") or {})
            contexts.setdefault("template", dict(template, type="template"))
            out["contexts"] = contexts
    return out


#: (start, end, text) of the last second formatted: events come many to a second, and
#: comparing naive datetimes is a fraction of the cost of formatting one
_last_second: Tuple[datetime, datetime, str] = (datetime.min, datetime.min, "")
_ONE_SECOND = timedelta(seconds=1)


def _timestamp_text(timestamp: datetime) -> str:
    """``2024-05-06T07:08:09Z``: a naive UTC datetime to the second, as the schema wants it."""
    global _last_second
    start, end, text = _last_second
    if start <= timestamp < end:
        return text
    start = timestamp.replace(microsecond=0)
    # the first 19 characters are the seconds' ``isoformat`` (slower to ask for by keyword)
    text = start.isoformat()[:19] + "Z"
    if start < datetime.max - _ONE_SECOND:
        _last_second = (start, start + _ONE_SECOND, text)
    return text


def _empty_stacktrace(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    stacktrace = value.get("stacktrace")
    return isinstance(stacktrace, dict) and not stacktrace.get("frames")


#: what a server takes for one event (Sentry's limits; larger events are answered with 413)
MAX_EVENT_JSON = 1_000_000
MAX_EVENT_BODY = 200_000
#: JSON up to this size is under both limits whatever gzip makes of it (it grows incompressible
#: data by a few bytes at most)
_SURELY_FITS = MAX_EVENT_BODY - 1024


def encode(data: Dict[str, Any], level: int = COMPRESS_LEVEL) -> bytes:
    """The store request body for an event: its JSON, gzip-compressed unless it is small.

    An event over the server's size limits is trimmed until it fits (see
    :mod:`raven._core.budget`), instead of being refused with a 413.
    """
    wire = to_wire(data)
    json_bytes = dumps(wire)
    # the common case inline (no trimming, and a small body is not compressed): it is what
    # a subclass's ``send()`` calling ``encode()`` pays per event
    body = json_bytes if len(json_bytes) < COMPRESS_MIN_SIZE else _gzip(json_bytes, level)
    if len(json_bytes) <= MAX_EVENT_JSON and len(body) <= MAX_EVENT_BODY:
        return body
    return _fit(wire, lambda j: compress(j, level), None, json_bytes, body)


def encode_wire(
    wire: Dict[str, Any], shrink_from: Optional[bytes] = None, level: int = COMPRESS_LEVEL
) -> bytes:
    """Store body for an event already in wire form; ``shrink_from``: a body to halve (413)."""
    return _fit(wire, lambda j: compress(j, level), shrink_from)


def encode_json(data: Dict[str, Any]) -> bytes:
    """The event's JSON, within the server's limits, not compressed.

    This is what the capturing thread produces: compression runs on the delivery worker,
    because zlib releases the GIL and hands it to the sending thread mid-capture.
    """
    wire = to_wire(data)
    json_bytes = dumps(wire)
    if len(json_bytes) <= _SURELY_FITS:
        return json_bytes
    return _fit_json(wire)


def encode_envelope_json(data: Dict[str, Any], event_id: Optional[str] = None) -> bytes:
    """An envelope with the event (as :func:`encode_json`), not compressed."""
    return envelope(encode_json(data), event_id or data.get("event_id"), sent_at=time.time())


def _fit_json(wire: Dict[str, Any]) -> bytes:
    from raven._core.budget import fit

    return fit(wire, dumps, compress, max_json=MAX_EVENT_JSON, max_body=MAX_EVENT_BODY).json


def encode_envelope(data: Dict[str, Any], event_id: Optional[str] = None) -> bytes:
    """The envelope request body for an event (one ``event`` item), compressed when large."""
    return encode_envelope_event(to_wire(data), event_id=event_id)


def encode_envelope_event(
    wire: Dict[str, Any], shrink_from: Optional[bytes] = None, event_id: Optional[str] = None
) -> bytes:
    event_id = event_id or wire.get("event_id")
    sent_at = time.time()
    return _fit(wire, lambda j: compress(envelope(j, event_id, sent_at=sent_at)), shrink_from)


def _fit(
    wire: Dict[str, Any],
    to_body: Any,
    shrink_from: Optional[bytes],
    json_bytes: Optional[bytes] = None,
    body: Optional[bytes] = None,
) -> bytes:
    if json_bytes is None or body is None:
        json_bytes = dumps(wire)
        body = to_body(json_bytes)
    if shrink_from is None:
        if len(json_bytes) <= MAX_EVENT_JSON and len(body) <= MAX_EVENT_BODY:
            return body  # the common case: no trimming machinery at all
        max_json, max_body = MAX_EVENT_JSON, MAX_EVENT_BODY
    else:  # the server refused ``shrink_from`` as too large: its limits are lower than ours
        max_json, max_body = len(json_bytes) // 2, len(shrink_from) // 2
    from raven._core.budget import fit

    return fit(wire, dumps, to_body, max_json=max_json, max_body=max_body).body


ENVELOPE_CONTENT_TYPE = "application/x-sentry-envelope"


def compress(body: bytes, level: int = COMPRESS_LEVEL) -> bytes:
    """gzip ``body`` unless it is too small to be worth it (see :data:`COMPRESS_MIN_SIZE`)."""
    if len(body) < COMPRESS_MIN_SIZE:
        return body
    return _gzip(body, level)


def envelope(
    event_json: Optional[bytes],
    event_id: Optional[str] = None,
    items: Tuple[Tuple[str, bytes], ...] = (),
    sent_at: Optional[float] = None,
) -> bytes:
    """An envelope (uncompressed): header line, then ``event`` and other items with lengths.

    Items carry an explicit ``length``, so payloads never need escaping of newlines.
    """
    import json  # already imported by then, or on first use (see ``_encoders``)

    header: Dict[str, Any] = {}
    if event_id:
        header["event_id"] = event_id
    if sent_at is not None:
        header["sent_at"] = _iso(sent_at)
    parts = [json.dumps(header, separators=(",", ":")).encode("ascii")]
    if event_json is not None:
        parts.append(_item_header("event", len(event_json)))
        parts.append(event_json)
    for item_type, payload in items:
        parts.append(_item_header(item_type, len(payload)))
        parts.append(payload)
    return b"\n".join(parts) + b"\n"


def _item_header(item_type: str, length: int) -> bytes:
    return (
        '{"type":"%s","length":%d,"content_type":"application/json"}' % (item_type, length)
    ).encode("ascii")


def _iso(timestamp: float) -> str:
    return (
        datetime.fromtimestamp(timestamp, timezone.utc)
        .replace(tzinfo=None)
        .isoformat(timespec="milliseconds")
        + "Z"
    )


def client_report(discarded: Dict[Tuple[str, str], int], timestamp: float) -> bytes:
    """A ``client_report`` item payload: what was dropped, by reason and category."""
    return dumps(
        {
            "timestamp": _iso(timestamp),
            "discarded_events": [
                {"reason": reason, "category": category, "quantity": quantity}
                for (reason, category), quantity in sorted(discarded.items())
                if quantity > 0
            ],
        }
    )


def parse_envelope(body: bytes) -> Tuple[Dict[str, Any], list]:
    """``(header, [(item_header, payload), …])`` of an envelope (compressed or not)."""
    import json  # already imported by then, or on first use (see ``_encoders``)

    body = _inflate(body)
    header_line, _, rest = body.partition(b"\n")
    header = json.loads(header_line or b"{}")
    items = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        if not item_line.strip():
            continue
        item_header = json.loads(item_line)
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length:]
            if rest[:1] == b"\n":
                rest = rest[1:]
        items.append((item_header, payload))
    return header, items


def envelope_event_json(body: bytes) -> Optional[bytes]:
    """The JSON of the ``event`` item in an envelope body, or None when it has none."""
    for item_header, payload in parse_envelope(body)[1]:
        if item_header.get("type") == "event":
            return bytes(payload)
    return None


def _inflate(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return zlib.decompress(data, 31)
    return data


def content_encoding(body: bytes) -> Optional[str]:
    """The ``Content-Encoding`` for a body made by :func:`encode` (None: not compressed)."""
    if body[:2] == b"\x1f\x8b":
        return "gzip"
    if body[:1] in (b"{", b"["):
        return None
    return "deflate"  # a zlib body, as raven 6.10's encode() made


def decode(data: bytes) -> Any:
    """Inverse of :func:`encode`; also reads 6.10's zlib bodies, plain JSON and envelopes
    (giving the event of an envelope)."""
    import json  # already imported by then, or on first use (see ``_encoders``)

    if data[:2] == b"\x1f\x8b":
        data = zlib.decompress(data, 31)
    elif data[:1] not in (b"{", b"["):
        data = zlib.decompress(data)
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError:
        event_json = envelope_event_json(data) if b"\n" in data else None
        if event_json is None:
            raise
        return json.loads(event_json.decode("utf-8"))


def auth_header(
    timestamp: float,
    client: str,
    public_key: Optional[str],
    secret_key: Optional[str] = None,
    protocol: str = "6",
) -> str:
    """``Sentry sentry_timestamp=…, sentry_client=…, sentry_version=…, sentry_key=…[, secret]``."""
    parts = "Sentry sentry_timestamp=%s, sentry_client=%s, sentry_version=%s, sentry_key=%s" % (
        timestamp,
        client,
        protocol,
        public_key,
    )
    if secret_key:
        parts += ", sentry_secret=%s" % secret_key
    return parts
