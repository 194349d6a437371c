"""``raven.contrib.celery`` on real Celery tasks: what a failing task reports, and what it does not.

Tasks run eagerly (``task_always_eager``) or through Celery's own tracer as a worker runs them
(``build_tracer``); both send the real signals. A few failures that only a worker's parent
process sees are sent as the signal Celery sends for them.
"""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from typing import Any, Dict, Iterator, List, Optional

import billiard.einfo
import pytest
from billiard.einfo import ExceptionInfo
from celery import Celery, signals
from celery.app.trace import build_tracer
from celery.exceptions import SoftTimeLimitExceeded, WorkerLostError

from raven.contrib.celery import (
    CeleryFilter,
    SentryCeleryHandler,
    SentryHandler,
    failure_exc_info,
    register_logger_signal,
    register_signal,
)
from raven.utils.testutils import InMemoryClient

pytestmark = [
    # Celery 5.0 looks its backends up through pkg_resources, which warns on import
    pytest.mark.filterwarnings("ignore:pkg_resources is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:Deprecated call to `pkg_resources:DeprecationWarning"),
]

#: billiard >= 4 (Celery 5.5+) wraps the exception of ``einfo``; older billiard has no wrapper
ExceptionWithTraceback = getattr(billiard.einfo, "ExceptionWithTraceback", None)
needs_wrapper = pytest.mark.skipif(
    ExceptionWithTraceback is None, reason="this billiard has no ExceptionWithTraceback"
)


class CardDeclined(Exception):
    pass


class CouponExpired(Exception):
    """A failure the task declares in ``throws``: expected, a business outcome."""


class HoldsALock(Exception):
    """An exception Celery cannot pickle (it replaces it by a stand-in)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


app = Celery("raven-tests", set_as_current=False)
app.conf.update(task_always_eager=True, task_eager_propagates=False)


@app.task(name="shop.charge")
def charge(order: str, amount: int, currency: str = "EUR") -> None:
    raise CardDeclined("card declined for %s (%d %s)" % (order, amount, currency))


@app.task(name="shop.redeem", throws=(CouponExpired,))
def redeem(code: str) -> None:
    raise CouponExpired("coupon %s expired" % code)


@app.task(name="shop.report")
def report() -> None:
    raise SoftTimeLimitExceeded()


@app.task(name="shop.lock")
def lock() -> None:
    raise HoldsALock("cannot pickle me")


@app.task(name="shop.tagged")
def tagged(step: str, fail: bool) -> str:
    client = CURRENT_CLIENT[0]
    client.tags_context({"step": step})
    client.extra_context({"seen": sorted(client.context.get("tags", {}))})
    if fail:
        raise CardDeclined("failed at %s" % step)
    return step


@app.task(name="shop.ok")
def ok() -> str:
    return "done"


@app.task(name="shop.log_and_fail")
def log_and_fail() -> None:
    logging.getLogger("shop.tasks").error("refund for %s failed", "A-9")
    raise CardDeclined("declined after logging")


#: the client the ``tagged`` task reports through
CURRENT_CLIENT: List[InMemoryClient] = []

_SIGNALS = (
    signals.task_prerun,
    signals.task_postrun,
    signals.task_failure,
    signals.worker_process_shutdown,
    signals.after_setup_logger,
)


@pytest.fixture(autouse=True)
def _restore_celery_signals() -> Iterator[None]:
    """Celery's signals are process-wide: give the next test the receivers this one found."""
    saved = {signal: list(signal.receivers) for signal in _SIGNALS}
    yield
    for signal, receivers in saved.items():
        signal.receivers[:] = receivers
        signal.sender_receivers_cache.clear()


@pytest.fixture
def client(make_client: Any) -> InMemoryClient:
    made = make_client()
    CURRENT_CLIENT[:] = [made]
    return made


def run_in_worker(task: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``task`` as a worker does (Celery's tracer, not eager); returns the trace result."""
    task_id = str(uuid.uuid4())
    tracer = build_tracer(task.name, task, app=app)
    tracer(task_id, args, kwargs, {"id": task_id})
    return task_id


def exception_of(event: Dict[str, Any]) -> Dict[str, Any]:
    return event["exception"]["values"][-1]


def einfo_of(exc: BaseException) -> Any:
    """billiard's ExceptionInfo for ``exc`` raised here, as Celery builds it."""
    try:
        raise exc
    except BaseException:
        return ExceptionInfo()


# -- task failures ---------------------------------------------------------------------------


def test_a_failing_task_is_reported_with_its_id_name_and_arguments(client):
    register_signal(client)

    result = charge.delay("A-17", 42, currency="USD")

    assert result.state == "FAILURE"
    [event] = client.events
    value = exception_of(event)
    assert value["type"] == "CardDeclined"
    assert value["value"] == "card declined for A-17 (42 USD)"
    assert value["stacktrace"]["frames"][-1]["function"] == "charge"
    assert event["extra"]["task_id"] == repr(result.id)
    assert event["extra"]["task"] == "'shop.charge'"
    assert event["extra"]["args"] == ("'A-17'", "42")
    assert event["extra"]["kwargs"] == {"'currency'": "'USD'"}
    assert event["tags"]["celery_task_name"] == "shop.charge"
    assert event["transaction"] == "shop.charge"
    assert "fingerprint" not in event


def test_a_task_that_succeeds_reports_nothing_and_leaves_no_transaction(client):
    register_signal(client)

    assert ok.delay().get() == "done"
    assert run_in_worker(ok)

    assert client.events == []
    assert list(client.transaction) == []


def test_the_task_name_is_the_transaction_only_while_the_task_runs(client):
    register_signal(client)
    seen = []
    signals.task_postrun.connect(
        lambda **kw: seen.append(list(client.transaction)), weak=False, dispatch_uid="probe"
    )
    client.transaction.push("/checkout")

    charge.delay("A-1", 1)

    assert client.events[-1]["transaction"] == "shop.charge"
    assert seen == [["/checkout"]]  # popped before the probe ran (connected after raven)
    assert list(client.transaction) == ["/checkout"]


def test_each_task_in_a_worker_starts_with_an_empty_context(client):
    register_signal(client)
    client.tags_context({"left": "over"})  # e.g. from worker start-up code

    run_in_worker(tagged, "first", fail=True)
    run_in_worker(tagged, "second", fail=True)

    first, second = client.events
    assert first["tags"] == {"step": "first", "celery_task_name": "shop.tagged"}
    assert second["tags"] == {"step": "second", "celery_task_name": "shop.tagged"}
    assert second["extra"]["seen"] == ("'step'",)
    assert client.context.get("tags") is None  # cleared when the task ended


def test_an_eager_task_shares_its_callers_context_and_gives_it_back(client):
    register_signal(client)
    client.user_context({"id": "7"})
    client.tags_context({"request": "r-1"})

    tagged.delay("inside", fail=True)

    [event] = client.events
    assert event["user"] == {"id": "7"}
    assert event["tags"] == {"request": "r-1", "step": "inside", "celery_task_name": "shop.tagged"}
    # the caller's context is as it was: the task's tag is gone, the caller's are kept
    assert client.context["tags"] == {"request": "r-1"}
    assert client.context["user"] == {"id": "7"}


def test_an_exception_celery_cannot_pickle_is_reported_as_itself(client):
    register_signal(client)

    run_in_worker(lock)
    lock.delay()

    for event in client.events:
        value = exception_of(event)
        assert value["type"] == "HoldsALock"
        assert value["value"] == "cannot pickle me"
        assert value["stacktrace"]["frames"][-1]["function"] == "lock"
    assert len(client.events) == 2


# -- expected exceptions and soft time limits ------------------------------------------------


def test_expected_exceptions_are_reported_unless_ignore_expected(make_client):
    reporting, ignoring = make_client(), make_client()
    register_signal(reporting)
    register_signal(ignoring, ignore_expected=True)

    redeem.delay("SPRING")
    run_in_worker(redeem, "SUMMER")
    charge.delay("A-2", 5)

    assert [exception_of(e)["type"] for e in reporting.events] == [
        "CouponExpired",
        "CouponExpired",
        "CardDeclined",
    ]
    assert [exception_of(e)["type"] for e in ignoring.events] == ["CardDeclined"]


@needs_wrapper
def test_ignore_expected_sees_through_billiards_exception_wrapper(client):
    handler = register_signal(client, ignore_expected=True)
    einfo = einfo_of(CouponExpired("WINTER"))
    assert isinstance(einfo.exception, ExceptionWithTraceback)  # what Celery 5.5+ hands over

    # the wrapper in einfo only, and the wrapper as the signal's exception too
    signals.task_failure.send(sender=redeem, task_id="t-1", exception=None, einfo=einfo)
    handler.handle_failure(sender=redeem, task_id="t-2", exception=einfo.exception, einfo=einfo)
    signals.task_failure.send(
        sender=charge, task_id="t-3", exception=None, einfo=einfo_of(CardDeclined("x"))
    )

    [event] = client.events
    assert exception_of(event)["type"] == "CardDeclined"
    assert event["extra"]["task_id"] == "'t-3'"


def test_a_soft_time_limit_is_grouped_per_task(client):
    register_signal(client)

    report.delay()
    run_in_worker(report)

    for event in client.events:
        assert exception_of(event)["type"] == "SoftTimeLimitExceeded"
        assert event["fingerprint"] == ["celery", "SoftTimeLimitExceeded", "shop.report"]
    assert len(client.events) == 2


@needs_wrapper
def test_a_wrapped_soft_time_limit_is_grouped_per_task(client):
    register_signal(client)
    einfo = einfo_of(SoftTimeLimitExceeded())

    signals.task_failure.send(sender=report, task_id="t-1", exception=None, einfo=einfo)

    [event] = client.events
    assert exception_of(event)["type"] == "SoftTimeLimitExceeded"
    assert event["fingerprint"] == ["celery", "SoftTimeLimitExceeded", "shop.report"]


# -- failures seen outside the task's run (the worker's parent process) ----------------------


def test_a_lost_worker_is_reported_with_the_task_as_transaction(client):
    register_signal(client)
    einfo = einfo_of(WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL)."))
    exc = getattr(einfo.exception, "exc", einfo.exception)
    exc.__traceback__ = None  # it crossed a process boundary: Celery has only billiard's copy

    # as celery.worker.request sends it: the traceback is text, einfo.exception maybe wrapped
    signals.task_failure.send(
        sender=charge,
        task_id="t-9",
        exception=exc,
        args=["A-3", 1],
        kwargs={},
        traceback=einfo.traceback,
        einfo=einfo,
    )

    [event] = client.events
    value = exception_of(event)
    assert value["type"] == "WorkerLostError"
    assert value["value"] == "Worker exited prematurely: signal 9 (SIGKILL)."
    assert value["stacktrace"]["frames"][-1]["function"] == "einfo_of"  # billiard's copy
    assert event["transaction"] == "shop.charge"
    assert event["extra"]["args"] == ("'A-3'", "1")


def test_failure_exc_info_prefers_the_live_traceback_of_the_same_exception():
    try:
        raise CardDeclined("live")
    except CardDeclined as exc:
        live = sys.exc_info()
        assert failure_exc_info(exc, None, None) == live
        other = CardDeclined("another")
        found = failure_exc_info(other, None, None)
    assert found == (CardDeclined, other, None)
    assert failure_exc_info(None, None, None) is None
    assert failure_exc_info("not an exception", None, object()) is None


# -- logging -------------------------------------------------------------------------------------


def setup_logger(logger: logging.Logger) -> None:
    """What Celery does once it has configured logging (a worker, or ``app.log.setup()``)."""
    signals.after_setup_logger.send(
        sender=None, logger=logger, loglevel=logging.INFO, logfile=None, format="", colorize=False
    )


@pytest.fixture
def celery_root() -> Iterator[logging.Logger]:
    """A logger standing in for the root logger Celery sets up; records propagate to it."""
    logger = logging.getLogger("celery.app.trace")
    shop = logging.getLogger("shop.tasks")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    shop_saved = (list(shop.handlers), shop.propagate)
    logger.propagate = shop.propagate = False
    logger.setLevel(logging.INFO)
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved
    shop.handlers[:], shop.propagate = shop_saved


def sentry_handlers(logger: logging.Logger) -> List[logging.Handler]:
    return [h for h in logger.handlers if isinstance(h, SentryHandler)]


def test_register_logger_signal_adds_one_filtered_handler_at_the_level(client, celery_root):
    register_logger_signal(client, loglevel=logging.WARNING)
    register_logger_signal(client, loglevel=logging.WARNING)  # registered once per client

    setup_logger(celery_root)
    setup_logger(celery_root)  # a second logging set-up adds nothing either

    [handler] = sentry_handlers(celery_root)
    assert handler.client is client
    assert handler.level == logging.WARNING
    assert [type(f) for f in handler.filters] == [CeleryFilter]


def test_the_level_may_be_named_but_must_exist(client, celery_root):
    with pytest.raises(ValueError, match="loglevel must be a logging level"):
        register_logger_signal(client, loglevel="LOUD")
    register_logger_signal(client, loglevel="WARNING")

    setup_logger(celery_root)

    assert [h.level for h in sentry_handlers(celery_root)] == [logging.WARNING]


def test_an_existing_sentry_handler_only_gets_the_filter(client, celery_root):
    existing = SentryHandler(client)
    celery_root.addHandler(existing)
    register_logger_signal(client)

    setup_logger(celery_root)

    assert sentry_handlers(celery_root) == [existing]
    assert [type(f) for f in existing.filters] == [CeleryFilter]


def test_a_task_failure_is_reported_once_though_celery_also_logs_it(client, celery_root):
    register_signal(client)
    register_logger_signal(client)
    setup_logger(celery_root)
    logging.getLogger("shop.tasks").addHandler(sentry_handlers(celery_root)[0])

    log_and_fail.delay()
    run_in_worker(log_and_fail)

    assert [e["message"] for e in client.events] == [
        "refund for A-9 failed",
        "CardDeclined: declined after logging",
    ] * 2


def test_celery_filter_keeps_internal_errors_and_drops_task_failures():
    keep = CeleryFilter().filter

    def record(func: str, data: Any) -> logging.LogRecord:
        made = logging.LogRecord("celery.app.trace", logging.ERROR, __file__, 1, "x", (), None)
        made.funcName = func
        if data is not None:
            made.data = data
        return made

    assert not keep(record("_log_error", {"internal": False, "id": "t-1"}))
    assert keep(record("_log_error", {"internal": True, "id": "t-1"}))
    assert not keep(record("_log_error", None))
    assert not keep(record("_log_error", "text"))
    assert keep(record("on_failure", None))
    assert keep(record("info", {"hostname": "w1"}))


# -- installing, uninstalling -------------------------------------------------------------------


def test_installing_twice_still_reports_a_failure_once(client):
    handler = register_signal(client)
    handler.install()
    SentryCeleryHandler(client).install()  # another handler for the same client

    charge.delay("A-4", 1)

    assert len(client.events) == 1


def test_uninstall_disconnects_every_signal(client):
    handler = register_signal(client)
    handler.uninstall()
    client.tags_context({"kept": "yes"})

    charge.delay("A-5", 1)
    run_in_worker(charge, "A-6", 1)
    signals.worker_process_shutdown.send(sender=None, pid=1, exitcode=0)

    assert client.events == []
    assert client.context["tags"] == {"kept": "yes"}
    ours = {uid for _, _, uid in handler._connections()}
    for signal in (signals.task_prerun, signals.task_postrun, signals.task_failure):
        assert not any(key[0] in ours for key, _ in signal.receivers)


def test_a_malformed_throws_declares_nothing(client):
    register_signal(client, ignore_expected=True)
    einfo = einfo_of(CouponExpired("AUTUMN"))

    signals.task_failure.send(
        sender=type("Task", (), {"name": "shop.odd", "throws": "CouponExpired"})(),
        task_id="t-1",
        exception=getattr(einfo.exception, "exc", einfo.exception),
        einfo=einfo,
    )

    assert [exception_of(e)["type"] for e in client.events] == ["CouponExpired"]


def test_two_clients_each_get_their_own_report(make_client):
    first, second = make_client(), make_client()
    register_signal(first)
    register_signal(second)

    charge.delay("A-7", 1)

    assert len(first.events) == len(second.events) == 1


def test_a_pool_process_sends_pending_events_before_it_exits(client, monkeypatch):
    flushed = []
    monkeypatch.setattr(client, "flush", lambda timeout=None: flushed.append(timeout))
    register_signal(client)

    signals.worker_process_shutdown.send(sender=None, pid=1, exitcode=0)

    assert flushed == [None]  # the client's shutdown_timeout


def test_register_signal_refuses_what_is_not_a_client():
    with pytest.raises(TypeError, match="needs a raven Client"):
        register_signal(None)  # type: ignore[arg-type]


# -- raven's own failures ----------------------------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def dispatcher_errors() -> Iterator[List[logging.LogRecord]]:
    """What Celery's signal dispatcher logs: a receiver that raised into it."""
    handler = Records()
    logger = logging.getLogger("celery.utils.dispatch.signal")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


class BrokenStack:
    def push(self, name: Any) -> None:
        raise RuntimeError("transaction stack is broken")

    pop = push


class BrokenClient(InMemoryClient):
    """A client whose every entry point the integration uses fails."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.transaction = BrokenStack()  # type: ignore[assignment]

    def captureException(self, *args: Any, **kwargs: Any) -> Optional[str]:
        raise RuntimeError("capture is broken")

    def flush(self, timeout: Optional[float] = None) -> Any:
        raise RuntimeError("flush is broken")


@pytest.mark.logs_sentry_errors
def test_a_broken_client_never_raises_into_the_task(sentry_errors, dispatcher_errors):
    broken = BrokenClient(install_sys_hook=False, hook_libraries=[])
    register_signal(broken)

    assert ok.delay().get() == "done"
    failed = charge.delay("A-8", 1)
    run_in_worker(charge, "A-8", 1)
    signals.worker_process_shutdown.send(sender=None, pid=1, exitcode=0)

    assert failed.state == "FAILURE"
    assert isinstance(failed.result, CardDeclined)  # the task's own outcome, untouched
    messages = [r.getMessage() for r in sentry_errors]
    assert "Failed to report a failed Celery task" in messages
    assert "Failed to set up the context of a Celery task" in messages
    assert "Failed to clear the context of a Celery task" in messages
    assert "Failed to send pending events as a Celery process exits" in messages
    # raven handled its errors itself: Celery's dispatcher never saw one
    assert dispatcher_errors == []


@pytest.mark.logs_sentry_errors
def test_a_broken_logging_setup_is_logged_not_raised(client, sentry_errors):
    register_logger_signal(client)

    class NoHandlers(logging.Logger):
        @property  # type: ignore[override]
        def handlers(self) -> Any:
            raise RuntimeError("no handlers here")

        @handlers.setter
        def handlers(self, value: Any) -> None:
            pass

    setup_logger(NoHandlers("broken"))

    assert [r.getMessage() for r in sentry_errors] == [
        "Failed to add Sentry's handler to Celery's logger"
    ]
