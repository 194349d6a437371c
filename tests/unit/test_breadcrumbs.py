"""Breadcrumbs: the buffer, the logging hook and its filters, and the HTTP library hooks."""

from __future__ import annotations

import http.client
import http.server
import logging
import threading
import time
from typing import Any, Dict, Iterator, List

import pytest

from raven import breadcrumbs
from raven.breadcrumbs import BlackholeBreadcrumbBuffer, BreadcrumbBuffer, make_buffer
from raven.utils.testutils import InMemoryClient


def crumbs_of(client: InMemoryClient) -> List[Dict[str, Any]]:
    """The breadcrumbs an event captured now would carry."""
    client.captureMessage("carrier")
    return client.events[-1].get("breadcrumbs", {}).get("values", [])  # type: ignore[no-any-return]


def messages_of(client: InMemoryClient) -> List[Any]:
    return [c["message"] for c in crumbs_of(client)]


@pytest.fixture
def quiet_logger() -> Iterator[Any]:
    """Return loggers set to DEBUG that print nothing (their settings are restored)."""
    changed: List[Any] = []

    def get(name: str, level: int = logging.DEBUG) -> logging.Logger:
        logger = logging.getLogger(name)
        handler = logging.NullHandler()
        changed.append((logger, logger.level, logger.propagate, handler))
        logger.setLevel(level)
        logger.propagate = False
        logger.addHandler(handler)
        return logger

    yield get
    for logger, level, propagate, handler in reversed(changed):
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


# -- the buffer -------------------------------------------------------------------------------


def test_the_buffer_keeps_the_last_100_crumbs() -> None:
    buffer = BreadcrumbBuffer()

    for i in range(150):
        buffer.record(message=str(i))

    kept = buffer.get_buffer()
    assert len(kept) == 100
    assert kept[0]["message"] == "50"
    assert kept[-1]["message"] == "149"


def test_the_buffer_limit_is_configurable() -> None:
    buffer = BreadcrumbBuffer(limit=3)

    for i in range(5):
        buffer.record(message=str(i))

    assert [c["message"] for c in buffer.get_buffer()] == ["2", "3", "4"]


def test_a_crumb_needs_a_message_data_or_a_processor() -> None:
    buffer = BreadcrumbBuffer()

    with pytest.raises(ValueError):
        buffer.record()
    with pytest.raises(ValueError):
        buffer.record(level="info", category="nothing to show")
    buffer.record(data={"k": "v"})
    buffer.record(processor=lambda crumb: crumb.update(message="late"))

    assert len(buffer.get_buffer()) == 2


def test_a_crumb_has_raven_6_10_keys_and_defaults() -> None:
    buffer = BreadcrumbBuffer()
    before = time.time()

    buffer.record(message="hello")

    (crumb,) = buffer.get_buffer()
    assert set(crumb) == {"type", "timestamp", "level", "message", "category", "data"}
    assert crumb["type"] == "default"
    assert isinstance(crumb["timestamp"], float)
    assert before <= crumb["timestamp"] <= time.time()
    assert crumb["level"] is None and crumb["category"] is None and crumb["data"] is None


def test_crumb_message_category_and_level_are_cut_and_the_level_lower_cased() -> None:
    buffer = BreadcrumbBuffer()

    buffer.record(message="m" * 2000, category="c" * 200, level="VERY-LOUD-LEVEL-NAME-INDEED")

    (crumb,) = buffer.get_buffer()
    assert crumb["message"] == "m" * 1024
    assert crumb["category"] == "c" * 128
    assert crumb["level"] == "very-loud-level-"


def test_identical_consecutive_crumbs_are_sent_once() -> None:
    buffer = BreadcrumbBuffer()

    for message in ["a", "a", "a", "b", "a"]:
        buffer.record(message=message, category="cat", level="info", timestamp=1.0)

    assert [c["message"] for c in buffer.get_buffer()] == ["a", "b", "a"]


def test_crumbs_differing_only_in_data_are_kept() -> None:
    buffer = BreadcrumbBuffer()

    buffer.record(message="same", data={"n": 1})
    buffer.record(message="same", data={"n": 2})

    assert [c["data"] for c in buffer.get_buffer()] == [{"n": 1}, {"n": 2}]


def test_a_processor_fills_in_its_crumb_once_when_an_event_takes_it() -> None:
    buffer = BreadcrumbBuffer()
    calls: List[int] = []

    def processor(crumb: Dict[str, Any]) -> None:
        calls.append(1)
        crumb["message"] = "filled in late"
        crumb["data"] = {"status": 200}

    buffer.record(category="http", processor=processor)
    assert calls == []

    first = buffer.get_buffer()
    second = buffer.get_buffer()

    assert calls == [1]
    assert first == second
    assert (first[0]["message"], first[0]["data"]) == ("filled in late", {"status": 200})


def test_a_raising_processor_drops_only_its_own_crumb() -> None:
    buffer = BreadcrumbBuffer()

    def broken(crumb: Dict[str, Any]) -> None:
        raise RuntimeError("processor bug")

    buffer.record(message="before")
    buffer.record(message="broken", processor=broken)
    buffer.record(message="after")

    assert [c["message"] for c in buffer.get_buffer()] == ["before", "after"]


def test_a_raising_processor_does_not_break_the_capture(client: InMemoryClient) -> None:
    def broken(crumb: Dict[str, Any]) -> None:
        raise RuntimeError("processor bug")

    client.captureBreadcrumb(message="kept")
    client.captureBreadcrumb(message="lost", processor=broken)

    assert messages_of(client) == ["kept"]


def test_clear_empties_the_buffer() -> None:
    buffer = BreadcrumbBuffer()
    buffer.record(message="x")

    buffer.clear()

    assert buffer.get_buffer() == []


def test_the_blackhole_buffer_keeps_nothing() -> None:
    buffer = BlackholeBreadcrumbBuffer()

    buffer.record(message="x")

    assert buffer.get_buffer() == []
    assert isinstance(make_buffer(False), BlackholeBreadcrumbBuffer)
    assert type(make_buffer(True)) is BreadcrumbBuffer


# -- recording --------------------------------------------------------------------------------


def test_record_goes_to_every_active_client_of_the_thread(make_client: Any) -> None:
    first, second, inactive = make_client(), make_client(), make_client()
    inactive.context.deactivate()

    breadcrumbs.record(message="for everyone", category="app", level="info", data={"k": 1})

    for client in (first, second):
        (crumb,) = crumbs_of(client)
        assert (crumb["message"], crumb["category"], crumb["level"], crumb["data"]) == (
            "for everyone",
            "app",
            "info",
            {"k": 1},
        )
    assert crumbs_of(inactive) == []


def test_record_breadcrumb_takes_the_type_first(client: InMemoryClient) -> None:
    breadcrumbs.record_breadcrumb("navigation", message="legacy", category="ui")

    (crumb,) = crumbs_of(client)
    assert (crumb["type"], crumb["message"], crumb["category"]) == ("navigation", "legacy", "ui")


def test_events_carry_crumbs_under_values(client: InMemoryClient) -> None:
    breadcrumbs.record(message="one")

    client.captureMessage("m")

    assert list(client.events[-1]["breadcrumbs"]) == ["values"]


def test_enable_breadcrumbs_false_sends_no_breadcrumbs(make_client: Any, quiet_logger: Any) -> None:
    client = make_client(enable_breadcrumbs=False)

    breadcrumbs.record(message="recorded")
    client.captureBreadcrumb(message="captured")
    quiet_logger("app.nocrumbs").warning("logged")
    client.captureMessage("m")

    assert "breadcrumbs" not in client.events[-1]


# -- logging ----------------------------------------------------------------------------------


def test_a_log_record_below_the_loggers_level_leaves_no_crumb(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    logger = quiet_logger("app.levels", logging.WARNING)

    logger.debug("debug")
    logger.info("info")
    logger.log(logging.WARNING - 1, "just below")

    assert crumbs_of(client) == []


def test_a_log_record_at_or_above_the_loggers_level_is_a_crumb(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    logger = quiet_logger("app.levels", logging.WARNING)
    before = time.time()

    logger.warning("disk at %d%%", 91)
    logger.error("error")
    logger.critical("critical")

    crumbs = crumbs_of(client)
    assert [(c["message"], c["level"], c["category"]) for c in crumbs] == [
        ("disk at 91%", "warning", "app.levels"),
        ("error", "error", "app.levels"),
        ("critical", "critical", "app.levels"),
    ]
    assert all(before <= c["timestamp"] <= time.time() for c in crumbs)
    assert {c["type"] for c in crumbs} == {"default"}


def test_a_filtered_or_disabled_logger_leaves_no_crumb(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    filtered = quiet_logger("app.filtered")
    filtered.addFilter(lambda record: False)
    disabled = quiet_logger("app.disabled")
    disabled.disabled = True
    try:
        filtered.warning("filtered out")
        disabled.warning("disabled")
    finally:
        disabled.disabled = False
        filtered.filters.clear()

    assert crumbs_of(client) == []


def test_logging_disable_leaves_no_crumb(client: InMemoryClient, quiet_logger: Any) -> None:
    logger = quiet_logger("app.disable")
    logging.disable(logging.WARNING)
    try:
        logger.warning("switched off")
    finally:
        logging.disable(logging.NOTSET)

    assert crumbs_of(client) == []


def test_a_single_mapping_argument_formats_the_message_and_joins_the_data(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    quiet_logger("app.mapping").warning("user %(name)s logged in", {"name": "ada"})

    (crumb,) = crumbs_of(client)
    assert crumb["message"] == "user ada logged in"
    assert crumb["data"]["name"] == "ada"


def test_log_extra_becomes_crumb_data_without_exc_info(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    logger = quiet_logger("app.extra")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed order %s", 7, extra={"order_id": 7, "shop": "eu"})

    (crumb,) = crumbs_of(client)
    assert crumb["message"] == "failed order 7"
    assert crumb["level"] == "error"
    assert crumb["data"] == {"order_id": 7, "shop": "eu"}


def test_a_logger_adapter_call_is_recorded_with_the_adapter_extra(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    adapter = logging.LoggerAdapter(quiet_logger("app.adapter"), {"request_id": "r-1"})

    adapter.info("adapted %s", "call")

    (crumb,) = crumbs_of(client)
    assert (crumb["message"], crumb["category"]) == ("adapted call", "app.adapter")
    assert crumb["data"] == {"request_id": "r-1"}


def test_a_log_call_with_bad_format_arguments_still_leaves_a_crumb(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    quiet_logger("app.badformat").warning("%s and %s", "only one")

    (crumb,) = crumbs_of(client)
    assert crumb["message"] == "%s and %s"


@pytest.mark.parametrize("name", ["raven", "raven.base", "sentry.errors", "sentry.errors.uncaught"])
def test_ravens_own_loggers_never_leave_crumbs(
    client: InMemoryClient, quiet_logger: Any, name: str
) -> None:
    quiet_logger(name).warning("raven talking about itself")

    assert crumbs_of(client) == []


def test_loggers_merely_named_like_ravens_do_leave_crumbs(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    quiet_logger("ravenous").warning("not raven")
    quiet_logger("sentry.errorsome").warning("not sentry.errors")

    assert messages_of(client) == ["not raven", "not sentry.errors"]


def test_ignore_logger_silences_exactly_that_logger(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    breadcrumbs.ignore_logger("app.noisy")

    quiet_logger("app.noisy").error("ignored")
    quiet_logger("app.noisy.child").error("a child is not covered")
    quiet_logger("app.quiet").error("other loggers are not covered")

    assert messages_of(client) == ["a child is not covered", "other loggers are not covered"]


def test_ignore_logger_accepts_a_logger_object(client: InMemoryClient, quiet_logger: Any) -> None:
    logger = quiet_logger("app.object")
    breadcrumbs.ignore_logger(logger)

    logger.error("ignored")

    assert crumbs_of(client) == []


def test_ignore_logger_with_allow_level_keeps_records_at_or_above_it(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    logger = quiet_logger("app.partly")
    breadcrumbs.ignore_logger("app.partly", allow_level=logging.WARNING)

    logger.info("ignored")
    logger.warning("allowed")
    logger.error("allowed too")

    assert messages_of(client) == ["allowed", "allowed too"]


def test_a_special_log_handler_sees_the_call_and_may_suppress_the_crumb(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    calls: List[Any] = []

    def handler(logger: Any, level: int, msg: Any, args: Any, kwargs: Dict[str, Any]) -> bool:
        calls.append((logger.name, level, msg, args, kwargs.get("extra")))
        return msg == "suppress me"

    breadcrumbs.register_special_log_handler("app.special", handler)
    logger = quiet_logger("app.special")

    logger.warning("suppress me")
    logger.warning("keep %s", "me", extra={"k": 1})
    quiet_logger("app.special.child").warning("not covered")

    assert messages_of(client) == ["keep me", "not covered"]
    assert calls[0] == ("app.special", logging.WARNING, "suppress me", (), None)
    assert calls[1][:4] == ("app.special", logging.WARNING, "keep %s", ("me",))
    assert calls[1][4]["k"] == 1
    assert len(calls) == 2


def test_global_logging_handlers_see_every_logger_and_accumulate(
    client: InMemoryClient, quiet_logger: Any
) -> None:
    seen: List[str] = []

    def record_names(logger: Any, level: int, msg: Any, args: Any, kwargs: Any) -> bool:
        seen.append(logger.name)
        return False

    def suppress_secrets(logger: Any, level: int, msg: Any, args: Any, kwargs: Any) -> bool:
        return "secret" in str(msg)

    breadcrumbs.register_logging_handler(record_names)
    breadcrumbs.register_logging_handler(suppress_secrets)

    quiet_logger("app.one").warning("public")
    quiet_logger("app.two").warning("secret stuff")

    assert seen == ["app.one", "app.two"]
    assert messages_of(client) == ["public"]


def test_the_logging_hook_does_not_change_what_handlers_receive(quiet_logger: Any) -> None:
    received: List[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            received.append(record)

    logger = quiet_logger("app.handlers")
    handler = Keep()
    logger.addHandler(handler)
    try:
        logger.warning("to the handler %s", 1)
    finally:
        logger.removeHandler(handler)

    assert [r.getMessage() for r in received] == ["to the handler 1"]
    assert received[0].funcName == "test_the_logging_hook_does_not_change_what_handlers_receive"


# -- library hooks ----------------------------------------------------------------------------


def test_hooking_an_unknown_library_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="nope"):
        breadcrumbs.hook_libraries(["nope"])


def test_a_client_with_an_unknown_hook_library_raises_runtime_error(make_client: Any) -> None:
    with pytest.raises(RuntimeError):
        make_client(hook_libraries=["nope"])


@pytest.fixture
def local_http_server() -> Iterator[int]:
    """A loopback HTTP server answering every GET with 418; yields its port."""

    class Teapot(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(418)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Teapot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_httplib_hook_records_a_crumb_per_request(
    make_client: Any, local_http_server: int
) -> None:
    client = make_client(hook_libraries=["httplib"])

    connection = http.client.HTTPConnection("127.0.0.1", local_http_server, timeout=10)
    try:
        connection.request("GET", "/brew?cups=2")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()

    (crumb,) = crumbs_of(client)
    assert (crumb["type"], crumb["category"]) == ("http", "requests")
    assert crumb["data"] == {
        "url": "http://127.0.0.1:%d/brew?cups=2" % local_http_server,
        "method": "GET",
        "status_code": 418,
        "reason": response.reason,
    }


def test_the_requests_hook_records_a_crumb_per_request(
    make_client: Any, local_http_server: int
) -> None:
    requests = pytest.importorskip("requests")
    client = make_client(hook_libraries=["requests"])

    with requests.Session() as session:
        response = session.get("http://127.0.0.1:%d/pot" % local_http_server, timeout=10)

    crumb = next(c for c in crumbs_of(client) if c["category"] == "requests" and "url" in c["data"])
    assert crumb["type"] == "http"
    assert crumb["data"]["url"] == "http://127.0.0.1:%d/pot" % local_http_server
    assert crumb["data"]["method"] == "GET"
    assert crumb["data"]["status_code"] == response.status_code == 418
