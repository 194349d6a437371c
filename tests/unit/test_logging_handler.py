"""The logging ``SentryHandler``: how it is built, how a record becomes an event, and why it
never loops, deadlocks or sends raven's own records (also against a real server that is down).
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List
from unittest import mock

import pytest

import raven.handlers.logging as handler_module
from raven.base import Client
from raven.breadcrumbs import _suppressed
from raven.conf import EXCLUDE_LOGGER_DEFAULTS, setup_logging
from raven.handlers.logging import CONTEXTUAL, RESERVED, SentryHandler, extract_extra
from raven.transport.http import HTTPTransport
from raven.transport.threaded import ThreadedHTTPTransport
from raven.utils.stacks import iter_stack_frames
from raven.utils.testutils import InMemoryClient
from servers.sink import Sink

DSN = "http://public:secret@example.com/1"


def make_record(
    msg: Any = "This is a test error",
    args: Any = (),
    level: int = logging.INFO,
    extra: Dict[str, Any] | None = None,
    exc_info: Any = None,
    name: str = "root",
) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 27, msg, args, exc_info, "make_record")
    record.__dict__.update(extra or {})
    return record


def exc_info_of(exc: BaseException) -> Any:
    try:
        raise exc
    except BaseException:
        return sys.exc_info()


@pytest.fixture
def handler(client: InMemoryClient) -> SentryHandler:
    return SentryHandler(client)


@pytest.fixture
def app_logger(handler: SentryHandler) -> Iterator[logging.Logger]:
    """A logger whose only handler is ``handler`` (it does not propagate to the root)."""
    logger = logging.getLogger("app.handler_tests")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.handlers[:] = [handler]
    yield logger
    logger.handlers[:] = []
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def crumb_messages(event: Dict[str, Any]) -> List[str]:
    return [c["message"] for c in (event.get("breadcrumbs") or {}).get("values", [])]


# -- construction -----------------------------------------------------------------------------


def test_a_client_as_the_only_argument_is_used(client: InMemoryClient) -> None:
    assert SentryHandler(client).client is client


def test_a_client_as_keyword_is_used(client: InMemoryClient) -> None:
    assert SentryHandler(client=client).client is client


def test_a_dsn_builds_a_client_with_the_other_options() -> None:
    handler = SentryHandler(DSN, release="1.0", install_sys_hook=False, tags={"team": "core"})
    assert type(handler.client) is Client
    assert handler.client.remote.base_url == "http://example.com"
    assert handler.client.release == "1.0"
    # tags are the handler's and, as in 6.10, the new client's default tags
    assert handler.tags == {"team": "core"}
    assert handler.client.tags == {"team": "core"}


def test_a_dsn_with_client_cls_builds_that_class() -> None:
    handler = SentryHandler(DSN, client_cls=InMemoryClient, install_sys_hook=False)
    assert type(handler.client) is InMemoryClient


def test_keyword_options_alone_build_a_client() -> None:
    handler = SentryHandler(dsn=DSN, client_cls=InMemoryClient, install_sys_hook=False)
    assert type(handler.client) is InMemoryClient
    assert handler.client.remote.project == "1"


def test_the_client_class_is_looked_up_as_the_module_global_when_called() -> None:
    with mock.patch("raven.handlers.logging.Client") as patched:
        handler = SentryHandler(dsn=DSN, site="s", level=logging.ERROR)
    # a factory other than a raven client class gets every keyword, as 6.10 passed them
    patched.assert_called_once_with(dsn=DSN, site="s", level=logging.ERROR)
    assert handler.client is patched.return_value
    assert handler.level == logging.ERROR


def test_a_raven_client_class_is_not_given_the_handler_options() -> None:
    # raven.Client warns about options it does not know (and tests turn warnings into errors)
    with mock.patch.object(InMemoryClient, "__init__", return_value=None) as init:
        SentryHandler(DSN, client_cls=InMemoryClient, level="ERROR", tags={"a": "b"})
    init.assert_called_once_with(dsn=DSN, tags={"a": "b"})


def test_a_client_none_keyword_builds_a_client_from_the_options() -> None:
    handler = SentryHandler(client=None, dsn=DSN, client_cls=InMemoryClient)
    assert type(handler.client) is InMemoryClient


@pytest.mark.parametrize("argument", [object, 42, ["dsn"]])
def test_any_other_single_argument_is_a_value_error(argument: Any) -> None:
    with pytest.raises(ValueError, match="must be either a Client instance or a DSN"):
        SentryHandler(argument)


def test_the_level_defaults_to_notset_and_accepts_names(client: InMemoryClient) -> None:
    assert SentryHandler(client).level == logging.NOTSET
    assert SentryHandler(client, level="ERROR").level == logging.ERROR
    assert SentryHandler(DSN, level="WARNING", install_sys_hook=False).level == logging.WARNING


def test_the_6_10_module_names_are_there() -> None:
    assert handler_module.Client is Client
    assert handler_module.iter_stack_frames is iter_stack_frames
    assert handler_module.to_string("x") == b"x"
    assert "message" in RESERVED and "tags" in RESERVED
    assert set(CONTEXTUAL) == {"user", "culprit", "server_name", "fingerprint"}


# -- record -> event --------------------------------------------------------------------------


def test_a_record_becomes_a_message_event(handler: SentryHandler, client: InMemoryClient) -> None:
    event_id = handler.emit(make_record())
    [event] = client.events
    assert event["event_id"] == event_id
    assert event["logger"] == "root"
    assert event["level"] == logging.INFO
    assert event["message"] == "This is a test error"
    assert "exception" not in event
    assert event["sentry.interfaces.Message"] == {
        "message": "This is a test error",
        "params": (),
        "formatted": "This is a test error",
    }


def test_message_params_and_the_formatted_text_are_sent(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    handler.emit(make_record("This is a test of %s", args=("args",)))
    [event] = client.events
    assert event["message"] == "This is a test of args"
    interface = event["sentry.interfaces.Message"]
    assert interface["message"] == "This is a test of %s"
    assert interface["params"] == ("'args'",)  # 6.10's repr-strings
    assert interface["formatted"] == "This is a test of args"


def test_a_record_whose_args_do_not_fit_is_sent_with_its_template(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    handler.emit(make_record("%s and %s", args=("one",)))
    [event] = client.events
    assert event["message"] == "%s and %s"
    assert event["sentry.interfaces.Message"]["formatted"] is None


def test_exc_info_makes_an_exception_event_that_keeps_the_message(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    record = make_record(
        "Failed for %s", args=("bob",), exc_info=exc_info_of(ValueError("bad value"))
    )
    handler.emit(record)
    [event] = client.events
    assert event["message"] == "Failed for bob"
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("ValueError", "bad value")
    assert event["sentry.interfaces.Message"]["message"] == "Failed for %s"
    assert event["sentry.interfaces.Message"]["params"] == ("'bob'",)
    assert event["level"] == logging.INFO  # the record's level, not the exception default


def test_an_exception_that_was_never_raised_is_still_an_exception(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    error = KeyError("k")
    handler.emit(make_record("lookup", exc_info=(KeyError, error, None)))
    [event] = client.events
    assert event["exception"]["values"][0]["type"] == "KeyError"


def test_an_empty_exc_info_is_a_plain_message(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    handler.emit(make_record(exc_info=(None, None, None)))
    [event] = client.events
    assert "exception" not in event


def test_ignored_exceptions_are_not_sent(make_client: Callable[..., InMemoryClient]) -> None:
    class Foo(Exception):
        pass

    client = make_client(ignore_exceptions=["Foo"])
    SentryHandler(client).emit(make_record(exc_info=exc_info_of(Foo())))
    assert client.events == []


def test_record_data_goes_to_extra_without_changing_the_callers_dict(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    data = {"url": "http://example.com"}
    handler.emit(make_record(extra={"data": data}))
    handler.emit(make_record(extra={"data": "foo"}))
    first, second = client.events
    assert first["extra"]["url"] == "'http://example.com'"
    assert second["extra"]["data"] == "'foo'"
    assert data == {"url": "http://example.com"}


def test_record_attributes_are_split_between_extra_and_the_event() -> None:
    record = make_record(
        extra={
            "invoice": 42,
            "culprit": "billing.charge",
            "server_name": "web-3",
            "fingerprint": ["payments"],
            "user": {"id": "u1"},
            "sentry.interfaces.Http": {"url": "http://x"},
            "_private": 1,
            "stack": True,
            "tags": {"a": "b"},
        }
    )
    data, extra = extract_extra(record)
    assert data == {
        "culprit": "billing.charge",
        "server_name": "web-3",
        "fingerprint": ["payments"],
        "user": {"id": "u1"},
        "sentry.interfaces.Http": {"url": "http://x"},
    }
    assert extra["invoice"] == 42
    # logging's own attributes that are not reserved go to extra, as in 6.10
    assert {"filename", "lineno", "pathname", "process", "thread", "stack_info"} <= set(extra)
    assert not set(extra) & (RESERVED | {"_private"})


def test_contextual_attributes_land_on_the_event(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    handler.emit(
        make_record(
            extra={
                "culprit": "foo in bar",
                "server_name": "web-3",
                "fingerprint": ["foo"],
                "user": {"id": "u1"},
            }
        )
    )
    [event] = client.events
    assert event["culprit"] == "foo in bar"
    assert event["server_name"] == "web-3"
    assert event["fingerprint"] == ["foo"]
    assert event["user"] == {"id": "u1"}


def test_record_tags_merge_over_the_handler_tags(client: InMemoryClient) -> None:
    handler = SentryHandler(client, tags={"foo": "bar", "biz": "baz"})
    handler.emit(make_record(extra={"tags": {"foo": "faz"}}))
    handler.emit(make_record(extra={"tags": {"foo": "faz"}}, exc_info=exc_info_of(ValueError())))
    message, error = client.events
    assert message["tags"] == {"foo": "faz", "biz": "baz"}
    assert error["tags"] == {"foo": "faz", "biz": "baz"}


def test_tags_that_are_not_a_mapping_are_kept_in_extra(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    handler.emit(make_record(extra={"tags": ["a", "b"]}))
    [event] = client.events
    assert event["tags"] == {}
    assert list(event["extra"]["tags"]) == ["'a'", "'b'"]


def test_sample_rate_from_the_record(handler: SentryHandler, client: InMemoryClient) -> None:
    handler.emit(make_record(extra={"sample_rate": 0.0}))
    assert client.events == []
    assert client.stats.dropped == {"sample_rate": 1}
    handler.emit(make_record(extra={"sample_rate": "1"}))
    [event] = client.events
    assert "sample_rate" not in event["extra"]


def test_the_date_is_when_the_record_was_made(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    record = make_record()
    record.created = 1_500_000_000.25
    handler.emit(record)
    [event] = client.events
    made = datetime.fromtimestamp(1_500_000_000.25, timezone.utc).replace(tzinfo=None)
    assert event["timestamp"] == made


def test_kwargs_of_emit_go_to_the_capture(handler: SentryHandler, client: InMemoryClient) -> None:
    # what 6.10 subclasses (the Django handler) do: _emit(record, request=...)
    handler._emit(make_record(), time_spent=12)
    assert client.events[0]["time_spent"] == 12


# -- stacks -----------------------------------------------------------------------------------


def log_with_stack(logger: logging.Logger, stack: Any = True) -> None:
    logger.error("with a stack", extra={"stack": stack})


def functions(event: Dict[str, Any]) -> List[str]:
    return [frame["function"] for frame in event["stacktrace"]["frames"]]


def test_stack_true_is_the_stack_of_the_logging_call(
    app_logger: logging.Logger, client: InMemoryClient
) -> None:
    log_with_stack(app_logger)
    [event] = client.events
    frames = event["stacktrace"]["frames"]
    # it ends at the function that called the logger: no logging or raven frames
    assert functions(event)[-2:] == [
        "test_stack_true_is_the_stack_of_the_logging_call",
        "log_with_stack",
    ]
    assert not [f for f in frames if str(f["module"]).startswith(("logging", "raven."))]
    assert "exception" not in event


def test_stack_true_on_a_direct_emit_ends_at_the_caller(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    handler.emit(make_record(extra={"stack": True}))
    [event] = client.events
    assert functions(event)[-1] == "test_stack_true_on_a_direct_emit_ends_at_the_caller"


def test_an_explicit_list_of_frames_is_used(handler: SentryHandler, client: InMemoryClient) -> None:
    handler.emit(make_record(extra={"stack": iter_stack_frames()}))
    [event] = client.events
    assert functions(event)[-1] == "test_an_explicit_list_of_frames_is_used"
    assert event["sentry.interfaces.Message"]["message"] == "This is a test error"


def test_stack_false_sends_no_stack_even_with_auto_log_stacks(
    make_client: Callable[..., InMemoryClient],
) -> None:
    client = make_client(auto_log_stacks=True)
    SentryHandler(client).emit(make_record(extra={"stack": False}))
    [event] = client.events
    assert "stacktrace" not in event


def test_auto_log_stacks_gives_the_stack_of_the_logging_call(
    make_client: Callable[..., InMemoryClient], app_logger: logging.Logger, handler: SentryHandler
) -> None:
    client = make_client(auto_log_stacks=True)
    handler.client = client
    app_logger.error("no stack asked")
    [event] = client.events
    assert functions(event)[-1] == "test_auto_log_stacks_gives_the_stack_of_the_logging_call"


# -- breadcrumbs ------------------------------------------------------------------------------


def test_earlier_records_are_breadcrumbs_but_the_event_is_not_its_own(
    app_logger: logging.Logger, handler: SentryHandler, client: InMemoryClient
) -> None:
    handler.setLevel(logging.ERROR)
    app_logger.info("loading %s", "invoice")
    app_logger.warning("retrying")
    app_logger.error("payment failed")
    app_logger.error("second failure")
    first, second = client.events
    assert crumb_messages(first) == ["loading invoice", "retrying"]
    # the first error stays a crumb for the events that follow
    assert crumb_messages(second) == ["loading invoice", "retrying", "payment failed"]


def test_a_record_that_is_the_only_crumb_leaves_no_breadcrumbs(
    app_logger: logging.Logger, client: InMemoryClient
) -> None:
    app_logger.error("alone")
    [event] = client.events
    assert "breadcrumbs" not in event


def test_crumbs_logged_by_an_earlier_handler_keep_their_order(
    app_logger: logging.Logger, handler: SentryHandler, client: InMemoryClient
) -> None:
    class Chatty(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.msg == "the error":
                logging.getLogger("app.other").warning("seen by the chatty handler")

    chatty = Chatty()
    app_logger.handlers.insert(0, chatty)
    handler.setLevel(logging.ERROR)
    app_logger.info("before")
    app_logger.error("the error")
    app_logger.error("next")
    first, second = client.events
    assert crumb_messages(first) == ["before", "seen by the chatty handler"]
    assert crumb_messages(second) == ["before", "the error", "seen by the chatty handler"]


def test_no_breadcrumbs_when_the_client_disables_them(
    make_client: Callable[..., InMemoryClient], app_logger: logging.Logger, handler: SentryHandler
) -> None:
    client = make_client(enable_breadcrumbs=False)
    handler.client = client
    app_logger.info("before")
    app_logger.error("the error")
    assert "breadcrumbs" not in client.events[0]


# -- raven's own records and recursion --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("raven", False),
        ("raven.foo", False),
        ("sentry.errors", False),
        ("sentry.errors.uncaught", False),
        ("raven_utils", True),
        ("ravenous", True),
        ("sentry", True),
        ("app", True),
    ],
)
def test_can_record(handler: SentryHandler, name: str, expected: bool) -> None:
    assert handler.can_record(make_record(name=name)) is expected


@pytest.fixture
def own_logger(handler: SentryHandler) -> Iterator[logging.Logger]:
    """A raven logger whose only handler is ``handler``."""
    logger = logging.getLogger("raven.handler_tests")
    logger.propagate = False
    logger.addHandler(handler)
    yield logger
    logger.handlers[:] = []
    logger.propagate = True


def test_raven_records_are_no_events_and_go_to_stderr_when_shown_nowhere_else(
    own_logger: logging.Logger,
    handler: SentryHandler,
    client: InMemoryClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # (pytest attaches its capture handler to non-propagating loggers too: not here)
    own_logger.handlers[:] = [handler]
    own_logger.error("raven failed to send")
    own_logger.debug("raven chatter")
    assert client.events == []
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "raven failed to send\n"


def test_raven_records_another_handler_shows_are_not_printed_again(
    own_logger: logging.Logger, client: InMemoryClient, capsys: pytest.CaptureFixture[str]
) -> None:
    shown: List[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            shown.append(record)

    keep = Keep()
    own_logger.addHandler(keep)
    try:
        own_logger.error("raven failed to send")
    finally:
        own_logger.removeHandler(keep)
    assert client.events == []
    assert len(shown) == 1
    assert capsys.readouterr() == ("", "")


def test_records_logged_while_capturing_are_no_events(
    make_client: Callable[..., InMemoryClient], app_logger: logging.Logger, handler: SentryHandler
) -> None:
    def chatty_processor(event: Dict[str, Any], hint: Dict[str, Any]) -> Dict[str, Any]:
        app_logger.error("logged by a processor")
        return event

    client = make_client(processors=[chatty_processor])
    handler.client = client

    class Noisy:
        def __repr__(self) -> str:
            app_logger.error("logged by a repr")
            return "<Noisy>"

    app_logger.error("the one event", extra={"thing": Noisy()})
    [event] = client.events
    assert event["message"] == "the one event"
    assert event["extra"]["thing"] == "<Noisy>"
    app_logger.error("and the next call is captured again")
    assert len(client.events) == 2


def test_records_logged_while_raven_sends_are_no_events(
    handler: SentryHandler, client: InMemoryClient
) -> None:
    token = _suppressed.set(True)  # what raven's transports set around their I/O
    try:
        handler.emit(make_record("urllib3: retrying", name="urllib3.connectionpool"))
    finally:
        _suppressed.reset(token)
    assert client.events == []


@pytest.mark.logs_sentry_errors
def test_a_failure_inside_emit_is_logged_not_raised(
    handler: SentryHandler, client: InMemoryClient, sentry_errors: List[logging.LogRecord]
) -> None:
    with mock.patch.object(client, "capture", side_effect=RuntimeError("boom")):
        assert handler.emit(make_record("lost")) is None
    [record] = [r for r in sentry_errors if r.levelno >= logging.ERROR]
    assert "failed to capture a log record" in record.getMessage()
    assert "lost" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_a_failure_inside_emit_is_raised_with_raise_send_errors(
    make_client: Callable[..., InMemoryClient],
) -> None:
    client = make_client(raise_send_errors=True)
    handler = SentryHandler(client)
    failing = mock.patch.object(client, "capture", side_effect=RuntimeError("boom"))
    with failing, pytest.raises(RuntimeError, match="boom"):
        handler.emit(make_record())


def test_a_thread_logging_while_another_thread_captures_is_not_blocked(
    make_client: Callable[..., InMemoryClient], app_logger: logging.Logger, handler: SentryHandler
) -> None:
    # logging.Handler.handle holds the handler lock around emit(); a delivery thread that
    # logs through the same handler while the app thread captures would wait on it
    finished: List[bool] = []

    class WaitsForAnotherThread(InMemoryClient):
        def send(self, **data: Any) -> None:  # type: ignore[override]
            super().send(**data)
            if len(self.events) == 1:
                other = threading.Thread(target=app_logger.error, args=("from the worker",))
                other.start()
                other.join(10)
                finished.append(not other.is_alive())

    client = WaitsForAnotherThread(install_sys_hook=False, hook_libraries=[])
    handler.client = client
    app_logger.error("from the app")
    assert finished == [True]
    assert sorted(e["message"] for e in client.events) == ["from the app", "from the worker"]


# -- against a real server that is down --------------------------------------------------------


class CountingClient(Client):
    """A real client (real transport) that counts the events it built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.built: List[Dict[str, Any]] = []
        self._built_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def send(self, auth_header: Any = None, **data: Any) -> None:
        with self._built_lock:
            self.built.append(data)
        super().send(auth_header=auth_header, **data)


class Seen(logging.Handler):
    """Counts the records that reach the root logger, by logger name."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.names: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.names.append(record.name)


@pytest.fixture
def root_with_sentry() -> Iterator[Callable[[SentryHandler], Seen]]:
    root = logging.getLogger()
    old_level, added = root.level, []

    def attach(handler: SentryHandler) -> Seen:
        seen = Seen()
        for h in (handler, seen):
            root.addHandler(h)
            added.append(h)
        root.setLevel(logging.DEBUG)
        return seen

    yield attach
    for h in added:
        root.removeHandler(h)
    root.setLevel(old_level)


def log_errors(logger: logging.Logger, count: int) -> None:
    for i in range(count):
        logger.error("app error %d", i)


@pytest.mark.logs_sentry_errors
@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", [ThreadedHTTPTransport, HTTPTransport])
def test_on_the_root_logger_with_the_server_down_one_event_per_log_call(
    root_with_sentry: Callable[[SentryHandler], Seen],
    capsys: pytest.CaptureFixture[str],
    transport: Any,
) -> None:
    sink = Sink()
    sink.start_later(3600)  # the port is ours, and refuses connections
    try:
        client = CountingClient(sink.dsn(), transport=transport, install_sys_hook=False)
        seen = root_with_sentry(SentryHandler(client))
        app = logging.getLogger("app.down")

        log_errors(app, 5)
        threads = [threading.Thread(target=log_errors, args=(app, 5)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert not [t for t in threads if t.is_alive()], "a logging thread is stuck"
        client.flush(0.5)  # the delivery fails, and raven logs that, on the root logger too

        assert len(client.built) == 25
        assert {e["logger"] for e in client.built} == {"app.down"}
        # raven did log about the failed deliveries, and none of it became an event
        assert [n for n in seen.names if n.startswith(("sentry.errors", "raven"))]

        sink.stop()
        sink.start()
        received: List[Dict[str, Any]] = []
        for _ in range(20):  # each flush retries at once what waits out a back-off
            client.flush(1)
            received = sink.events
            if len(received) >= 25:
                break
        assert len(received) == 25
        assert sorted(e["logentry"]["formatted"] for e in received) == sorted(
            "app error %d" % i for i in range(5) for _ in range(5)
        )
        assert len(client.built) == 25
        client.close(1)
    finally:
        sink.stop()
    assert capsys.readouterr().out == ""


# -- raven.conf.setup_logging -----------------------------------------------------------------


@pytest.fixture
def clean_root() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers = list(root.handlers)
    excluded = {
        name: (logging.getLogger(name).propagate, list(logging.getLogger(name).handlers))
        for name in (*EXCLUDE_LOGGER_DEFAULTS, "custom.excluded")
    }
    yield root
    root.handlers[:] = handlers
    for name, (propagate, saved) in excluded.items():
        logger = logging.getLogger(name)
        logger.propagate = propagate
        logger.handlers[:] = saved


def test_exclude_logger_defaults() -> None:
    assert EXCLUDE_LOGGER_DEFAULTS == (
        "raven",
        "gunicorn",
        "south",
        "sentry.errors",
        "django.request",
        "dill",
    )


def test_setup_logging_attaches_the_handler_and_excludes_loggers(
    clean_root: logging.Logger, handler: SentryHandler
) -> None:
    assert setup_logging(handler) is True
    assert handler in clean_root.handlers
    for name in EXCLUDE_LOGGER_DEFAULTS:
        logger = logging.getLogger(name)
        assert logger.propagate is False
        assert any(type(h) is logging.StreamHandler for h in logger.handlers)


def test_setup_logging_twice_with_the_same_handler_class_does_nothing(
    clean_root: logging.Logger, client: InMemoryClient
) -> None:
    assert setup_logging(SentryHandler(client)) is True
    count = len(clean_root.handlers)
    assert setup_logging(SentryHandler(client)) is False
    assert len(clean_root.handlers) == count


def test_setup_logging_with_custom_exclusions(
    clean_root: logging.Logger, handler: SentryHandler
) -> None:
    assert setup_logging(handler, exclude=["custom.excluded"]) is True
    assert logging.getLogger("custom.excluded").propagate is False
