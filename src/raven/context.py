"""Per-thread *and* per-asyncio-task event context (tags, extra, user, request, breadcrumbs).

raven 6.10 kept the context in a ``threading.local``, so on an event loop every request shared
one context and leaked tags and breadcrumbs into each other. Here the state lives in a
``contextvars.ContextVar``: a new thread starts empty, and an asyncio task starts with what its
creator had (as 6.10's users expect of a request spawned from a configured thread), but the
first change a task makes is made to its own copy, so tasks never see each other's changes.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from contextvars import ContextVar

from raven.breadcrumbs import BreadcrumbBuffer, make_buffer

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Iterator, List, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from raven.base import Client


__all__ = ["Context", "get_active_contexts"]

_get_ident = threading.get_ident

#: explicit activation state of the current thread/task; unset means "every default context"
_active: ContextVar[Tuple[Context, ...]] = ContextVar("raven_active_contexts")
#: contexts of live clients, active wherever nobody changed the activation explicitly
_default_active: Tuple[Context, ...] = ()
_default_lock = threading.Lock()


def _owner() -> Any:
    """Who may write a context state in place: this thread, and this asyncio task if any."""
    aio = sys.modules.get("asyncio")
    if aio is not None:
        loop = aio._get_running_loop()
        if loop is not None:
            task = aio.current_task(loop)
            if task is not None:
                return (_get_ident(), id(task))
    return _get_ident()


class SeenExceptions(set):
    """A set that keeps only its ``limit`` most recently added keys.

    The keys hold exception objects (so their ids cannot be reused while remembered); the
    bound keeps a long-lived thread from holding every traceback it ever captured.
    """

    limit = 32

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._order: deque = deque(self)

    def add(self, key: Any) -> None:
        if key in self:
            return
        super().add(key)
        self._order.append(key)
        while len(self._order) > self.limit:
            self.discard(self._order.popleft())

    def clear(self) -> None:
        super().clear()
        self._order.clear()


class _State:
    """One thread's or task's view: event data, exceptions already seen, breadcrumbs."""

    __slots__ = ("breadcrumbs", "data", "exceptions_to_skip", "owner")

    def __init__(self, owner: Any, enabled: bool) -> None:
        self.owner = owner
        self.data: Dict[str, Any] = {}
        self.exceptions_to_skip: set = SeenExceptions()
        self.breadcrumbs = make_buffer(enabled)

    def fork(self, owner: Any) -> _State:
        """A copy for another owner; ``tags``/``extra`` are merged in place, so copy them too."""
        new = _State.__new__(_State)
        new.owner = owner
        new.data = {
            k: (dict(v) if k in ("tags", "extra") and isinstance(v, dict) else v)
            for k, v in self.data.items()
        }
        new.exceptions_to_skip = SeenExceptions(self.exceptions_to_skip)
        new.breadcrumbs = self.breadcrumbs.copy()
        return new


def get_active_contexts() -> List[Context]:
    """The contexts that breadcrumbs recorded in the current thread or task go to."""
    active = _active.get(None)
    return list(_default_active if active is None else active)


def _active_tuple() -> Tuple[Context, ...]:
    active = _active.get(None)
    return _default_active if active is None else active


def _forget(ref: Any) -> None:
    global _default_active
    try:
        with _default_lock:
            _default_active = tuple(c for c in _default_active if c._self_ref is not ref)
    except Exception:  # interpreter shutdown: module globals are already gone
        pass


class Context(Mapping, Iterable):
    """The data merged into every event a client captures in the current thread or task.

    Mapping access reads the current data; ``merge`` updates it (``tags`` and ``extra`` key by
    key, anything else replaced); ``clear`` empties it at the end of a request or task.
    """

    def __init__(self, client: Optional[Client] = None, breadcrumbs: Optional[bool] = None) -> None:
        global _default_active
        if breadcrumbs is None:
            breadcrumbs = getattr(client, "enable_breadcrumbs", True)
        self._breadcrumbs_enabled = bool(breadcrumbs)
        self._client_ref = weakref.ref(client) if client is not None else None
        self._var: ContextVar[_State] = ContextVar("raven_context_%x" % id(self))
        self._self_ref = weakref.ref(self, _forget)
        self.thread = None
        # active by default in every thread and task (6.10 activated per thread on first use,
        # so breadcrumbs logged in a thread before it touched the context were lost)
        with _default_lock:
            _default_active = (*_default_active, self)
        # where activation was changed explicitly (a deactivate() ran here), join it
        active = _active.get(None)
        if active is not None:
            _active.set((*active, self))

    # -- state -----------------------------------------------------------------------------

    def _state(self) -> _State:
        state = self._var.get(None)
        owner = _owner()
        if state is None:
            state = _State(owner, self._breadcrumbs_enabled)
            self._var.set(state)
        elif state.owner != owner:
            state = state.fork(owner)
            self._var.set(state)
        return state

    @property
    def client(self) -> Optional[Client]:
        return self._client_ref() if self._client_ref is not None else None

    @property
    def data(self) -> Dict[str, Any]:
        return self._state().data

    @data.setter
    def data(self, value: Dict[str, Any]) -> None:
        self._state().data = value

    @property
    def exceptions_to_skip(self) -> set:
        return self._state().exceptions_to_skip

    @property
    def breadcrumbs(self) -> BreadcrumbBuffer:
        return self._state().breadcrumbs

    # -- mapping view ------------------------------------------------------------------------

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return "<%s: %r>" % (type(self).__name__, self.data)

    def __enter__(self) -> Context:
        self.activate()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.deactivate()

    # -- activation -------------------------------------------------------------------------

    def activate(self, sticky: bool = False) -> None:
        """Make breadcrumbs recorded in this thread/task go to this context."""
        if sticky:
            self.thread = _get_ident()  # type: ignore[assignment]
        active = _active.get(None)
        if active is not None and self not in active:
            _active.set((*active, self))

    def deactivate(self) -> None:
        """Stop recording this thread's/task's breadcrumbs into this context."""
        active = _active_tuple()
        _active.set(tuple(c for c in active if c is not self))

    # -- data -------------------------------------------------------------------------------

    def merge(self, data: Dict[str, Any], activate: bool = True) -> None:
        """Merge ``data``: ``tags`` and ``extra`` key by key, other keys replaced."""
        if activate:
            self.activate()
        d = self.data
        for key, value in data.items():
            if key in ("tags", "extra"):
                d.setdefault(key, {})
                if value:
                    d[key].update(value)
            else:
                d[key] = value

    def set(self, data: Dict[str, Any]) -> None:
        self.data = data

    def get(self, *args: Any) -> Any:
        """``get()`` returns the whole data dict (6.10); ``get(key[, default])`` is Mapping's."""
        if not args:
            return self.data
        return self.data.get(*args)

    def clear(self, deactivate: Optional[bool] = None) -> None:
        """Forget this thread's/task's data, seen exceptions and breadcrumbs.

        With ``deactivate=None`` the context is deactivated unless this is the thread that
        created the client (raven 6.10's rule).
        """
        self._var.set(_State(_owner(), self._breadcrumbs_enabled))
        if deactivate is None:
            client = self.client
            deactivate = client is not None and getattr(client, "main_thread_id", None) != (
                _get_ident()
            )
        if deactivate:
            self.deactivate()
