"""Event processors: scrub or trim an event before it leaves the process.

raven 6.10's ``Processor(client).process(data)`` classes keep working (and the dotted-path
``processors`` option). The built-in scrubbers now reach every part of an event: 6.10 skipped
the locals of ``stack=True`` messages, the user, breadcrumbs and message text.
"""

from __future__ import annotations

import re
import warnings

from raven._core.memo import TextListMemo
from raven._core.plain import MAX_CONTAINERS
from raven._core.walk import prescrubbed_stacktraces
from raven.utils import varmap

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Iterable, Optional

if TYPE_CHECKING:  # pragma: no cover
    from raven.base import Client


__all__ = [
    "Processor",
    "RemovePostDataProcessor",
    "RemoveStackLocalsProcessor",
    "SanitizeKeysProcessor",
    "SanitizePasswordsProcessor",
]


class Processor:
    """Base class: override the ``filter_*`` hooks (or ``get_data``) of the parts you change."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get_data(self, data: Dict[str, Any], **kwargs: Any) -> Optional[Dict[str, Any]]:
        return None

    def process(self, data: Dict[str, Any], **kwargs: Any) -> Dict[str, Any]:
        resp = self.get_data(data, **kwargs)
        if resp:
            data = resp
        get = data.get
        exception = get("exception")
        if exception is not None and isinstance(exception, dict):
            for value in exception.get("values") or ():
                if isinstance(value, dict) and isinstance(value.get("stacktrace"), dict):
                    self.filter_stacktrace(value["stacktrace"])
        stacktrace = get("stacktrace")
        if stacktrace is not None and isinstance(stacktrace, dict):
            self.filter_stacktrace(stacktrace)
        request = get("request")
        if request is not None and isinstance(request, dict):
            self.filter_http(request)
        if "extra" in data:
            data["extra"] = self.filter_extra(data["extra"])
        user = get("user")
        if user is not None and isinstance(user, dict):
            data["user"] = self.filter_user(user)
        crumbs = get("breadcrumbs")
        if (
            crumbs is not None
            and isinstance(crumbs, dict)
            and isinstance(crumbs.get("values"), list)
        ):
            crumbs["values"] = self.filter_breadcrumbs(crumbs["values"])
        return data

    def filter_stacktrace(self, data: Dict[str, Any]) -> None:
        """Edit a ``{'frames': [...]}`` stacktrace in place."""

    def filter_http(self, data: Dict[str, Any]) -> None:
        """Edit the request interface in place."""

    def filter_extra(self, data: Any) -> Any:
        """Return the new ``extra``."""
        return data

    def filter_user(self, data: Dict[str, Any]) -> Dict[str, Any]:
        """Return the new ``user``.

        .. versionadded:: 7.0
        """
        return data

    def filter_breadcrumbs(self, crumbs: Any) -> Any:
        """Return the new list of breadcrumbs.

        .. versionadded:: 7.0
        """
        return crumbs


class RemovePostDataProcessor(Processor):
    """Removes HTTP post data."""

    def filter_http(self, data: Dict[str, Any], **kwargs: Any) -> None:
        data.pop("data", None)


class RemoveStackLocalsProcessor(Processor):
    """Removes local variables from every stack trace."""

    def filter_stacktrace(self, data: Dict[str, Any], **kwargs: Any) -> None:
        for frame in data.get("frames") or ():
            if isinstance(frame, dict):
                frame.pop("vars", None)


#: 13–16 digits, optionally separated by spaces or dashes (raven 6.10's card pattern)
_CARD_RE = re.compile(r"^(?:\d[ -]*?){13,16}$")
_BEARER_PATTERN = r"(?i)\b(bearer|token)(\s+)[A-Za-z0-9\-._~+/]{8,}=*"
_PEM_PATTERN = r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"


_compiled: Dict[str, Any] = {}


def _bearer_re() -> Any:
    """Compiled on first use: compiling costs about a millisecond of every process's start-up,
    and most processes never see a text with a token in it."""
    pattern = _compiled.get("bearer")
    if pattern is None:
        pattern = _compiled["bearer"] = re.compile(_BEARER_PATTERN)
    return pattern


def _pem_re() -> Any:
    pattern = _compiled.get("pem")
    if pattern is None:
        pattern = _compiled["pem"] = re.compile(_PEM_PATTERN, re.S)
    return pattern


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class SanitizeKeysProcessor(Processor):
    """Masks values whose key contains one of the client's ``sanitize_keys`` (case-insensitive)."""

    MASK = "*" * 8

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self._key_cache: Dict[Any, bool] = {}

    @property
    def sanitize_keys(self) -> Iterable[str]:
        keys = getattr(self.client, "sanitize_keys", None)
        if keys is None:
            raise ValueError(
                "The sanitize_keys setting must be present to use SanitizeKeysProcessor"
            )
        return keys

    def _key_matches(self, item: Any) -> bool:
        hit = self._key_cache.get(item)
        if hit is None:
            try:
                text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
            except Exception:  # a key whose __str__ raises names nothing we know
                return False
            text = text.lower()
            hit = any(key in text for key in self.sanitize_keys)
            if len(self._key_cache) > 10000:
                self._key_cache.clear()
            self._key_cache[item] = hit
        return hit

    def sanitize(self, item: Any, value: Any) -> Any:
        if value is None:
            return None
        if not item:  # the key can be None (the top of a structure)
            return value
        try:
            if self._key_matches(item):
                return self.MASK
        except TypeError:  # an unhashable key
            pass
        return value

    def locals_scrubber(self) -> Any:
        """``(key_matches, scrub_text, mask)`` for the serializer to apply to locals as it walks.

        None when a subclass overrides ``sanitize`` (its own rule then runs afterwards).
        """
        if self._fast_scrubber() is None:
            return None
        scrub_text = self.scrub_text if isinstance(self, SanitizePasswordsProcessor) else None
        return (self._key_matches, scrub_text, self.MASK)

    def filter_stacktrace(self, data: Dict[str, Any]) -> None:
        if id(data) in prescrubbed_stacktraces.get():
            # values were scrubbed during serialization; only the variable names remain
            for frame in data.get("frames") or ():
                f_vars = frame.get("vars") if isinstance(frame, dict) else None
                if f_vars:
                    for name in list(f_vars):
                        if name and f_vars[name] is not None and self._key_matches(name):
                            f_vars[name] = self.MASK
            return
        fast = self._fast_scrubber()
        for frame in data.get("frames") or ():
            if isinstance(frame, dict) and "vars" in frame:
                if fast is not None:
                    frame["vars"] = fast(frame["vars"])
                else:
                    frame["vars"] = varmap(self.sanitize, frame["vars"])

    def _fast_scrubber(self) -> Any:
        """A top-down walk equal to ``varmap(self.sanitize, …)`` over serialized (acyclic) data.

        Frame locals are the bulk of an event; this skips varmap's per-node bookkeeping. Only
        used while ``sanitize`` is not overridden by a subclass (then varmap runs as in 6.10).
        """
        cached = self.__dict__.get("_fast")
        if cached is not None:
            return cached or None
        if type(self).sanitize not in (
            SanitizeKeysProcessor.sanitize,
            SanitizePasswordsProcessor.sanitize,
        ):
            self._fast: Any = False
            return None
        key_matches = self._key_matches
        mask = self.MASK
        scrub_text = self.scrub_text if isinstance(self, SanitizePasswordsProcessor) else None

        def scrub(value: Any, depth: int = 0, path: Any = None, budget: Any = None) -> Any:
            t = type(value)
            if t is str:
                return scrub_text(value) if scrub_text is not None and len(value) >= 13 else value
            if depth < 50 and (
                t is dict
                or t is list
                or t is tuple
                or isinstance(value, (dict, list))
                or (isinstance(value, tuple) and not hasattr(value, "_fields"))
            ):
                # like varmap: a container met again on its own path is a cycle
                if path is None:
                    path = set()
                    budget = [MAX_CONTAINERS]
                vid = id(value)
                if vid in path:
                    return "<...>"
                budget[0] -= 1
                if budget[0] < 0:
                    # a structure sharing its parts can be exponential to walk; what is not
                    # scrubbed is not sent (the serializer would cut it off anyway)
                    return "<...>"
                path.add(vid)
                if isinstance(value, dict):
                    out: Any = {}
                    for k, v in value.items():
                        if v is None:
                            out[k] = None
                        elif k and key_matches(k):
                            out[k] = mask
                        else:
                            out[k] = scrub(v, depth + 1, path, budget)
                else:
                    # short strings inline: they can hold no card number, token or key
                    out = [
                        v if type(v) is str and len(v) < 13 else scrub(v, depth + 1, path, budget)
                        for v in value
                    ]
                path.discard(vid)
                return out
            return value

        self._fast = scrub
        return scrub

    def filter_http(self, data: Dict[str, Any]) -> None:
        for n in ("data", "cookies", "headers", "env", "query_string"):
            if n not in data:
                continue
            try:
                self._filter_http_field(data, n)
            except Exception:
                # a field we cannot walk (too deep, iteration raises) is not sent as it was
                data[n] = "<%s: could not be scrubbed>" % type(data[n]).__name__

    def _filter_http_field(self, data: Dict[str, Any], n: str) -> None:
        value = data[n]
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and "=" in value:
            # a query string, form body or cookie header
            data[n] = self._sanitize_keyvals(value, ";" if n == "cookies" else "&")
        else:
            value = varmap(self.sanitize, value)
            if n == "headers" and isinstance(value, dict):
                for name in list(value):
                    if (
                        isinstance(name, str)
                        and name.lower() == "cookie"
                        and isinstance(value[name], str)
                    ):
                        value[name] = self._sanitize_keyvals(value[name], ";")
            data[n] = value

    def _scrub_tree(self, data: Any) -> Any:
        self.sanitize_keys  # noqa: B018  (a missing setting is a configuration error: raise it)
        fast = self._fast_scrubber()
        if fast is None or type(data) is not dict:
            try:
                return fast(data) if fast is not None else varmap(self.sanitize, data)
            except Exception:
                # data we cannot walk (iteration raises, too deep) is not sent unscrubbed
                return "<%s: could not be scrubbed>" % type(data).__name__
        # item by item, so one hostile value costs only itself
        key_matches = self._key_matches
        key_cache = self._key_cache  # _key_matches' own cache, read here without the call
        out: Dict[Any, Any] = {}
        for key, value in data.items():
            t = type(value)
            if value is None or t is int or t is bool or (t is str and len(value) < 13):
                leaf = True  # nothing inside to scrub: only the key can mask it
            else:
                leaf = False
            if value is not None and key:
                hit = key_cache.get(key)
                if hit is None:
                    hit = key_matches(key)
            else:
                hit = False
            if hit:
                out[key] = self.MASK
            elif leaf:
                out[key] = value
            else:
                try:
                    if t is list or t is tuple:
                        out[key] = list(self._text_lists(value))  # a copy: lists are mutable
                    else:
                        out[key] = fast(value)
                except Exception:
                    out[key] = "<%s: could not be scrubbed>" % t.__name__
        return out

    @property
    def _text_lists(self) -> TextListMemo:
        """``tuple(fast(value))`` for lists of text, kept (``sys.argv`` is in every event)."""
        memo = self.__dict__.get("_text_list_memo")
        if memo is None:
            fast = self._fast_scrubber()
            memo = self._text_list_memo = TextListMemo(lambda value: tuple(fast(value)))
        return memo

    def filter_extra(self, data: Any) -> Any:
        return self._scrub_tree(data)

    def filter_user(self, data: Dict[str, Any]) -> Dict[str, Any]:
        return self._scrub_tree(data)

    def filter_breadcrumbs(self, crumbs: Any) -> Any:
        for crumb in crumbs:
            if isinstance(crumb, dict) and crumb.get("data") is not None:
                crumb["data"] = self._scrub_tree(crumb["data"])
        return crumbs

    def _sanitize_keyvals(self, keyvals: str, delimiter: str) -> str:
        out = []
        for keyval in keyvals.split(delimiter):
            key, sep, val = keyval.partition("=")
            if sep:
                # strip the spaces of "a=1; b=2" for the key test only
                masked = self.sanitize(key.strip(), val)
                out.append(key + sep + (masked if isinstance(masked, str) else val))
            else:
                out.append(keyval)
        return delimiter.join(out)


class SanitizePasswordsProcessor(SanitizeKeysProcessor):
    """The default processor: masks secrets by key name and by what the value looks like.

    Keys: those in :attr:`KEYS` (substring match). Values: card numbers (13–16 digits that
    pass the Luhn check, also inside 6.10's repr quotes), bearer/token credentials in text, and
    PEM private keys. Message text and breadcrumbs are scrubbed by value too.
    """

    KEYS = frozenset(
        [
            "password",
            "secret",
            "passwd",
            "authorization",
            "api_key",
            "apikey",
            "sentry_dsn",
            "access_token",
            # beyond 6.10: the usual carriers of credentials
            "cookie",
            "token",
            "csrf",
            "xsrf",
            "sessionid",
            "session_id",
            "private_key",
            "privatekey",
            "credential",
        ]
    )
    VALUES_RE = _CARD_RE

    @property
    def sanitize_keys(self) -> Iterable[str]:
        return self.KEYS

    @property
    def FIELDS(self) -> Iterable[str]:
        warnings.warn(
            "`SanitizePasswordsProcessor.FIELDS` has been deprecated. Use "
            "`SanitizePasswordsProcessor.KEYS` or `SanitizePasswordsProcessor.sanitize_keys` "
            "instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.KEYS

    def sanitize(self, item: Any, value: Any) -> Any:
        value = super().sanitize(item, value)
        if type(value) is str and value:
            return self.scrub_text(value)
        return value

    def scrub_text(self, value: str) -> str:
        """Mask card numbers, bearer tokens and private keys found in a text value."""
        if len(value) < 13:  # shorter than any of the patterns
            return value
        inner = (
            value[1:-1] if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"" else value
        )
        if 13 <= len(inner) <= 40 and "0" <= inner[0] <= "9" and self.VALUES_RE.match(inner):
            digits = inner.replace(" ", "").replace("-", "")
            if _luhn_ok(digits):
                return self.MASK
        if "earer" in value or "EARER" in value or "oken" in value or "OKEN" in value:
            value = _bearer_re().sub(lambda m: m.group(1) + m.group(2) + self.MASK, value)
        if "PRIVATE KEY-----" in value:
            value = _pem_re().sub(self.MASK, value)
        return value

    def process(self, data: Dict[str, Any], **kwargs: Any) -> Dict[str, Any]:
        data = super().process(data, **kwargs)
        # texts shorter than 13 characters hold nothing our scrub_text masks: not even called
        # (an override of scrub_text still sees every text)
        min_len = 13 if type(self).scrub_text is SanitizePasswordsProcessor.scrub_text else 0
        message = data.get("message")
        if type(message) is str and message and len(message) >= min_len:
            data["message"] = self.scrub_text(message)
        logentry = data.get("sentry.interfaces.Message")
        if isinstance(logentry, dict):
            for key in ("message", "formatted"):
                text = logentry.get(key)
                if type(text) is str and len(text) >= min_len:
                    logentry[key] = self.scrub_text(text)
        return data

    def filter_breadcrumbs(self, crumbs: Any) -> Any:
        crumbs = super().filter_breadcrumbs(crumbs)
        for crumb in crumbs:
            if isinstance(crumb, dict) and type(crumb.get("message")) is str:
                crumb["message"] = self.scrub_text(crumb["message"])
        return crumbs
