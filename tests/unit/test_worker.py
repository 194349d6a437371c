"""The delivery worker: a bounded queue fed to a scripted ``deliver`` callable on one thread.

``deliver(pending)`` answers None (finished) or a number (retry, at least that many seconds
later). The back-off constants are shrunk so retries take milliseconds; waits use Events.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Callable, Iterator, List, Optional

import pytest

from raven.transport import worker as worker_mod
from raven.transport.worker import DeliveryWorker, Pending, backoff_delay

WAIT = 5.0  # seconds to wait for something that should happen at once
#: read before any test shrinks them
DEFAULT_BACKOFF = (worker_mod.BACKOFF_BASE, worker_mod.BACKOFF_MAX)


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 0.001)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 0.004)


def item(name: str, size: int = 0) -> Pending:
    body = name.encode() if not size else b"x" * size
    return Pending("http://sentry.invalid/api/1/store/", body, {}, "error", name)


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %r" % predicate)
        time.sleep(0.002)


def worker_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "test.DeliveryWorker" and t.is_alive()]


class Script:
    """A ``deliver`` callable: answers from a per-event script, records every attempt.

    ``answers[event_id]`` is a list consumed one per attempt (None: delivered; a number:
    retry); once it is empty the event is delivered. ``hold`` names events whose attempt
    waits for ``release`` (``started`` is set when such an attempt begins).
    """

    def __init__(self, answers: Optional[dict] = None, hold: tuple = ()) -> None:
        self.answers = {k: list(v) for k, v in (answers or {}).items()}
        self.hold = set(hold)
        self.calls: List[str] = []
        self.times: List[float] = []
        self.attempts_seen: List[int] = []
        self.delivered: List[str] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, pending: Pending) -> Optional[float]:
        name = pending.event_id or ""
        self.calls.append(name)
        self.times.append(time.monotonic())
        self.attempts_seen.append(pending.attempts)
        if name in self.hold:
            self.started.set()
            assert self.release.wait(WAIT), "the test never released the held delivery"
        script = self.answers.get(name)
        answer = script.pop(0) if script else None
        if answer is None:
            self.delivered.append(name)
        return answer


@pytest.fixture
def make_worker() -> Iterator[Callable[..., DeliveryWorker]]:
    made: List[DeliveryWorker] = []
    scripts: List[Script] = []

    def make(deliver: Callable[[Pending], Optional[float]], **kwargs: Any) -> DeliveryWorker:
        kwargs.setdefault("name", "test.DeliveryWorker")
        kwargs.setdefault("rand", lambda: 1.0)
        if isinstance(deliver, Script):
            scripts.append(deliver)
        worker = DeliveryWorker(deliver, **kwargs)
        made.append(worker)
        return worker

    yield make
    for script in scripts:
        script.release.set()  # never leave a thread blocked in a held delivery
    for worker in made:
        worker.close(0)


# -- back-off ---------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_after_each_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 0.5)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 30.0)
    delays = [backoff_delay(n, lambda: 1.0) for n in range(1, 8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]


def test_backoff_stops_growing_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 0.5)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 30.0)
    assert backoff_delay(50, lambda: 1.0) == 30.0
    assert backoff_delay(10_000, lambda: 1.0) == 30.0


def test_backoff_jitter_takes_between_half_and_all_of_the_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 0.5)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 30.0)
    assert backoff_delay(3, lambda: 0.0) == 1.0
    assert backoff_delay(3, lambda: 0.5) == 1.5
    assert backoff_delay(3, lambda: 1.0) == 2.0


def test_the_default_backoff_starts_at_half_a_second_and_caps_at_ten() -> None:
    assert DEFAULT_BACKOFF == (0.5, 10.0)


# -- lazy start -------------------------------------------------------------------------------


def test_no_thread_is_started_before_the_first_event(make_worker: Any) -> None:
    worker = make_worker(Script())
    assert worker._thread is None
    assert worker_threads() == []
    assert worker.pending() == 0
    assert worker.flush(0.1) is True  # nothing to do: no thread needed either
    assert worker_threads() == []


def test_the_first_event_starts_one_daemon_thread(make_worker: Any) -> None:
    script = Script()
    worker = make_worker(script)
    worker.put(item("a"))
    worker.put(item("b"))
    threads = worker_threads()
    assert len(threads) == 1
    assert threads[0].daemon
    assert worker.flush(WAIT)
    assert script.delivered == ["a", "b"]


def test_an_idle_thread_exits_and_the_next_event_starts_a_new_one(
    make_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_mod, "IDLE_EXIT", 0.05)
    script = Script()
    worker = make_worker(script)
    worker.put(item("a"))
    assert worker.flush(WAIT)
    wait_until(lambda: worker_threads() == [])  # an unused client keeps no thread

    worker.put(item("b"))

    assert worker.flush(WAIT)
    assert script.delivered == ["a", "b"]


# -- order and retries ------------------------------------------------------------------------


def test_events_are_delivered_oldest_first(make_worker: Any) -> None:
    script = Script()
    worker = make_worker(script)
    names = [str(i) for i in range(20)]
    for name in names:
        assert worker.put(item(name))
    assert worker.flush(WAIT)
    assert script.delivered == names
    assert worker.pending() == 0


def test_a_failed_event_is_retried_before_any_later_one(make_worker: Any) -> None:
    script = Script({"a": [0.0, 0.0]}, hold=("a",))
    worker = make_worker(script)
    worker.put(item("a"))
    assert script.started.wait(WAIT)
    worker.put(item("b"))
    worker.put(item("c"))
    script.release.set()
    assert worker.flush(WAIT)
    assert script.calls == ["a", "a", "a", "b", "c"]
    assert script.delivered == ["a", "b", "c"]


def test_a_retried_event_counts_its_attempts(make_worker: Any) -> None:
    script = Script({"a": [0.0, 0.0, 0.0]})
    worker = make_worker(script)
    worker.put(item("a"))
    assert worker.flush(WAIT)
    assert script.attempts_seen == [0, 1, 2, 3]


def test_an_unreachable_server_never_makes_the_worker_drop_an_event(make_worker: Any) -> None:
    script = Script({"a": [0.0] * 40})
    abandoned: List[Pending] = []
    worker = make_worker(script, on_abandon=abandoned.extend)
    worker.put(item("a"))
    worker.put(item("b"))
    assert worker.flush(WAIT)
    assert script.calls.count("a") == 41
    assert script.delivered == ["a", "b"]
    assert abandoned == []


def test_the_worker_reports_failing_while_it_backs_off(
    make_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 30.0)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 30.0)
    script = Script({"a": [0.0]})
    worker = make_worker(script)
    assert not worker.failing
    worker.put(item("a"))
    wait_until(lambda: worker.failing and not worker._busy)
    assert worker.pending() == 1
    assert worker.flush(WAIT)  # a flush tries the waiting retry at once
    assert not worker.failing


def test_consecutive_failures_grow_the_backoff_and_a_success_resets_it(
    make_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: List[int] = []
    real = worker_mod.backoff_delay

    def spy(failures: int, rand: Callable[[], float]) -> float:
        asked.append(failures)
        return real(failures, rand)

    monkeypatch.setattr(worker_mod, "backoff_delay", spy)
    script = Script({"a": [0.0, 0.0, 0.0], "b": [0.0]})
    worker = make_worker(script)
    worker.put(item("a"))
    worker.put(item("b"))
    assert worker.flush(WAIT)
    assert asked == [1, 2, 3, 1]


def test_the_worker_waits_out_the_backoff_between_attempts(
    make_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 0.04)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 0.16)
    script = Script({"a": [0.0, 0.0, 0.0, 0.0]})
    worker = make_worker(script, rand=lambda: 1.0)  # no jitter: the full step
    worker.put(item("a"))
    wait_until(lambda: script.delivered == ["a"])
    gaps = [later - earlier for earlier, later in zip(script.times, script.times[1:])]
    for gap, step in zip(gaps, [0.04, 0.08, 0.16, 0.16]):
        assert gap >= step * 0.95


def test_jitter_shortens_the_wait_to_no_less_than_half_the_step(
    make_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 0.4)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 0.4)
    script = Script({"a": [0.0]})
    worker = make_worker(script, rand=lambda: 0.0)
    worker.put(item("a"))
    wait_until(lambda: script.delivered == ["a"])
    gap = script.times[1] - script.times[0]
    assert 0.19 <= gap < 0.39


def test_a_retry_hint_longer_than_the_backoff_is_honoured(make_worker: Any) -> None:
    script = Script({"a": [0.25]})
    worker = make_worker(script)
    worker.put(item("a"))
    wait_until(lambda: script.delivered == ["a"])
    assert script.times[1] - script.times[0] >= 0.24


@pytest.mark.logs_sentry_errors
def test_an_exception_in_deliver_is_logged_and_the_worker_goes_on(
    make_worker: Any, sentry_errors: List[Any]
) -> None:
    delivered: List[str] = []

    def deliver(pending: Pending) -> Optional[float]:
        if pending.event_id == "boom":
            raise RuntimeError("a bug in the policy")
        delivered.append(pending.event_id or "")
        return None

    worker = make_worker(deliver)
    worker.put(item("boom"))
    worker.put(item("after"))
    assert worker.flush(WAIT)
    assert delivered == ["after"]
    assert worker_threads()
    assert any("failed to deliver" in r.getMessage() for r in sentry_errors)


# -- bounds -----------------------------------------------------------------------------------


def test_the_queue_refuses_events_beyond_its_count(make_worker: Any) -> None:
    script = Script(hold=("a",))
    worker = make_worker(script, max_events=2)
    assert worker.put(item("a"))
    assert script.started.wait(WAIT)  # "a" is being sent: the queue itself is empty
    assert worker.put(item("b"))
    assert worker.put(item("c"))
    assert not worker.put(item("d"))
    assert worker.pending() == 3
    script.release.set()
    assert worker.flush(WAIT)
    assert script.delivered == ["a", "b", "c"]


def test_the_queue_refuses_events_beyond_its_bytes(make_worker: Any) -> None:
    script = Script(hold=("a",))
    worker = make_worker(script, max_bytes=10)
    assert worker.put(item("a", size=10))
    assert script.started.wait(WAIT)
    b, c = item("b", size=6), item("c", size=6)
    assert worker.put(b)
    assert not worker.put(c)
    assert worker.put(item("d", size=4))  # exactly at the bound still fits
    script.release.set()
    assert worker.flush(WAIT)
    assert script.delivered == ["a", "b", "d"]


def test_an_event_larger_than_the_byte_bound_is_refused_even_when_empty(make_worker: Any) -> None:
    worker = make_worker(Script(), max_bytes=10)
    assert not worker.put(item("big", size=11))
    assert worker._thread is None


def test_the_queue_has_room_again_once_events_are_sent(make_worker: Any) -> None:
    script = Script()
    worker = make_worker(script, max_events=1)
    for name in "abcde":
        assert worker.put(item(name))
        assert worker.flush(WAIT)
    assert script.delivered == list("abcde")


# -- flush ------------------------------------------------------------------------------------


def test_flush_returns_true_once_everything_is_finished(make_worker: Any) -> None:
    script = Script({"b": [0.0, 0.0]})
    worker = make_worker(script)
    for name in "abc":
        worker.put(item(name))
    assert worker.flush(WAIT) is True
    assert worker.pending() == 0
    assert script.delivered == ["a", "b", "c"]


def test_flush_returns_false_at_its_deadline_while_a_send_hangs(make_worker: Any) -> None:
    script = Script(hold=("a",))
    worker = make_worker(script)
    worker.put(item("a"))
    worker.put(item("b"))
    assert script.started.wait(WAIT)
    started = time.monotonic()
    assert worker.flush(0.2) is False
    elapsed = time.monotonic() - started
    assert 0.19 <= elapsed < 0.6
    assert worker.pending() == 2
    script.release.set()
    assert worker.flush(WAIT)


def test_flush_tries_a_waiting_retry_at_once(
    make_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 30.0)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 30.0)
    script = Script({"a": [0.0]})
    worker = make_worker(script)
    worker.put(item("a"))
    worker.put(item("b"))
    wait_until(lambda: worker.failing and not worker._busy)
    started = time.monotonic()
    assert worker.flush(WAIT)
    assert time.monotonic() - started < 1.0
    assert script.delivered == ["a", "b"]


def test_flush_skips_the_backoff_only_once_per_call(
    make_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_mod, "BACKOFF_BASE", 30.0)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX", 30.0)
    script = Script({"a": [0.0] * 10})
    worker = make_worker(script)
    worker.put(item("a"))
    wait_until(lambda: worker.failing and not worker._busy)
    assert worker.flush(0.3) is False
    assert script.calls == ["a", "a"]  # the first try, and the one the flush asked for
    assert worker.pending() == 1


def test_flush_without_a_timeout_waits_up_to_the_shutdown_timeout(make_worker: Any) -> None:
    script = Script(hold=("a",))
    worker = make_worker(script, shutdown_timeout=0.2)
    worker.put(item("a"))
    assert script.started.wait(WAIT)
    started = time.monotonic()
    assert worker.flush() is False
    assert 0.19 <= time.monotonic() - started < 0.6


# -- close and abandoned events ---------------------------------------------------------------


def test_close_delivers_what_it_can_within_its_timeout(make_worker: Any) -> None:
    script = Script()
    abandoned: List[Pending] = []
    worker = make_worker(script, on_abandon=abandoned.extend)
    for name in "abc":
        worker.put(item(name))
    assert worker.close(WAIT) == []
    assert script.delivered == ["a", "b", "c"]
    assert abandoned == []


def test_close_returns_and_hands_over_the_events_it_could_not_send(make_worker: Any) -> None:
    script = Script(hold=("a",))
    abandoned: List[Pending] = []
    worker = make_worker(script, on_abandon=abandoned.extend)
    for name in "abc":
        worker.put(item(name))
    assert script.started.wait(WAIT)
    started = time.monotonic()
    left = worker.close(0.1)
    assert time.monotonic() - started < 1.0
    assert [p.event_id for p in left] == ["b", "c"]
    assert [p.event_id for p in abandoned] == ["b", "c"]
    assert worker.pending() == 1  # "a" is still being sent
    script.release.set()
    wait_until(lambda: script.delivered == ["a"])
    assert script.calls == ["a"]  # nothing is sent after close


def test_an_event_in_flight_at_close_that_then_fails_is_abandoned_too(make_worker: Any) -> None:
    script = Script({"a": [0.0]}, hold=("a",))
    abandoned: List[Pending] = []
    done = threading.Event()

    def on_abandon(items: List[Pending]) -> None:
        abandoned.extend(items)
        if any(p.event_id == "a" for p in items):
            done.set()

    worker = make_worker(script, on_abandon=on_abandon)
    worker.put(item("a"))
    worker.put(item("b"))
    assert script.started.wait(WAIT)
    worker.close(0.05)
    script.release.set()
    assert done.wait(WAIT)
    assert sorted(p.event_id or "" for p in abandoned) == ["a", "b"]
    assert script.calls == ["a"]


def test_close_stops_the_thread(make_worker: Any) -> None:
    worker = make_worker(Script())
    worker.put(item("a"))
    assert worker.flush(WAIT)
    thread = worker._thread
    assert thread is not None and thread.is_alive()
    worker.close(WAIT)
    thread.join(WAIT)
    assert not thread.is_alive()


def test_close_of_an_idle_worker_abandons_nothing(make_worker: Any) -> None:
    abandoned: List[Pending] = []
    worker = make_worker(Script(), on_abandon=abandoned.extend)
    assert worker.close(0) == []
    assert abandoned == []


# -- the atexit hook --------------------------------------------------------------------------


def test_one_atexit_hook_serves_every_worker(
    make_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered: List[Any] = []
    monkeypatch.setattr(worker_mod, "_atexit_registered", False)
    monkeypatch.setattr(worker_mod.atexit, "register", registered.append)
    first, second = make_worker(Script()), make_worker(Script())
    assert registered == []  # nothing before a thread starts
    first.put(item("a"))
    second.put(item("b"))
    assert first.flush(WAIT) and second.flush(WAIT)
    assert registered == [worker_mod._flush_all_at_exit]


def test_the_exit_hook_sends_what_is_still_queued(make_worker: Any) -> None:
    script = Script(hold=("a",))
    worker = make_worker(script)
    worker.put(item("a"))
    worker.put(item("b"))
    assert script.started.wait(WAIT)
    threading.Timer(0.05, script.release.set).start()
    worker_mod._flush_all_at_exit()
    assert script.delivered == ["a", "b"]


@pytest.mark.logs_sentry_errors
def test_the_exit_hook_gives_up_after_the_shutdown_timeout_and_says_so(
    make_worker: Any, sentry_errors: List[Any]
) -> None:
    script = Script(hold=("a",))
    abandoned: List[Pending] = []
    worker = make_worker(script, shutdown_timeout=0.3, on_abandon=abandoned.extend)
    worker.put(item("a"))
    worker.put(item("b"))
    assert script.started.wait(WAIT)
    started = time.monotonic()
    worker_mod._flush_all_at_exit()
    assert time.monotonic() - started < 1.0
    assert [p.event_id for p in abandoned] == ["b"]
    messages = [(r.levelname, r.getMessage()) for r in sentry_errors]
    assert any(level == "WARNING" and "pending" in text for level, text in messages)
    assert any(level == "ERROR" and "gave up on 1 event" in text for level, text in messages)


# -- fork -------------------------------------------------------------------------------------


def run_in_child(child: Callable[[], Any]) -> Any:
    """Fork; run ``child`` in the child; return what it returned (JSON) through a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 0
        try:
            os.close(read_end)
            try:
                result = {"ok": child()}
            except BaseException as exc:
                result = {"error": repr(exc)}
            os.write(write_end, json.dumps(result).encode())
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    result = json.loads(b"".join(chunks) or b"{}")
    assert "error" not in result, result.get("error")
    return result["ok"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork with threads
def test_a_forked_child_starts_its_own_thread_and_leaves_the_parents_queue_alone(
    make_worker: Any,
) -> None:
    script = Script(hold=("parent-1",))
    worker = make_worker(script)
    worker.put(item("parent-1"))
    worker.put(item("parent-2"))
    assert script.started.wait(WAIT)

    def child() -> Any:
        before = worker.pending()
        thread_before = worker._thread
        worker.put(item("child-1"))
        flushed = worker.flush(WAIT)
        return {
            "pending_before": before,
            "thread_before": thread_before is not None,
            "flushed": flushed,
            "thread_alive": worker._thread is not None and worker._thread.is_alive(),
            "delivered": script.delivered,
        }

    result = run_in_child(child)
    assert result == {
        "pending_before": 0,
        "thread_before": False,
        "flushed": True,
        "thread_alive": True,
        "delivered": ["child-1"],
    }
    script.release.set()
    assert worker.flush(WAIT)
    assert script.delivered == ["parent-1", "parent-2"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_fork_is_noticed_at_the_next_put_even_without_the_at_fork_hook(
    make_worker: Any,
) -> None:
    script = Script(hold=("parent",))
    worker = make_worker(script)
    worker.put(item("parent"))
    assert script.started.wait(WAIT)

    def child() -> Any:
        # undo what the at-fork hook did: the worker looks like the parent's copy
        worker._pid = -1
        worker._thread = threading.Thread(target=lambda: None)  # never started: not alive
        worker._queue.append(item("copied-from-parent"))
        worker.put(item("child"))
        flushed = worker.flush(WAIT)
        return {"flushed": flushed, "delivered": script.delivered, "pid": worker._pid}

    result = run_in_child(child)
    assert result["flushed"] is True
    assert result["delivered"] == ["child"]
    assert result["pid"] not in (-1, os.getpid())
    script.release.set()
    assert worker.flush(WAIT)
    assert script.delivered == ["parent"]
