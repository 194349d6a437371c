"""Every event shape raven emits passes Sentry Relay's own normalizer with zero errors.

Relay (PyPI ``sentry-relay``) is the Rust code Sentry runs on ingest. What it rejects it drops
from the event and records as an error, in the ``_meta`` tree (``"err"``) and in the ``errors``
list; trimming and substitutions are remarks, which are fine. Outside CI the module is skipped
when sentry-relay is not installed; in CI (``CI`` set) a missing Relay is a failure.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
from typing import Any, Callable, Dict, List

import pytest

from raven import breadcrumbs
from raven.protocol import dumps, to_wire
from raven.utils.testutils import InMemoryClient

if os.environ.get("CI"):
    from sentry_relay.processing import StoreNormalizer
else:
    StoreNormalizer = pytest.importorskip("sentry_relay.processing").StoreNormalizer

pytestmark = pytest.mark.relay

MakeClient = Callable[..., InMemoryClient]


@pytest.fixture(scope="module")
def normalizer() -> Any:
    """The checks a Sentry Relay applies on ingest (as /work/shared/tools/relay-check does)."""
    return StoreNormalizer(
        enable_trimming=True,
        max_secs_in_future=60,
        max_secs_in_past=30 * 24 * 3600,
        is_renormalize=False,
    )


def meta_errors(meta: Any, path: List[str], found: List[Dict[str, Any]]) -> None:
    """Collect the ``err`` entries of Relay's ``_meta`` tree, with their dotted paths."""
    if not isinstance(meta, dict):
        return
    for key, sub in meta.items():
        if key == "" and isinstance(sub, dict):
            for err in sub.get("err") or []:
                kind, detail = (
                    (err[0], err[1] if len(err) > 1 else {}) if isinstance(err, list) else (err, {})
                )
                found.append(
                    {
                        "path": ".".join(path),
                        "type": kind,
                        "detail": detail,
                        "value": sub.get("val"),
                    }
                )
        elif key != "":
            meta_errors(sub, [*path, str(key)], found)


def relay_check(normalizer: Any, event: Dict[str, Any]) -> Any:
    """``(errors, normalized)`` for an event dict as ``Client.send`` receives it."""
    raw = dumps(to_wire(event))
    normalized = normalizer.normalize_event(raw_event=raw)
    errors: List[Dict[str, Any]] = []
    meta_errors(normalized.get("_meta"), [], errors)
    seen = {(e["path"], e["type"]) for e in errors}
    for error in normalized.get("errors") or []:
        key = (error.get("name", ""), error.get("type"))
        if key not in seen:
            seen.add(key)
            errors.append({"path": key[0], "type": key[1], "detail": error})
    return errors, normalized


def assert_relay_accepts(normalizer: Any, event: Dict[str, Any]) -> Dict[str, Any]:
    errors, normalized = relay_check(normalizer, event)
    assert errors == [], "Relay rejected parts of the event: %r" % errors
    assert normalized["event_id"].replace("-", "") == event["event_id"]
    return normalized  # type: ignore[no-any-return]


# -- event builders ---------------------------------------------------------------------------


def raise_and_capture(client: InMemoryClient, exc: BaseException, **kwargs: Any) -> Dict[str, Any]:
    try:
        raise exc
    except BaseException:
        client.captureException(**kwargs)
    return client.events[-1]


def exception_simple(client: InMemoryClient) -> Dict[str, Any]:
    return raise_and_capture(client, ValueError("simple"))


def exception_chained(client: InMemoryClient) -> Dict[str, Any]:
    try:
        try:
            try:
                raise KeyError("root")
            except KeyError as e:
                raise ValueError("cause") from e
        except ValueError:
            raise RuntimeError("context")
    except RuntimeError:
        client.captureException()
    return client.events[-1]


def exception_group(client: InMemoryClient) -> Dict[str, Any]:
    inner = ExceptionGroup("inner", [KeyError("deep"), TypeError("also deep")])  # noqa: F821
    try:
        raise ExceptionGroup("outer", [inner, ValueError("shallow")])  # noqa: F821
    except Exception:
        client.captureException()
    return client.events[-1]


def exception_never_raised(client: InMemoryClient) -> Dict[str, Any]:
    client.captureException(ValueError("never raised, so no traceback"))
    return client.events[-1]


def exception_empty_message(client: InMemoryClient) -> Dict[str, Any]:
    return raise_and_capture(client, ValueError())


def exception_unicode(client: InMemoryClient) -> Dict[str, Any]:
    return raise_and_capture(client, ValueError("ünïcödé ✓ 中文 עברית 🐍 \udc80"))


def exception_custom_class(client: InMemoryClient) -> Dict[str, Any]:
    class PaymentDeclined(Exception):
        pass

    return raise_and_capture(client, PaymentDeclined("card declined"))


def exception_recursion(client: InMemoryClient) -> Dict[str, Any]:
    def recurse(depth: int) -> int:
        return recurse(depth + 1)

    try:
        recurse(0)
    except RecursionError:
        client.captureException()
    return client.events[-1]


def exception_with_odd_locals(client: InMemoryClient) -> Dict[str, Any]:
    def fails() -> None:
        nan = float("nan")  # noqa: F841
        inf = float("inf")  # noqa: F841
        raw = b"\xff\xfe"  # noqa: F841
        nested = {"a": [1, (2, {3})], None: object()}  # noqa: F841
        big = "x" * 100_000  # noqa: F841
        surrogate = "\ud800"  # noqa: F841
        raise ValueError("locals")

    try:
        fails()
    except ValueError:
        client.captureException()
    return client.events[-1]


def exception_in_a_thread_via_the_sys_hook(client: InMemoryClient) -> Dict[str, Any]:
    exc = ValueError("uncaught")
    try:
        raise exc
    except ValueError:
        pass
    client.captureException((type(exc), exc, exc.__traceback__), level="fatal")
    return client.events[-1]


def message_plain(client: InMemoryClient) -> Dict[str, Any]:
    client.captureMessage("a plain message")
    return client.events[-1]


def message_with_params(client: InMemoryClient) -> Dict[str, Any]:
    client.captureMessage("user %s bought %d items", params=("ada", 3))
    return client.events[-1]


def message_with_mapping_params(client: InMemoryClient) -> Dict[str, Any]:
    client.captureMessage("user %(name)s", params={"name": "ada"})
    return client.events[-1]


def message_with_params_not_fitting(client: InMemoryClient) -> Dict[str, Any]:
    client.captureMessage("100% done", params=("unused",))
    return client.events[-1]


def message_formatted(client: InMemoryClient) -> Dict[str, Any]:
    client.captureMessage("hello %s", params=("world",), formatted="hello world")
    return client.events[-1]


def message_with_stack(client: InMemoryClient) -> Dict[str, Any]:
    client.captureMessage("with a stack", stack=True)
    return client.events[-1]


def message_unicode(client: InMemoryClient) -> Dict[str, Any]:
    client.captureMessage("ünïcödé ✓ 中文 🐍 \ud800 \x00")
    return client.events[-1]


def message_empty(client: InMemoryClient) -> Dict[str, Any]:
    client.captureMessage("")
    return client.events[-1]


def message_huge(client: InMemoryClient) -> Dict[str, Any]:
    client.captureMessage("x" * 1_000_000, extra={"huge": "y" * 1_000_000})
    return client.events[-1]


def message_not_text(client: InMemoryClient) -> Dict[str, Any]:
    client.captureMessage({"a": 1})  # type: ignore[arg-type]
    return client.events[-1]


def query(client: InMemoryClient) -> Dict[str, Any]:
    client.captureQuery("SELECT * FROM users WHERE id = %s", params=(1,), engine="postgresql")
    return client.events[-1]


def everything(client: InMemoryClient) -> Dict[str, Any]:
    """An exception with every interface and option raven users set."""
    client.http_context(
        {
            "url": "https://example.com/checkout?step=2",
            "method": "POST",
            "query_string": "step=2&password=x",
            "data": {"card": "4242424242424242", "name": "ada"},
            "cookies": {"sessionid": "abc"},
            "headers": {"Content-Type": "application/json", "Authorization": "Bearer abcdefghijkl"},
            "env": {"REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "example.com"},
        }
    )
    client.user_context(
        {"id": 42, "email": "ada@example.com", "username": "ada", "ip_address": "127.0.0.1"}
    )
    client.tags_context({"region": "eu", "numeric": 5})
    client.extra_context({"order": {"id": 7, "items": [1, 2, 3]}, "nan": float("nan")})
    client.captureBreadcrumb(
        message="manual crumb", category="ui.click", level="info", data={"button": "pay"}
    )
    breadcrumbs.record(
        type="http",
        category="requests",
        data={
            "url": "https://api.example.com",
            "method": "GET",
            "status_code": 200,
            "reason": "OK",
        },
    )
    breadcrumbs.record(message="long category", level="WARNING", category="x" * 300)
    logger = logging.Logger("app.relay", logging.DEBUG)
    logger.addHandler(logging.NullHandler())
    logger.warning("logged %s", "crumb", extra={"order_id": 7})
    client.transaction.push("/checkout")
    try:
        return raise_and_capture(
            client,
            ValueError("everything"),
            data={"logger": "app.checkout", "culprit": "app.views.checkout"},
            fingerprint=["{{ default }}", "checkout"],
            tags={"call": "tag"},
            extra={"call": "extra"},
            time_spent=12,
            date=datetime.datetime.now(datetime.timezone.utc),
        )
    finally:
        client.transaction.pop("/checkout")


def with_transaction(client: InMemoryClient) -> Dict[str, Any]:
    client.transaction.push("app.views.index")
    try:
        client.captureMessage("inside a transaction")
    finally:
        client.transaction.pop("app.views.index")
    return client.events[-1]


def configured_client(make_client: MakeClient) -> InMemoryClient:
    return make_client(
        release="1.2.3",
        environment="staging",
        site="eu-1",
        name="web-7",
        tags={"team": "core"},
        include_paths=[__name__, "raven"],
        repos={"raven": {"name": "getsentry/raven-python"}},
    )


SHAPES: Dict[str, Callable[[InMemoryClient], Dict[str, Any]]] = {
    f.__name__: f
    for f in [
        exception_simple,
        exception_chained,
        exception_never_raised,
        exception_empty_message,
        exception_unicode,
        exception_custom_class,
        exception_recursion,
        exception_with_odd_locals,
        exception_in_a_thread_via_the_sys_hook,
        message_plain,
        message_with_params,
        message_with_mapping_params,
        message_with_params_not_fitting,
        message_formatted,
        message_with_stack,
        message_unicode,
        message_empty,
        message_huge,
        message_not_text,
        query,
        everything,
        with_transaction,
    ]
}
if sys.version_info >= (3, 11):
    SHAPES["exception_group"] = exception_group


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_event_shape_passes_relay(
    normalizer: Any, make_client: MakeClient, shape: str
) -> None:
    event = SHAPES[shape](make_client())

    assert_relay_accepts(normalizer, event)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_event_shape_of_a_fully_configured_client_passes_relay(
    normalizer: Any, make_client: MakeClient, shape: str
) -> None:
    event = SHAPES[shape](configured_client(make_client))

    normalized = assert_relay_accepts(normalizer, event)
    assert normalized["release"] == "1.2.3"
    assert normalized["environment"] == "staging"


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (logging.DEBUG, "debug"),
        (logging.INFO, "info"),
        (logging.WARNING, "warning"),
        (logging.ERROR, "error"),
        (logging.CRITICAL, "fatal"),
        (5, "debug"),  # custom logging levels: the nearest standard one
        (25, "info"),
        (35, "warning"),
        (60, "fatal"),
        ("debug", "debug"),
        ("info", "info"),
        ("warning", "warning"),
        ("warn", "warning"),
        ("error", "error"),
        ("fatal", "fatal"),
        ("critical", "fatal"),
        ("WARNING", "warning"),
    ],
)
def test_every_level_raven_accepts_passes_relay(
    normalizer: Any, client: InMemoryClient, level: Any, expected: str
) -> None:
    client.captureMessage("m", level=level)

    assert assert_relay_accepts(normalizer, client.events[-1])["level"] == expected


@pytest.mark.parametrize("how", ["unnamed logging level", "custom level name", "warn"])
def test_breadcrumbs_with_non_standard_levels_pass_relay(
    normalizer: Any, client: InMemoryClient, how: str
) -> None:
    if how == "unnamed logging level":
        logger = logging.Logger("app.trace", 1)
        logger.addHandler(logging.NullHandler())
        logger.log(5, "a trace record")  # its level name is "Level 5"
    elif how == "custom level name":
        breadcrumbs.record(message="from a logging library with NOTICE", level="notice")
    else:
        breadcrumbs.record(message="warn", level="warn")
    client.captureMessage("m")

    assert_relay_accepts(normalizer, client.events[-1])


# -- what survives normalization --------------------------------------------------------------


def test_the_message_and_its_params_reach_the_logentry(
    normalizer: Any, client: InMemoryClient
) -> None:
    normalized = assert_relay_accepts(normalizer, message_with_params(client))

    assert normalized["logentry"]["formatted"] == "user ada bought 3 items"


def test_exception_values_survive_in_order(normalizer: Any, client: InMemoryClient) -> None:
    normalized = assert_relay_accepts(normalizer, exception_chained(client))

    values = normalized["exception"]["values"]
    assert [v["type"] for v in values] == ["KeyError", "ValueError", "RuntimeError"]
    assert values[-1]["stacktrace"]["frames"][-1]["function"] == "exception_chained"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in Python 3.11")
def test_exception_group_mechanisms_survive(normalizer: Any, client: InMemoryClient) -> None:
    normalized = assert_relay_accepts(normalizer, exception_group(client))

    mechanisms = [v["mechanism"] for v in normalized["exception"]["values"]]
    assert sum(1 for m in mechanisms if m.get("is_exception_group")) == 2
    assert all("exception_id" in m for m in mechanisms)


def test_the_query_survives_as_a_context(normalizer: Any, client: InMemoryClient) -> None:
    normalized = assert_relay_accepts(normalizer, query(client))

    assert normalized["contexts"]["query"]["query"] == "SELECT * FROM users WHERE id = %s"


def test_a_django_template_interface_survives_as_a_context(
    normalizer: Any, client: InMemoryClient
) -> None:
    template = {"filename": "shop/cart.html", "lineno": 3, "context_line": "{{ cart.total }}"}
    client.captureMessage("template failed", data={"template": template})

    normalized = assert_relay_accepts(normalizer, client.events[-1])

    assert "template" not in normalized
    assert normalized["contexts"]["template"]["filename"] == "shop/cart.html"


def test_user_request_and_breadcrumbs_survive(normalizer: Any, client: InMemoryClient) -> None:
    normalized = assert_relay_accepts(normalizer, everything(client))

    assert normalized["user"]["id"] == "42"
    assert normalized["request"]["method"] == "POST"
    assert len(normalized["breadcrumbs"]["values"]) == 4
    assert normalized["fingerprint"] == ["{{ default }}", "checkout"]
    assert normalized["tags"]
    assert normalized["logger"] == "app.checkout"


def test_the_oracle_reports_errors_it_finds(normalizer: Any, client: InMemoryClient) -> None:
    """The check itself works: a broken event is reported, with the path of each error."""
    client.captureMessage("m")
    event = dict(client.events[-1], level="bogus", user={"id": 1, "ip_address": "not an ip"})

    errors, _ = relay_check(normalizer, event)

    assert {e["path"] for e in errors} >= {"level", "user.ip_address"}
