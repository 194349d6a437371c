"""``raven.Client``: the public API, orchestrating capture, build, processing and sending.

The stages themselves live in their own modules (events, stacks, serializer, processors,
protocol, transport); the client wires them together and guards the host application: no
capture call raises into app code (unless ``raise_send_errors=True``), and every event that
is not sent is counted in :attr:`Client.stats` with a reason.

raven 6.10's tests patch ``raven.base.time``, ``Client.send_remote`` and
``ClientState.should_try``: they are looked up here at call time.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

import raven
from raven import protocol
from raven._core.options import ClientOptions
from raven._core.plain import plain
from raven._core.stats import ClientStats
from raven._core.walk import prescrubbed_stacktraces
from raven.conf.remote import RemoteConfig, transport_accepts
from raven.exceptions import APIError, RateLimited
from raven.transport.registry import default_transports
from raven.utils import get_auth_header, merge_dicts
from raven.utils.encoding import to_unicode
from raven.utils.serializer.manager import client_walker
from raven.utils.stacks import get_stack_info, iter_stack_frames
from raven.utils.transaction import TransactionStack

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

    ExcInfo = Tuple[Any, Any, Any]

__all__ = ("Client",)

#: serialises building a client's delivery (and so its transport) on first use
_build_lock = threading.RLock()

__excepthook__: Optional[Callable[..., Any]] = None
__threading_excepthook__: Optional[Callable[..., Any]] = None

PLATFORM_NAME = "python"

SDK_VALUE = {"name": "raven-python", "version": raven.VERSION}

#: the first client created in the process (6.10 kept it for integrations to find)
Raven: Optional[Client] = None


def get_excepthook_client() -> Optional[Client]:
    """The client whose ``sys.excepthook`` is installed, if any."""
    return getattr(sys.excepthook, "raven_client", None)


#: event keys built (and bounded) by raven itself or by its processors
_BUILT_KEYS = frozenset(
    (
        "exception",
        "sentry.interfaces.Exception",
        "stacktrace",
        "sentry.interfaces.Stacktrace",
        "sentry.interfaces.Message",
        "sentry.interfaces.Query",
        "breadcrumbs",
        "extra",
        "tags",
        "request",
        "sentry.interfaces.Http",
        "user",
        "sentry.interfaces.User",
        "sdk",
        "modules",
        "repos",
        "message",
    )
)


_SCALARS = frozenset((str, int, float, bool, datetime))
#: strings in the request interface (body, headers, cookies) are cut to this many characters
REQUEST_MAX_STRING = 65536


def _bound_raw_fields(data: Dict[str, Any]) -> None:
    """Make what the caller passed raw in ``data=`` (fingerprint, culprit, contexts, custom
    keys) plain and bounded: the JSON encoder would otherwise walk it in full, and a structure
    that shares its parts takes exponential time."""
    for key in ("request", "sentry.interfaces.Http"):
        request = data.get(key)
        if isinstance(request, dict):
            # a request body of many megabytes is cut here, not after encoding it whole (the
            # server keeps 8 KB of it); scrubbed already, made JSON-safe and bounded now
            data[key] = plain(request, max_string=REQUEST_MAX_STRING, max_items=200, max_depth=8)
    # a dict's values can be replaced while iterating over it (its size does not change)
    pairs = data.items() if type(data) is dict else list(data.items())
    for key, value in pairs:
        if value is None or type(value) in _SCALARS or key in _BUILT_KEYS:
            continue
        if key == "fingerprint" and isinstance(value, (list, tuple)):
            data[key] = [v if type(v) is str else to_unicode(v) for v in value[:50]]
        elif key in ("culprit", "transaction", "logger", "server_name", "release"):
            data[key] = to_unicode(value)
        elif not isinstance(value, datetime):
            data[key] = plain(value)


#: (event_id, data category) of the event being sent, for send_remote (6.10's signature has
#: no room for them)
_event_meta: ContextVar[Tuple[Optional[str], str]] = ContextVar(
    "raven_event_meta", default=(None, "error")
)


class ModuleProxyCache(dict):
    """Dotted path -> imported object, importing on first lookup."""

    def __missing__(self, key: str) -> Any:
        module, class_name = key.rsplit(".", 1)
        handler = getattr(__import__(module, {}, {}, [class_name]), class_name)
        self[key] = handler
        return handler


class ClientState:
    """Back-off after failed sends, with raven 6.10's API (``should_try``/``set_fail``/…)."""

    ONLINE = 1
    ERROR = 0

    def __init__(self) -> None:
        self.status = self.ONLINE
        self.last_check: Optional[float] = None
        self.retry_number = 0
        self.retry_after: float = 0

    def should_try(self) -> bool:
        if self.status == self.ONLINE:
            return True
        interval = self.retry_after or min(self.retry_number, 6) ** 2
        return time.time() - (self.last_check or 0) > interval

    def set_fail(self, retry_after: float = 0) -> None:
        self.status = self.ERROR
        self.retry_number += 1
        self.last_check = time.time()
        self.retry_after = retry_after

    def set_success(self) -> None:
        self.status = self.ONLINE
        self.last_check = None
        self.retry_number = 0
        self.retry_after = 0

    def did_fail(self) -> bool:
        return self.status == self.ERROR


class _LocalState:
    """Per thread/task values of a client (``last_event_id``)."""

    __slots__ = ("_last_event_id",)

    def __init__(self) -> None:
        self._last_event_id: ContextVar[Optional[str]] = ContextVar(
            "raven_last_event_id_%x" % id(self), default=None
        )

    @property
    def last_event_id(self) -> Optional[str]:
        return self._last_event_id.get()

    @last_event_id.setter
    def last_event_id(self, value: Optional[str]) -> None:
        self._last_event_id.set(value)


class _EventIds:
    """Random version-4 UUIDs as 32 hex digits, cheaply.

    A per-process generator seeded from ``os.urandom`` (and re-seeded in a forked child, so
    workers never repeat each other's ids) costs a fraction of a syscall per id. It is made
    for the first event: importing ``random`` is 5-10 % of raven's import time.
    """

    _CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
    _SET = (0x4000 << 64) | (0x8000 << 48)

    def __init__(self) -> None:
        self._bits: Any = None
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        """Forget the generator: the next id comes from a new one, seeded afresh."""
        self._bits = None

    def __call__(self) -> str:
        bits = self._bits
        if bits is None:  # two threads racing here each get a good generator; one is kept
            bits = self._bits = _SystemSeededBits(int.from_bytes(os.urandom(32), "big")).getrandbits
        return "%032x" % ((bits(128) & self._CLEAR) | self._SET)


def _SystemSeededBits(seed: int) -> Any:
    from random import Random

    return Random(seed)


_new_event_id = _EventIds()
_EPOCH = datetime(1970, 1, 1)


def _utcnow() -> datetime:
    """Naive UTC now (``datetime.utcnow()`` is deprecated from Python 3.12).

    Whole microseconds: ``timedelta`` is cheaper to build from an int than from float seconds.
    """
    return _EPOCH + timedelta(0, 0, time.time_ns() // 1000)


def _is_exception_spec(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(isinstance(v, type) and issubclass(v, BaseException) for v in value)
    return isinstance(value, type) and issubclass(value, BaseException)


class Client:
    """Captures exceptions and messages and sends them to Sentry.

    Args:
        dsn: where to send events; ``SENTRY_DSN`` from the environment when not given. Without
            one the client is disabled and capture calls return None.
        raise_send_errors: let send errors reach the caller (off: they are logged and counted).
        transport: a transport class, or an instance, instead of the DSN scheme's.
        install_sys_hook: capture uncaught exceptions (``sys.excepthook`` and
            ``threading.excepthook``).
        install_logging_hook: record a breadcrumb for each log record.
        hook_libraries: library hooks for breadcrumbs (None: all; ``[]``: none).
        enable_breadcrumbs: attach breadcrumbs to events.
        **options: see ``docs/options.md`` (``release``, ``environment``, ``tags``,
            ``sample_rate``, ``ignore_exceptions``, ``include_paths``, ``processors``, …).
    """

    logger = logging.getLogger("raven")
    protocol_version = "6"

    _registry = default_transports

    def __init__(
        self,
        dsn: Optional[str] = None,
        raise_send_errors: bool = False,
        transport: Any = None,
        install_sys_hook: bool = True,
        install_logging_hook: bool = True,
        hook_libraries: Optional[Sequence[str]] = None,
        enable_breadcrumbs: bool = True,
        _random_seed: Optional[int] = None,
        **options: Any,
    ) -> None:
        global Raven
        cls = self.__class__
        self._local_state = _LocalState()
        self.raise_send_errors = raise_send_errors
        self.state = ClientState()
        self.stats = ClientStats()
        self.logger = logging.getLogger("%s.%s" % (cls.__module__, cls.__name__))
        self.error_logger = logging.getLogger("sentry.errors")
        self.uncaught_logger = logging.getLogger("sentry.errors.uncaught")

        o = ClientOptions.parse(options)
        self.options = o
        self._transport_cache: Dict[Any, RemoteConfig] = {}
        self._client_timeout = options.get("timeout")
        self._delivery_kwargs = options
        self._deliveries: Dict[int, Any] = {}
        self.set_dsn(dsn, transport)

        self.include_paths = set(o.include_paths)
        self.exclude_paths = set(o.exclude_paths)
        self.name = o.name
        self.auto_log_stacks = o.auto_log_stacks
        self.capture_locals = o.capture_locals
        self.string_max_length = o.string_max_length
        self.list_max_length = o.list_max_length
        self.site = o.site
        self.include_versions = o.include_versions
        self.processors = o.processors
        self.sanitize_keys = o.sanitize_keys
        self.extra = o.context
        self.tags = o.tags
        self.environment = o.environment
        self.release = o.release
        self.repos = self._format_repos(o.repos)
        self.sample_rate = o.sample_rate
        self.ignore_exceptions = set(o.ignore_exceptions)
        self.transaction = TransactionStack()
        self.module_cache = ModuleProxyCache()
        self._handlers: Dict[str, Any] = {}
        self._random_seed = _random_seed
        self._random_instance: Any = None
        self._walker = client_walker(self.string_max_length, self.list_max_length)
        self._processor_instances: Optional[List[Any]] = None
        self._locals_walker = self._walker
        #: serializes a frame local (and scrubs it, when the default processor allows)
        self._locals_transform = self._walker.top
        self._module_versions: Optional[Dict[str, str]] = None
        self._ignore_names, self._ignore_prefixes, self._ignore_classes = self._split_ignores()

        if not self.is_enabled():
            self.logger.info(
                "Raven is not configured (logging is disabled). Please see the"
                " documentation for more information."
            )
        if Raven is None:
            Raven = self

        self.main_thread_id = threading.get_ident()
        self.enable_breadcrumbs = enable_breadcrumbs

        from raven.context import Context

        self._context = Context(self)

        if install_sys_hook:
            self.install_sys_hook()
        if install_logging_hook:
            self.install_logging_hook()
        self.hook_libraries(hook_libraries)

    @property
    def _random(self) -> Any:
        """The sampling RNG (created on first use: ``random`` costs start-up time)."""
        if self._random_instance is None:
            from random import Random

            self._random_instance = Random(self._random_seed)
        return self._random_instance

    @_random.setter
    def _random(self, value: Any) -> None:
        self._random_instance = value

    # -- configuration ------------------------------------------------------------------------

    def _format_repos(self, value: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        result = {}
        for path, config in (value or {}).items():
            if path[0] != "/":
                # a module name: use the directory it is loaded from
                module: Any = __import__(path)
                path = os.path.abspath(module.__file__)
            result[path] = config
        return result

    def set_dsn(self, dsn: Optional[str] = None, transport: Any = None) -> None:
        """Point the client at ``dsn`` (or ``SENTRY_DSN``), with an optional transport."""
        if not dsn and os.environ.get("SENTRY_DSN"):
            self.logger.debug("Configuring Raven from environment variable 'SENTRY_DSN'")
            dsn = os.environ["SENTRY_DSN"]
        key = (dsn, id(transport) if transport is not None else None)
        if key not in self._transport_cache:
            if not dsn:
                result = RemoteConfig(transport=transport)
            else:
                result = RemoteConfig.from_string(
                    dsn, transport=transport, transport_registry=self._registry
                )
                if (
                    self._client_timeout is not None
                    and "timeout" not in result.options
                    and transport_accepts(result._transport_cls, "timeout")
                ):
                    # 6.10 accepted Client(timeout=...) and ignored it; the transport gets it
                    result.options["timeout"] = self._client_timeout
            self._transport_cache[key] = result
        self.remote = self._transport_cache[key]
        self.logger.debug("Configuring Raven for host: %s", self.remote)
        from raven._core.options import DeliveryOptions

        delivery_options = DeliveryOptions(self._delivery_kwargs, self.remote.delivery_options)
        self.stats.on_drop = delivery_options.on_drop
        self._delivery_options = delivery_options
        if delivery_options.spool_path and self.remote.is_active():
            self._get_delivery()  # open the spool now: a bad path fails here, old rows drain

    def install_sys_hook(self) -> None:
        """Capture uncaught exceptions of the main thread and of other threads (level fatal)."""
        global __excepthook__, __threading_excepthook__
        if __excepthook__ is None:
            __excepthook__ = sys.excepthook

        def handle_exception(*exc_info: Any) -> None:
            self.captureException(exc_info=exc_info, level="fatal")
            __excepthook__(*exc_info)

        handle_exception.raven_client = self  # type: ignore[attr-defined]
        sys.excepthook = handle_exception

        if __threading_excepthook__ is None:
            __threading_excepthook__ = threading.excepthook

        def handle_thread_exception(args: Any) -> None:
            if args.exc_type is not SystemExit:
                self.captureException(
                    exc_info=(args.exc_type, args.exc_value, args.exc_traceback), level="fatal"
                )
            __threading_excepthook__(args)

        handle_thread_exception.raven_client = self  # type: ignore[attr-defined]
        threading.excepthook = handle_thread_exception

    def install_logging_hook(self) -> None:
        from raven.breadcrumbs import install_logging_hook

        install_logging_hook()

    def hook_libraries(self, libraries: Optional[Sequence[str]]) -> None:
        from raven.breadcrumbs import hook_libraries

        hook_libraries(libraries)

    @classmethod
    def register_scheme(cls, scheme: str, transport_class: Any) -> None:
        cls._registry.register_scheme(scheme, transport_class)

    def _split_ignores(self) -> Tuple[set, Tuple[str, ...], Tuple[type, ...]]:
        names, prefixes, classes = set(), [], []
        for item in self.ignore_exceptions:
            if isinstance(item, type):
                classes.append(item)
            elif isinstance(item, str):
                if item.endswith("*"):
                    prefixes.append(item[:-1])
                else:
                    names.add(item)
        return names, tuple(prefixes), tuple(classes)

    # -- processors and events ---------------------------------------------------------------

    def get_processors(self) -> Iterator[Any]:
        """A new instance of each configured processor (6.10's API)."""
        for processor in self.processors:
            if isinstance(processor, str):
                yield self.module_cache[processor](self)
            elif isinstance(processor, type):
                yield processor(self)
            else:
                yield processor

    def _processors(self) -> List[Any]:
        if self._processor_instances is None:
            instances = list(self.get_processors())
            # when the first processor is a built-in scrubber, frame locals are scrubbed while
            # they are serialized (one pass instead of two); it then only checks var names
            first = instances[0] if instances else None
            scrub = getattr(first, "locals_scrubber", lambda: None)()
            if scrub is not None:
                from raven._core.walk import Walker
                from raven.utils.serializer.manager import manager

                self._locals_walker = Walker(
                    self._walker.string_max_length,
                    self._walker.list_max_length,
                    6,
                    manager.extra,
                    scrub,
                )
                self._locals_transform = self._locals_walker.top
            self._processor_instances = instances
        return self._processor_instances

    def get_module_versions(self) -> Dict[str, str]:
        """Versions of the ``include_paths`` packages (and their parents), plus ``python``."""
        if not self.include_versions:
            return {}
        if self._module_versions is None:
            from raven.utils import get_versions

            modules = get_versions(self.include_paths)
            modules["python"] = "{0}.{1}.{2}".format(*sys.version_info[:3])
            self._module_versions = modules
        return dict(self._module_versions)

    def get_ident(self, result: Any) -> Any:
        warnings.warn(
            "Client.get_ident is deprecated. The event ID is now returned as the result of"
            " capture.",
            DeprecationWarning,
            stacklevel=2,
        )
        return result

    def get_handler(self, name: str) -> Any:
        """The event type instance for a dotted class path (built once per client)."""
        handler = self._handlers.get(name)
        if handler is None:
            handler = self._handlers[name] = self.module_cache[name](self)
        return handler

    def get_public_dsn(self, scheme: Optional[str] = None) -> Optional[str]:
        """The DSN without secret and scheme (``//key@host/1``), for browser SDKs."""
        if self.is_enabled():
            url = self.remote.get_public_dsn()
            if scheme:
                return "%s:%s" % (scheme, url)
            return url
        return None

    def _get_exception_key(self, exc_info: ExcInfo) -> Tuple[Any, ...]:
        """Identity of a raised exception, for "already captured" checks.

        6.10 keyed on ``id(exception)``; ids are reused once an exception is freed, so later,
        different exceptions were silently skipped. The key holds the exception itself
        (exceptions hash by identity), and the context keeps only the most recent keys.
        """
        code_id = last_id = 0
        try:
            code_id = id(exc_info[2] and exc_info[2].tb_frame.f_code)
            last_id = (exc_info[2] and exc_info[2].tb_lasti) or 0
        except (AttributeError, IndexError):
            pass
        return (exc_info[0], exc_info[1], code_id, id(exc_info[2]), last_id)

    def skip_error_for_logging(self, exc_info: ExcInfo) -> bool:
        return self._get_exception_key(exc_info) in self.context.exceptions_to_skip

    def record_exception_seen(self, exc_info: ExcInfo) -> None:
        self.context.exceptions_to_skip.add(self._get_exception_key(exc_info))

    def should_capture(self, exc_info: ExcInfo) -> bool:
        """False when ``ignore_exceptions`` matches (name, dotted name, ``prefix*`` or class)."""
        exc_type = exc_info[0]
        if exc_type is None:
            return True
        exc_name = getattr(exc_type, "__name__", "")
        full = "%s.%s" % (getattr(exc_type, "__module__", ""), exc_name)
        if exc_type in self.ignore_exceptions:
            return False
        if exc_name in self._ignore_names or full in self._ignore_names:
            return False
        if (
            self._ignore_classes
            and isinstance(exc_type, type)
            and issubclass(exc_type, self._ignore_classes)
        ):
            return False
        return not (self._ignore_prefixes and full.startswith(self._ignore_prefixes))

    def transform(self, data: Any) -> Any:
        """Serialize a value with this client's length limits (raven's repr-quoted form)."""
        return self._walker.top(data)

    def _iter_frames(self, data: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        stacktrace = data.get("stacktrace")
        if isinstance(stacktrace, dict):
            yield from stacktrace.get("frames") or ()
        exception = data.get("exception")
        if isinstance(exception, dict):
            for value in exception.get("values") or ():
                if isinstance(value, dict) and isinstance(value.get("stacktrace"), dict):
                    yield from value["stacktrace"].get("frames") or ()

    def _mark_in_app(self, data: Dict[str, Any]) -> None:
        include = tuple(self.include_paths)
        exclude = tuple(self.exclude_paths)
        for frame in self._iter_frames(data):
            if not isinstance(frame, dict) or frame.get("in_app") is not None:
                continue
            path = frame.get("module")
            if not path:
                continue
            if path.startswith("raven."):
                frame["in_app"] = False
            else:
                frame["in_app"] = path.startswith(include) and not (
                    exclude and path.startswith(exclude)
                )

    def build_msg(
        self,
        event_type: str,
        data: Optional[Dict[str, Any]] = None,
        date: Optional[datetime] = None,
        time_spent: Optional[int] = None,
        extra: Optional[Dict[str, Any]] = None,
        stack: Any = None,
        public_key: Optional[str] = None,
        tags: Optional[Dict[str, Any]] = None,
        fingerprint: Optional[List[str]] = None,
        **kwargs: Any,
    ) -> Dict[str, Any]:
        """Build the event dict (raven 6.10's shape); processors have run on the result."""
        event_id = _new_event_id()
        processors = self._processor_instances
        if processors is None:
            processors = self._processors()
        context = self.context
        state_of = getattr(context, "_state", None)
        state = state_of() if state_of is not None else context  # one lookup per event
        data = merge_dicts(state.data, data)
        # present, so that an event type's own tags/extra are not merged in (as in 6.10);
        # the merges below make the dicts that are sent
        data.setdefault("tags", {})
        data.setdefault("extra", {})

        if "." not in event_type:
            event_type = "raven.events.%s" % event_type
        handler = self.get_handler(event_type)
        result = handler.capture(**kwargs)

        # an explicit culprit in data wins over what the event type found
        culprit = result.pop("culprit", None)
        if data.get("culprit"):
            culprit = data["culprit"]
        for k, v in result.items():
            if k not in data:
                data[k] = v
        prescrubbed = []
        if self._locals_walker is not self._walker and data.get("exception") is result.get(
            "exception"
        ):
            for value in (result.get("exception") or {}).get("values") or ():
                prescrubbed.append(id(value.get("stacktrace")))

        # auto_log_stacks applies to events that are not exceptions
        if stack is None and "exception" not in data:
            stack = self.auto_log_stacks
        if stack and "stacktrace" not in data:
            frames = iter_stack_frames() if stack is True else stack
            data["stacktrace"] = get_stack_info(
                frames, transformer=self._locals_transform, capture_locals=self.capture_locals
            )
            if self._locals_walker is not self._walker:
                prescrubbed.append(id(data["stacktrace"]))
            if stack is True:
                self._drop_own_frames(data["stacktrace"])

        if self.include_paths:
            self._mark_in_app(data)

        transaction = None
        if not culprit:
            transaction = self.transaction.peek()

        if not data.get("level"):
            data["level"] = kwargs.get("level") or logging.ERROR
        if not data.get("server_name"):
            data["server_name"] = self.name
        if not data.get("modules"):
            data["modules"] = self.get_module_versions()
        if self.release is not None:
            data["release"] = self.release
        if self.environment is not None:
            data["environment"] = self.environment

        data["tags"] = merge_dicts(self.tags, data.get("tags"), tags)
        data["extra"] = merge_dicts(self.extra, data.get("extra"), extra)

        site = data.pop("site", None) or self.site
        if site:
            data["tags"].setdefault("site", site)

        if transaction:
            data["transaction"] = transaction
        elif culprit:
            data["culprit"] = culprit
        if fingerprint:
            data["fingerprint"] = fingerprint

        token = prescrubbed_stacktraces.set(frozenset(prescrubbed)) if prescrubbed else None
        try:
            for processor in processors:
                data = self._run_processor(processor, data)
                if data is None:
                    return None  # type: ignore[return-value]
        finally:
            if token is not None:
                prescrubbed_stacktraces.reset(token)

        if "message" not in data:
            data["message"] = kwargs.get("message", handler.to_string(data))

        data["tags"] = {
            (k if type(k) is str else to_unicode(k)): (v if type(v) is str else to_unicode(v))
            for k, v in data["tags"].items()
        }
        extra_data = data["extra"]
        try:
            items = list(extra_data.items())
        except Exception:  # a hostile mapping, or a processor that returned a non-dict
            items = [("extra", extra_data)]
        data["extra"] = self._walker.values(items)

        _bound_raw_fields(data)
        data.setdefault("project", self.remote.project)
        data.setdefault("timestamp", date or _utcnow())
        data.setdefault("time_spent", time_spent)
        data.setdefault("event_id", event_id)
        data.setdefault("platform", PLATFORM_NAME)
        data.setdefault("sdk", SDK_VALUE)
        data.setdefault("repos", self.repos)

        if self.enable_breadcrumbs:
            crumbs = state.breadcrumbs.get_buffer()
            if crumbs:
                data.setdefault("breadcrumbs", {"values": crumbs})
                for processor in processors:
                    if hasattr(processor, "filter_breadcrumbs") and "breadcrumbs" in data:
                        data["breadcrumbs"]["values"] = processor.filter_breadcrumbs(
                            data["breadcrumbs"]["values"]
                        )
        return data

    @staticmethod
    def _drop_own_frames(stacktrace: Dict[str, Any]) -> None:
        """Remove raven's own innermost frames from a ``stack=True`` stack."""
        frames = stacktrace.get("frames") or []
        while frames and str(frames[-1].get("module") or "").startswith("raven."):
            frames.pop()

    def _run_processor(self, processor: Any, data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        process = getattr(processor, "process", None)
        if process is not None:
            out = process(data)
            if out is not None and out is not data:
                data.update(out)
            return data
        # a plain callable: (event, hint) -> event or None (None drops the event)
        out = processor(data, {})
        if out is None:
            self.stats.drop("event_processor")
        return out

    # -- context ------------------------------------------------------------------------------

    @property
    def context(self) -> Any:
        """The current thread's/task's :class:`raven.context.Context`."""
        return self._context

    def user_context(self, data: Dict[str, Any]) -> None:
        """Set the user for future events of this thread/task."""
        self.context.merge({"user": data})

    def http_context(self, data: Dict[str, Any], **kwargs: Any) -> None:
        """Set the request for future events of this thread/task."""
        self.context.merge({"request": data})

    def extra_context(self, data: Dict[str, Any], **kwargs: Any) -> None:
        """Add extra data to future events of this thread/task."""
        self.context.merge({"extra": data})

    def tags_context(self, data: Dict[str, Any], **kwargs: Any) -> None:
        """Add tags to future events of this thread/task."""
        self.context.merge({"tags": data})

    # -- capture ------------------------------------------------------------------------------

    def capture(
        self,
        event_type: str,
        data: Optional[Dict[str, Any]] = None,
        date: Optional[datetime] = None,
        time_spent: Optional[int] = None,
        extra: Optional[Dict[str, Any]] = None,
        stack: Any = None,
        tags: Optional[Dict[str, Any]] = None,
        sample_rate: Optional[float] = None,
        **kwargs: Any,
    ) -> Optional[str]:
        """Build an event of ``event_type`` and send it; returns its id.

        Returns None when the client is disabled, the exception is filtered or was already
        captured in this context, sampling dropped the event, or building it failed (logged
        on ``sentry.errors`` and counted in :attr:`stats`).
        """
        if not self.is_enabled():
            return None
        try:
            exc_info = kwargs.get("exc_info")
            if exc_info is not None and exc_info is not True:
                if self.skip_error_for_logging(exc_info):
                    return None
                if not self.should_capture(exc_info):
                    self.logger.info("Not capturing exception due to filters: %s", exc_info[0])
                    self.stats.drop("ignored")
                    return None
                self.record_exception_seen(exc_info)

            if sample_rate is None:
                sample_rate = self.sample_rate
            if sample_rate < 1 and self._random.random() >= sample_rate:
                self.stats.drop("sample_rate")
                return None

            data = self.build_msg(
                event_type, data, date, time_spent, extra, stack, tags=tags, **kwargs
            )
            if data is None:
                return None
            event_id: str = data["event_id"]
        except Exception:
            if self.raise_send_errors:
                raise
            self.stats.drop("internal_error")
            self.error_logger.error("Failed to build the event; it was not sent", exc_info=True)
            return None

        self.send(**data)
        self._local_state._last_event_id.set(event_id)
        return event_id

    def captureMessage(self, message: Any, **kwargs: Any) -> Optional[str]:
        """Capture a message: ``captureMessage('hello %s', params=('world',), level='info')``."""
        return self.capture("raven.events.Message", message=message, **kwargs)

    def captureException(self, exc_info: Any = None, *args: Any, **kwargs: Any) -> Optional[str]:
        """Capture an exception (by default the one being handled).

        ``captureException(exc_info)`` as in 6.10; ``captureException('message', exc_info)``,
        the form raven's API documentation showed, works too.
        """
        if isinstance(exc_info, str):
            kwargs["message"] = exc_info
            exc_info = args[0] if args else kwargs.pop("exc_info", None)
        if exc_info is None or exc_info is True:
            exc_info = sys.exc_info()
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        return self.capture("raven.events.Exception", exc_info=exc_info, **kwargs)

    def captureQuery(
        self, query: Any, params: Any = (), engine: Any = None, **kwargs: Any
    ) -> Optional[str]:
        """Capture an SQL query (``params`` is accepted but not sent, as in 6.10)."""
        return self.capture("raven.events.Query", query=query, engine=engine, **kwargs)

    def captureBreadcrumb(self, *args: Any, **kwargs: Any) -> None:
        """Record a breadcrumb in this client's context only.

        Positional arguments follow the buffer's order (timestamp, level, message, category,
        data, type, processor) as in 6.10; when the first one is text it is taken as the
        message, the order the API documentation showed.
        """
        try:
            if args and isinstance(args[0], str):
                names = ("message", "timestamp", "level", "category", "data", "type", "processor")
                kwargs.update(zip(names, args))
                args = ()
            self.context.breadcrumbs.record(*args, **kwargs)
        except ValueError:
            raise
        except Exception:
            if self.raise_send_errors:
                raise
            self.error_logger.error("Failed to record a breadcrumb", exc_info=True)

    capture_breadcrumb = captureBreadcrumb

    def captureExceptions(self, *args: Any, **kwargs: Any) -> Any:
        """Deprecated spelling of :meth:`capture_exceptions` (broken in 6.10, working here)."""
        warnings.warn(
            "captureExceptions is deprecated; use capture_exceptions",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.capture_exceptions(*args, **kwargs)

    def capture_exceptions(self, function_or_exceptions: Any = None, **kwargs: Any) -> Any:
        """Capture (and re-raise) exceptions, as a decorator or a context manager.

        ``@client.capture_exceptions``, ``@client.capture_exceptions((IOError,))`` and
        ``with client.capture_exceptions(): ...`` all work; any callable can be decorated
        (6.10 took only plain functions). Keyword arguments go to :meth:`captureException`.
        """
        function = None
        exceptions: Any = (Exception,)
        if function_or_exceptions is not None:
            if _is_exception_spec(function_or_exceptions):
                exceptions = function_or_exceptions
            elif callable(function_or_exceptions):
                function = function_or_exceptions
            else:
                exceptions = function_or_exceptions

        client = self

        @contextmanager
        def make_decorator(exceptions: Any) -> Iterator[None]:
            try:
                yield
            except exceptions:
                client.captureException(**kwargs)
                raise

        decorator = make_decorator(exceptions)
        if function is not None:
            return decorator(function)
        return decorator

    # -- sending ------------------------------------------------------------------------------

    def is_enabled(self) -> bool:
        """Whether the client has a usable DSN."""
        return self.remote.is_active()

    def _successful_send(self) -> None:
        self.state.set_success()
        self.stats.delivered += 1

    def _failed_send(self, exc: BaseException, url: str, data: Dict[str, Any]) -> None:
        retry_after: float = 0
        if isinstance(exc, APIError):
            if isinstance(exc, RateLimited):
                retry_after = exc.retry_after
                self.stats.drop("ratelimit_backoff")
            else:
                self.stats.drop("send_error")
            self.error_logger.error(
                "Sentry responded with an API error: %s(%s)", type(exc).__name__, exc.message
            )
        elif isinstance(exc, OverflowError):
            # the transport's bounded queue was full: the server is not failing, no back-off
            self.stats.drop("queue_overflow")
            self.error_logger.error("Sentry event dropped: %s", exc)
            self._log_failed_submission(data)
            return
        else:
            self.stats.drop("network_error")
            self.error_logger.error(
                "Sentry responded with an error: %s (url: %s)", exc, url, exc_info=exc
            )
        self._log_failed_submission(data)
        self.state.set_fail(retry_after=retry_after)

    def _log_failed_submission(self, data: Dict[str, Any]) -> None:
        """Log a summary of an event that could not be sent (message and innermost frames)."""
        message = data.pop("message", "<no message value>")
        output = [message]
        exception = data.get("exception")
        if isinstance(exception, dict) and exception.get("values"):
            frames = (exception["values"][-1].get("stacktrace") or {}).get("frames") or []
            for frame in frames:
                output.append(
                    '  File "%(fn)s", line %(lineno)s, in %(func)s'
                    % {
                        "fn": frame.get("filename", "unknown_filename"),
                        "lineno": frame.get("lineno", -1),
                        "func": frame.get("function", "unknown_function"),
                    }
                )
        self.uncaught_logger.error(output)

    def send_remote(self, url: str, data: bytes, headers: Optional[Dict[str, str]] = None) -> None:
        """Hand an encoded event to the delivery (raven 6.10's seam, patched by tests).

        Unlike 6.10, an event is not dropped while the client backs off after a failure: the
        delivery keeps it and retries (see ``docs/delivery.md``).
        """
        if headers is None:
            headers = {}
        self.logger.debug("Sending message of length %d to %s", len(data), url)
        event_id, category = _event_meta.get()
        try:
            self._get_delivery().submit(
                url, data, headers, category, event_id, raise_errors=self.raise_send_errors
            )
        except Exception:
            if self.raise_send_errors:
                raise
            self.stats.drop("internal_error", category=category)
            self.error_logger.error(
                "raven: failed to hand an event to the transport", exc_info=True
            )

    def _get_delivery(self) -> Any:
        """The delivery policy for the current remote and transport (built on first use)."""
        remote = self.remote
        delivery = self._deliveries.get(id(remote))
        if delivery is not None:
            return delivery
        with _build_lock:  # first events from several threads at once: build one, not several
            return self._build_delivery(remote)

    def _build_delivery(self, remote: Any) -> Any:
        delivery = self._deliveries.get(id(remote))
        if delivery is None:
            from raven.transport.delivery import Delivery

            options = self._delivery_options
            spool = None
            if options.spool_path:
                from raven.transport.spool import Spool

                spool = Spool(
                    options.spool_path,
                    max_events=options.spool_max_events,
                    max_bytes=options.spool_max_bytes,
                )
            delivery = Delivery(
                remote.get_transport(),
                self.stats,
                self.state,
                endpoint=options.endpoint,
                spool=spool,
                queue_size=options.queue_size,
                queue_bytes=options.queue_bytes,
                store_url=remote.store_endpoint,
                envelope_url=remote.envelope_endpoint,
                report_headers=lambda: self._headers(protocol.ENVELOPE_CONTENT_TYPE),
            )
            self._deliveries[id(remote)] = delivery
        return delivery

    def flush(self, timeout: Optional[float] = None) -> Any:
        """Wait up to ``timeout`` seconds (default: ``shutdown_timeout``) for queued events.

        Returns a report (``delivered``, ``dropped`` by reason, ``pending``; true when nothing
        is pending). Events the server could not take stay queued (or spooled).

        .. versionadded:: 7.0
        """
        from raven.transport.delivery import FlushReport

        if not self._deliveries:
            if not (self.stats.has_unreported and self.remote.is_active()):
                stats = self.stats.as_dict()
                return FlushReport(stats["delivered"], stats["dropped"], 0)  # type: ignore[arg-type]
            self._get_delivery()  # drops to report (envelope endpoint) before any event was sent
        report = None
        for delivery in list(self._deliveries.values()):
            report = delivery.flush(timeout)
        return report

    def close(self, timeout: Optional[float] = None) -> Any:
        """Flush up to ``timeout`` seconds, then stop the worker and release the spool.

        Events still in memory after the timeout are counted as ``shutdown_timeout``; spooled
        ones stay on disk for the next run. Returns the same report as :meth:`flush`.

        .. versionadded:: 7.0
        """
        from raven.transport.delivery import FlushReport

        deliveries, self._deliveries = list(self._deliveries.values()), {}
        report = None
        for delivery in deliveries:
            report = delivery.close(timeout)
        if report is None:
            stats = self.stats.as_dict()
            report = FlushReport(stats["delivered"], stats["dropped"], 0)  # type: ignore[arg-type]
        return report

    def _headers(self, content_type: str, auth_header: Optional[str] = None) -> Dict[str, str]:
        return {
            "User-Agent": "raven-python/%s" % (raven.VERSION,),
            "X-Sentry-Auth": auth_header or self.get_auth_header(),
            "Content-Type": content_type,
        }

    def get_auth_header(self) -> str:
        return get_auth_header(
            protocol=self.protocol_version,
            timestamp=time.time(),
            client="raven-python/%s" % raven.VERSION,
            api_key=self.remote.public_key,  # type: ignore[arg-type]
            api_secret=self.remote.secret_key,
        )

    def send_encoded(
        self, message: bytes, auth_header: Optional[str] = None, **kwargs: Any
    ) -> None:
        """Send an already encoded event body to the store endpoint."""
        headers = self._headers("application/octet-stream", auth_header)
        encoding = protocol.content_encoding(message)
        if encoding:
            headers["Content-Encoding"] = encoding
        self.send_remote(url=self.remote.store_endpoint, data=message, headers=headers)  # type: ignore[arg-type]

    def send(self, auth_header: Optional[str] = None, **data: Any) -> None:
        """Encode an event dict and send it (to the store or the envelope endpoint).

        A client without a DSN is disabled: like ``capture``, this then does nothing.
        """
        if not self.remote.is_active():
            return
        category = "error"
        delivery = self._deliveries.get(id(self.remote))
        if delivery is not None and delivery.limits.is_limited(category):
            # the server asked for a pause: not even worth encoding
            self.stats.drop("ratelimit_backoff", category=category)
            return
        envelope = delivery is not None and delivery.uses_envelopes
        if delivery is None and self._delivery_options.endpoint != "store":
            envelope = self.remote.is_active()
        event_id = data.get("event_id")
        try:
            if envelope:
                message = protocol.encode_envelope_json(data, event_id)
            elif type(self).encode is Client.encode:
                # JSON only: the delivery worker compresses (see protocol.encode_json)
                message = protocol.encode_json(data)
            else:  # a subclass encodes its own way (6.10 code overrides encode)
                message = self.encode(data)
        except Exception:
            if self.raise_send_errors:
                raise
            self.stats.drop("internal_error", category=category)
            self.error_logger.error("Failed to encode the event; it was not sent", exc_info=True)
            return
        token = _event_meta.set((event_id, category))
        try:
            if envelope:
                headers = self._headers(protocol.ENVELOPE_CONTENT_TYPE, auth_header)
                encoding = protocol.content_encoding(message)
                if encoding:
                    headers["Content-Encoding"] = encoding
                self.send_remote(url=self.remote.envelope_endpoint, data=message, headers=headers)  # type: ignore[arg-type]
            else:
                self.send_encoded(message, auth_header=auth_header)
        finally:
            _event_meta.reset(token)

    def get_content_encoding(self) -> str:
        return protocol.CONTENT_ENCODING

    def encode(self, data: Dict[str, Any]) -> bytes:
        """The request body: UTF-8 JSON, gzip-compressed from 2 KiB (6.10: zlib, ``deflate``)."""
        return protocol.encode(data)

    def decode(self, data: bytes) -> Any:
        """Inverse of :meth:`encode` (reads 6.10's zlib bodies too)."""
        return protocol.decode(data)

    # -- information --------------------------------------------------------------------------

    @property
    def last_event_id(self) -> Optional[str]:
        """The id of the last event captured in this thread/task."""
        return self._local_state.last_event_id

    @last_event_id.setter
    def last_event_id(self, value: Optional[str]) -> None:
        self._local_state.last_event_id = value


class DummyClient(Client):
    """A client that builds events and sends nothing."""

    def send(self, **kwargs: Any) -> None:  # type: ignore[override]  # 6.10's signature
        return None
