"""A durable SQLite spool of encoded events, shared by every process that opens the same file."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
import weakref

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Dict, Iterable, List, Optional, Tuple

__all__ = ["Spool", "SpoolError", "SpooledEvent"]

SCHEMA_VERSION = 1

_SCHEMA = (
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY, created REAL NOT NULL, url TEXT NOT NULL,
        headers TEXT NOT NULL, category TEXT NOT NULL, event_id TEXT, body BLOB NOT NULL,
        size INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT, lease_until REAL)""",
    # one row per claiming process: what a lease's liveness is judged by
    """CREATE TABLE leases (
        owner TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, until REAL NOT NULL)""",
    # kept by triggers, so the caps cost O(1) per put instead of a scan of every body; last_id
    # keeps ids from ever being reused (a late ack must not delete a newer row), and costs
    # less than AUTOINCREMENT, which writes one more page per commit
    "CREATE TABLE totals (rows INTEGER NOT NULL, bytes INTEGER NOT NULL, last_id INTEGER NOT NULL)",
    "INSERT INTO totals VALUES (0, 0, 0)",
    """CREATE TRIGGER events_ins AFTER INSERT ON events BEGIN
        UPDATE totals SET rows = rows + 1, bytes = bytes + new.size, last_id = new.id; END""",
    """CREATE TRIGGER events_del AFTER DELETE ON events BEGIN
        UPDATE totals SET rows = rows - 1, bytes = bytes - old.size; END""",
)

_now = time.time  # a module-level name, so tests can move the clock


def _host_identity() -> str:
    """Hostname plus PID namespace: a pid only means something inside its own namespace.

    Two containers sharing a volume may well report the same hostname; without the namespace
    one would take a live process of the other for dead and send its events a second time.
    """
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        ns = 0
    return "%s/%d" % (socket.gethostname(), ns)


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would *terminate* the process there; wait for expiry
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, it is just someone else's
        pass
    return True


class SpoolError(Exception):
    """The spool cannot be opened or written; the caller falls back to its memory queue."""


class SpooledEvent:
    """One claimed row: everything the worker needs to send it again."""

    __slots__ = ("attempts", "body", "category", "created", "event_id", "headers", "id", "url")

    # fmt: off
    def __init__(self, id: int, url: str, body: bytes, headers: Dict[str, str], category: str,
                 event_id: Optional[str], created: float, attempts: int) -> None:
        self.id, self.url, self.body, self.headers = id, url, body, headers
        self.category, self.event_id = category, event_id
        self.created, self.attempts = created, attempts
    # fmt: on

    def __repr__(self) -> str:
        return "<SpooledEvent id=%d event_id=%s %d bytes attempts=%d>" % (
            self.id, self.event_id, len(self.body), self.attempts,
        )  # fmt: skip


_spools: weakref.WeakSet[Spool] = weakref.WeakSet()
#: connections inherited over fork: closing one in the child could disturb the parent's locks
#: (SQLite forbids using a connection across fork), so they are kept, unused, until exit
_orphans: List[sqlite3.Connection] = []


def _after_fork_in_child() -> None:
    for spool in list(_spools):
        spool._forget_connection()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Spool:
    """Events on disk, written before capture returns and leased out to whichever worker asks.

    Several processes may share one file: ``claim`` leases rows under ``BEGIN IMMEDIATE``, so
    no two of them ever get the same row, and a lease dies when it expires or when its owner
    (on this host) is no longer running, so a crashed process's rows are taken over at once.
    The file must be on a local disk: WAL mode needs shared memory that network mounts lack.

    Args:
        path: the database file; created if missing, its directory must exist.
        max_events, max_bytes: caps; ``put`` evicts the oldest rows to stay within them.
        lease_seconds: how long a claimed row stays reserved for the claiming process.
        busy_timeout: the longest any call waits for another thread's or process's write.
    """

    def __init__(
        self,
        path: str,
        max_events: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        lease_seconds: float = 120.0,
        busy_timeout: float = 2.0,
    ) -> None:
        self.path = os.fspath(path)
        self.max_events = max(1, max_events)  # the event just put is never evicted
        self.max_bytes = max_bytes
        self.lease_seconds = lease_seconds
        self.busy_timeout = busy_timeout
        self._host = _host_identity()
        self._lock = threading.Lock()
        self._conn: Optional[sqlite3.Connection] = None
        self._pid = -1
        self._owner = ""
        self._closed = False
        self._check_path()
        with _Transaction(self, "BEGIN"):  # open now: a bad path must fail at configuration time
            pass
        _spools.add(self)

    def _check_path(self) -> None:
        """Name the usual mistakes plainly, rather than SQLite's 'unable to open database file'."""
        path, parent = self.path, os.path.dirname(os.path.abspath(self.path))
        problem = None
        if os.path.isdir(path):
            problem = "it is a directory"
        elif not os.path.isdir(parent):
            problem = "directory %s does not exist" % parent
        elif not os.access(parent, os.W_OK | os.X_OK):  # WAL needs its -wal and -shm files
            problem = "directory %s is not writable" % parent
        elif os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
            problem = "the file is not readable and writable"
        if problem:
            raise SpoolError("cannot use %s as an event spool: %s" % (path, problem))

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise SpoolError("cannot use %s as an event spool: WAL mode refused" % self.path)
            conn.execute("PRAGMA synchronous = NORMAL")  # a commit survives a process crash
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Create the tables once; later opens only read the version and take no write lock."""
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")  # two processes creating the file at once: one wins
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise SpoolError(
                    "cannot use %s as an event spool: it is another application's SQLite "
                    "database" % self.path
                )
            if version == 0:
                for statement in _SCHEMA:  # not executescript(): it commits first on 3.9/3.10
                    conn.execute(statement)
                conn.execute("PRAGMA user_version = %d" % SCHEMA_VERSION)
            elif version != SCHEMA_VERSION:
                raise SpoolError(
                    "cannot use %s as an event spool: schema version %d, this raven reads %d"
                    % (self.path, version, SCHEMA_VERSION)
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _forget_connection(self) -> None:
        """In a forked child: drop the parent's lock and connection without touching them."""
        self._lock = threading.Lock()
        if self._conn is not None:
            _orphans.append(self._conn)
        self._conn = None
        self._pid = -1

    # -- the API ---------------------------------------------------------------------------

    def put(
        self,
        url: str,
        body: bytes,
        headers: Dict[str, str],
        category: str = "error",
        event_id: Optional[str] = None,
    ) -> int:
        """Store one event, durably once this returns; return how many old rows were evicted."""
        size = len(body)
        if size > self.max_bytes:  # it would evict everything, itself included
            raise SpoolError("event of %d bytes exceeds the spool's max_bytes" % size)
        with _Transaction(self) as conn:
            new_id = conn.execute(
                "INSERT INTO events (id, created, url, headers, category, event_id, body, size)"
                " VALUES ((SELECT last_id + 1 FROM totals), ?, ?, ?, ?, ?, ?, ?)",
                (_now(), url, json.dumps(headers), category, event_id, body, size),
            ).lastrowid
            rows, total = conn.execute("SELECT rows, bytes FROM totals").fetchone()
            if rows <= self.max_events and total <= self.max_bytes:
                return 0
            # rows under a live lease are being sent right now: evicting one would count it
            # as dropped and then deliver it anyway, so the cap may be passed by a batch
            victims: List[Tuple[int]] = []
            oldest = conn.execute(
                "SELECT id, size FROM events WHERE (lease_owner IS NULL OR lease_until <= ?)"
                " AND id != ? ORDER BY id",
                (_now(), new_id),
            )
            for row_id, row_size in oldest:
                if rows <= self.max_events and total <= self.max_bytes:
                    break
                rows, total = rows - 1, total - row_size
                victims.append((row_id,))
            oldest.close()  # finished with, before the same table is written
            conn.executemany("DELETE FROM events WHERE id = ?", victims)
            return len(victims)

    def claim(self, limit: int = 64) -> List[SpooledEvent]:
        """Lease up to ``limit`` of the oldest rows that nobody alive holds, and return them."""
        with _Transaction(self) as conn:
            now = _now()
            dead = [
                (owner,)
                for owner, host, pid, until in conn.execute("SELECT * FROM leases")
                if until <= now or (host == self._host and pid != self._pid and not _pid_alive(pid))
            ]
            conn.executemany("DELETE FROM leases WHERE owner = ?", dead)
            rows = conn.execute(
                "SELECT id, url, body, headers, category, event_id, created, attempts"
                " FROM events WHERE lease_owner IS NULL OR lease_until <= ?"
                " OR lease_owner NOT IN (SELECT owner FROM leases) ORDER BY id LIMIT ?",
                (now, limit),
            ).fetchall()
            if not rows:
                return []
            until = now + self.lease_seconds
            conn.executemany(
                "UPDATE events SET lease_owner = ?, lease_until = ? WHERE id = ?",
                [(self._owner, until, row[0]) for row in rows],
            )
            conn.execute(
                "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?)",
                (self._owner, self._host, self._pid, until),
            )
        return [SpooledEvent(i, u, b, json.loads(h), c, e, t, a) for i, u, b, h, c, e, t, a in rows]

    def ack(self, ids: Iterable[int]) -> None:
        """Delete rows that were delivered or finally refused: they must never be sent again."""
        with _Transaction(self) as conn:
            conn.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids])

    def release(self, ids: Iterable[int]) -> None:
        """Give back rows whose send failed, counting the attempt, so any worker may retry them.

        Only this instance's own leases are cleared: if ours expired and another process took
        the row over, clearing its lease would let a third one send it as well.
        """
        with _Transaction(self) as conn:
            conn.executemany(
                "UPDATE events SET lease_owner = NULL, lease_until = NULL,"
                " attempts = attempts + 1 WHERE id = ? AND lease_owner = ?",
                [(i, self._owner) for i in ids],
            )

    def _totals(self) -> Tuple[int, int]:
        with _Transaction(self, "BEGIN") as conn:
            rows, total = conn.execute("SELECT rows, bytes FROM totals").fetchone()
        return rows, total

    def __len__(self) -> int:
        return self._totals()[0]

    def size_bytes(self) -> int:
        return self._totals()[1]

    def close(self) -> None:
        """Hand back this instance's unacknowledged leases (no attempt counted), then close."""
        if self._closed:
            return
        if self._conn is not None and self._pid == os.getpid():
            try:
                with _Transaction(self) as conn:
                    conn.execute(
                        "UPDATE events SET lease_owner = NULL, lease_until = NULL"
                        " WHERE lease_owner = ?",
                        (self._owner,),
                    )
                    conn.execute("DELETE FROM leases WHERE owner = ?", (self._owner,))
            except SpoolError:
                pass  # the leases expire on their own, or die with this process
        with self._lock:
            self._closed = True
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
        _spools.discard(self)

    def __repr__(self) -> str:
        return "<Spool %s>" % self.path


class _Transaction:
    """Lock, (re)connect after a fork, and run one transaction, all within ``busy_timeout``.

    Every SQLite failure becomes a :class:`SpoolError` naming the path, so callers need to
    handle one exception type and the message says which file is in trouble.
    """

    __slots__ = ("begin", "conn", "shortened", "spool")

    def __init__(self, spool: Spool, begin: str = "BEGIN IMMEDIATE") -> None:
        self.spool = spool
        self.begin = begin
        self.shortened = False

    def __enter__(self) -> sqlite3.Connection:
        spool = self.spool
        if spool._closed:
            raise SpoolError("spool %s is closed" % spool.path)
        start = time.monotonic()
        if not spool._lock.acquire(timeout=spool.busy_timeout):
            raise SpoolError("spool %s: busy in another thread for too long" % spool.path)
        problem = "cannot use %s as an event spool: %s"
        try:
            waited = time.monotonic() - start
            conn = spool._conn
            if conn is None or spool._pid != os.getpid():  # first use, or a fork unseen
                if conn is not None:
                    _orphans.append(conn)
                spool._conn = None
                spool._conn = conn = spool._connect()
                spool._pid = os.getpid()
                spool._owner = "%s/%d/%s" % (spool._host, spool._pid, uuid.uuid4().hex)
            self.conn = conn
            problem = "spool %s: %s"
            if waited > 0.001:  # the thread lock ate part of the budget: SQLite gets the rest
                left = max(1, int((spool.busy_timeout - waited) * 1000))
                conn.execute("PRAGMA busy_timeout = %d" % left)
                self.shortened = True
            conn.execute(self.begin)
        except BaseException as exc:
            self._restore()
            spool._lock.release()
            if isinstance(exc, sqlite3.Error):
                raise SpoolError(problem % (spool.path, exc))
            raise
        return conn

    def _restore(self) -> None:
        if self.shortened:
            self.shortened = False
            try:
                self.conn.execute("PRAGMA busy_timeout = %d" % (self.spool.busy_timeout * 1000))
            except sqlite3.Error:
                pass

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        error = exc if isinstance(exc, sqlite3.Error) else None
        try:
            self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        except sqlite3.Error as failure:
            error = error or failure
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back, or there was nothing to roll back
        finally:
            self._restore()
            self.spool._lock.release()
        if error is not None:
            raise SpoolError("spool %s: %s" % (self.spool.path, error))
