"""The on-disk spool: durability, leases across threads, forks and processes, and its caps."""

from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Iterator, List

import pytest

from raven.transport import spool as spool_module
from raven.transport.spool import Spool, SpoolError

posix_only = pytest.mark.skipif(os.name != "posix", reason="needs fork and SIGKILL")

HEADERS = {"Content-Type": "application/json", "X-Sentry-Auth": "Sentry sentry_key=k, v=7"}


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "spool.db")


@pytest.fixture
def spool(path: str) -> Iterator[Spool]:
    s = Spool(path)
    yield s
    s.close()


@pytest.fixture
def processes() -> Iterator[List[subprocess.Popen[str]]]:
    """Subprocesses started by a test; whatever is still running at the end is killed and reaped."""
    started: List[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def start_python(
    processes: List[subprocess.Popen[str]], code: str, *args: str
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    processes.append(proc)
    return proc


def read_line(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "subprocess %d printed nothing within %ss" % (proc.pid, timeout)
    return proc.stdout.readline().strip()


# -- the basic contract -----------------------------------------------------------------------


def test_round_trip_keeps_every_field(spool: Spool) -> None:
    before = time.time()
    assert (
        spool.put("https://s.example/api/1/store/", b"\x00body\xff", HEADERS, "transaction", "e1")
        == 0
    )
    assert len(spool) == 1 and spool.size_bytes() == 6

    (event,) = spool.claim()
    assert event.url == "https://s.example/api/1/store/"
    assert event.body == b"\x00body\xff" and type(event.body) is bytes
    assert event.headers == HEADERS
    assert (event.category, event.event_id, event.attempts) == ("transaction", "e1", 0)
    assert before - 1 <= event.created <= time.time() + 1
    assert "body" not in repr(event) and "6 bytes" in repr(event)

    spool.ack([event.id])
    assert len(spool) == 0 and spool.size_bytes() == 0
    assert spool.claim() == []


def test_defaults_and_survival_across_instances(path: str) -> None:
    first = Spool(path)
    first.put("u", b"kept", {})
    first.close()
    second = Spool(path)
    (event,) = second.claim()
    assert (event.body, event.category, event.event_id, event.headers) == (
        b"kept",
        "error",
        None,
        {},
    )
    second.close()


def test_claims_oldest_first_in_batches(spool: Spool) -> None:
    for i in range(10):
        spool.put("u", b"%d" % i, {})
    assert [e.body for e in spool.claim(limit=3)] == [b"0", b"1", b"2"]
    assert [e.body for e in spool.claim(limit=3)] == [b"3", b"4", b"5"]
    assert [e.body for e in spool.claim(limit=10)] == [b"6", b"7", b"8", b"9"]
    assert spool.claim() == []


def test_ids_are_never_reused(spool: Spool) -> None:
    """A late ack of a delivered row must not delete a newer row that got the same id."""
    spool.put("u", b"a", {})
    (old,) = spool.claim()
    spool.ack([old.id])
    spool.put("u", b"b", {})
    (new,) = spool.claim()
    assert new.id > old.id
    spool.ack([old.id])
    assert len(spool) == 1


# -- caps ---------------------------------------------------------------------------------


def test_count_cap_evicts_the_oldest(path: str) -> None:
    s = Spool(path, max_events=5)
    assert [s.put("u", b"%d" % i, {}) for i in range(8)] == [0, 0, 0, 0, 0, 1, 1, 1]
    assert len(s) == 5
    assert [e.body for e in s.claim()] == [b"3", b"4", b"5", b"6", b"7"]
    s.close()


def test_byte_cap_evicts_as_many_as_needed(path: str) -> None:
    s = Spool(path, max_bytes=1000)
    assert [s.put("u", b"x" * 300, {}) for _ in range(3)] == [0, 0, 0]
    assert s.size_bytes() == 900
    assert s.put("u", b"y" * 300, {}) == 1
    assert s.size_bytes() == 900
    assert s.put("u", b"z" * 900, {}) == 3
    assert (len(s), s.size_bytes()) == (1, 900)
    assert s.put("u", b"w" * 100, {}) == 0
    assert (len(s), s.size_bytes()) == (2, 1000)

    with pytest.raises(SpoolError, match="1001 bytes exceeds"):
        s.put("u", b"v" * 1001, {})
    assert [e.body[:1] for e in s.claim()] == [b"z", b"w"]
    s.close()


def test_eviction_spares_rows_being_sent_and_late_acks_are_harmless(path: str) -> None:
    s = Spool(path, max_events=2)
    s.put("u", b"a", {})
    s.put("u", b"b", {})
    leased = s.claim()  # "a" and "b" are being sent: evicting them would count a delivery
    assert s.put("u", b"c", {}) == 0  # so the cap is passed for now
    assert len(s) == 3
    s.release([leased[0].id])  # "a" failed: no longer in flight
    assert s.put("u", b"d", {}) == 2  # now the oldest unleased rows go: "a", then "c"
    s.ack([leased[0].id])  # a late ack of an evicted row changes nothing
    assert len(s) == 2
    assert [e.body for e in s.claim()] == [b"d"]  # "b" is still leased to us
    s.close()


# -- leases ---------------------------------------------------------------------------------


def test_release_counts_the_attempt_and_frees_the_row(spool: Spool) -> None:
    spool.put("u", b"a", HEADERS)
    spool.put("u", b"b", HEADERS)
    first = spool.claim()
    assert spool.claim() == []
    spool.release(e.id for e in first)
    again = spool.claim()
    assert [(e.body, e.attempts, e.headers) for e in again] == [
        (b"a", 1, HEADERS),
        (b"b", 1, HEADERS),
    ]
    spool.release([again[0].id])
    (third,) = spool.claim()
    assert (third.body, third.attempts) == (b"a", 2)


def test_live_lease_is_respected_and_expired_one_taken_over(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder, other = Spool(path, lease_seconds=60), Spool(path)
    for i in range(4):
        holder.put("u", b"%d" % i, {})
    assert len(holder.claim(limit=2)) == 2
    assert [e.body for e in other.claim()] == [b"2", b"3"]  # the holder is alive: its rows wait
    assert other.claim() == []

    now = time.time()
    monkeypatch.setattr(spool_module, "_now", lambda: now + 61)
    assert [e.body for e in other.claim()] == [b"0", b"1"]
    holder.close()
    other.close()


def test_release_only_clears_our_own_lease(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    late, taker, third = Spool(path, lease_seconds=1), Spool(path), Spool(path)
    late.put("u", b"a", {})
    (event,) = late.claim()
    now = time.time()
    monkeypatch.setattr(spool_module, "_now", lambda: now + 5)
    assert [e.id for e in taker.claim()] == [event.id]
    late.release([event.id])  # too late: the row is the taker's now
    assert third.claim() == []
    for s in (late, taker, third):
        s.close()


def test_close_hands_back_unacknowledged_rows(path: str) -> None:
    first, second = Spool(path), Spool(path)
    first.put("u", b"a", {})
    assert len(first.claim()) == 1
    assert second.claim() == []
    first.close()
    first.close()  # idempotent
    (event,) = second.claim()
    assert event.attempts == 0
    with pytest.raises(SpoolError, match="closed"):
        first.put("u", b"b", {})
    second.close()


# -- concurrency ----------------------------------------------------------------------------


def test_threads_share_one_spool(spool: Spool) -> None:
    errors: List[BaseException] = []
    claimed: List[int] = []

    def produce(n: int) -> None:
        try:
            for i in range(100):
                spool.put("u", b"%d-%d" % (n, i), HEADERS)
        except BaseException as exc:
            errors.append(exc)

    def consume() -> None:
        try:
            for _ in range(200):
                batch = spool.claim(limit=16)
                claimed.extend(e.id for e in batch)
                spool.ack(e.id for e in batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(6)]
    threads.append(threading.Thread(target=consume))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    claimed.extend(e.id for e in spool.claim(limit=1000))
    assert len(claimed) == len(set(claimed)) == 600


def test_busy_database_fails_fast_instead_of_hanging(path: str) -> None:
    s = Spool(path, busy_timeout=0.2)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        for call in (lambda: s.put("u", b"a", {}), s.claim):
            start = time.monotonic()
            with pytest.raises(SpoolError, match="locked"):
                call()
            assert time.monotonic() - start < 1.5
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert s.put("u", b"a", {}) == 0
    s.close()


def test_a_stuck_thread_does_not_hold_up_others_past_the_budget(path: str) -> None:
    s = Spool(path, busy_timeout=0.2)
    s._lock.acquire()  # as if another thread were inside a call
    try:
        start = time.monotonic()
        with pytest.raises(SpoolError, match="busy"):
            s.put("u", b"a", {})
        assert time.monotonic() - start < 1.5
    finally:
        s._lock.release()
    s.close()


@posix_only
def test_forked_child_reopens_and_parent_sees_its_rows(spool: Spool) -> None:
    spool.put("u", b"parent", {})
    spool._lock.acquire()  # as if another thread were inside a call when the fork happened
    try:
        with warnings.catch_warnings():  # 3.12+ warns about fork() when other threads exist
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    finally:
        if pid != 0:
            spool._lock.release()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            parent_conn = spool_module._orphans[-1]
            spool.put("u", b"child", {})
            code = 0 if spool._conn is not parent_conn and spool._pid == os.getpid() else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [e.body for e in spool.claim()] == [b"parent", b"child"]
    assert spool.put("u", b"after", {}) == 0  # the parent's own connection is untouched


def test_a_pid_change_without_fork_hook_reopens(spool: Spool) -> None:
    spool.put("u", b"a", {})
    old = spool._conn
    assert old is not None
    spool._pid = -2  # what a fork that register_at_fork missed looks like
    try:
        assert spool.put("u", b"b", {}) == 0
        assert spool._conn is not old and spool._pid == os.getpid()
        assert spool_module._orphans[-1] is old
    finally:
        spool_module._orphans.remove(old)
        old.close()
    assert len(spool) == 2


KILLED_WORKER = """
import sys, time
from raven.transport.spool import Spool
s = Spool(sys.argv[1], lease_seconds=600)
for i in range(300):
    s.put("u", b"%d" % i, {})
assert len(s.claim(limit=100)) == 100
print("ready", flush=True)
time.sleep(60)
"""


@posix_only
def test_rows_of_a_killed_process_are_claimable_at_once(
    path: str, processes: List[subprocess.Popen[str]]
) -> None:
    proc = start_python(processes, KILLED_WORKER, path)
    assert read_line(proc) == "ready"
    probe = Spool(path)
    assert len(probe.claim(limit=1000)) == 200  # the worker lives: its 100 leases hold
    probe.close()

    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)  # reaped: a zombie still answers kill(pid, 0)
    fresh = Spool(path)
    assert sorted(int(e.body) for e in fresh.claim(limit=1000)) == list(range(300))
    fresh.close()


CLAIMER = """
import json, sys, time
from raven.transport.spool import Spool
s = Spool(sys.argv[1], busy_timeout=10)
print("ready", flush=True)
sys.stdin.readline()
got = []
while True:
    batch = s.claim(limit=25)
    if not batch:
        break
    got.extend(e.id for e in batch)
    if len(got) % 50:
        s.ack(e.id for e in batch)  # every other batch stays leased until this process exits
    time.sleep(0.002)  # let the other claimers in: on a busy machine one took all 80 batches
print(json.dumps(got), flush=True)
sys.stdin.readline()
"""


@posix_only
def test_concurrent_processes_never_share_a_row(
    path: str, processes: List[subprocess.Popen[str]]
) -> None:
    s = Spool(path)
    for i in range(2000):
        s.put("u", b"%d" % i, {})
    ids = [e.id for e in s.claim(limit=5000)]
    s.close()  # hands the leases back

    procs = [start_python(processes, CLAIMER, path) for _ in range(4)]
    for proc in procs:
        assert read_line(proc) == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    got = [json.loads(read_line(proc)) for proc in procs]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("exit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=10) == 0

    assert sum(1 for part in got if part) >= 2, [len(part) for part in got]
    everything = [i for part in got for i in part]
    assert len(everything) == len(set(everything)) == 2000
    assert sorted(everything) == sorted(ids)


# -- bad paths ------------------------------------------------------------------------------


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match="does not exist") as info:
        Spool(str(tmp_path / "nope" / "spool.db"))
    assert str(tmp_path / "nope") in str(info.value) and "\n" not in str(info.value)


def test_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match="is a directory"):
        Spool(str(tmp_path))


def test_not_a_sqlite_file(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(SpoolError, match="not a database") as info:
        Spool(str(target))
    assert str(target) in str(info.value)


def test_another_applications_database(tmp_path: Path) -> None:
    target = str(tmp_path / "app.db")
    conn = sqlite3.connect(target)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(SpoolError, match="another application"):
        Spool(target)


def test_a_newer_schema(path: str) -> None:
    Spool(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SpoolError, match="schema version 99"):
        Spool(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anything")
def test_a_read_only_directory(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(SpoolError, match="not writable"):
            Spool(str(tmp_path / "spool.db"))
    finally:
        tmp_path.chmod(0o700)
