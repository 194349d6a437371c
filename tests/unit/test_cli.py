"""``raven test [DSN]`` against the loopback sink: what it prints, sends, and exits with."""

from __future__ import annotations

import logging
import optparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest

import raven
from raven.scripts import runner
from raven.scripts.runner import get_loadavg, get_uid, main, send_test_message, store_json
from raven.transport.base import AsyncTransport
from servers.sink import Sink

SECRET = "s3cr3t-k3y-0123456789"


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    try:
        yield server
    finally:
        server.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, List[str]]:
    """``raven *argv`` in-process: (exit status, stdout, stderr lines)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err.splitlines()


def event_id_printed(out: str) -> str:
    [line] = [line for line in out.splitlines() if "Event ID was" in line]
    return line.rsplit("Event ID was ", 1)[1].strip("'")


def no_secret(*texts: Any) -> bool:
    return all(SECRET not in str(text) for text in texts)


# -- success ------------------------------------------------------------------------------------


def test_a_stored_event_prints_the_configuration_the_id_and_success(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "test", sink.dsn(secret=SECRET))

    assert status == 0
    assert err == []
    assert "  http://public:***@127.0.0.1:%d/1" % sink.port in out
    assert "base_url       : http://127.0.0.1:%d" % sink.port in out
    assert "project        : 1" in out
    assert "public_key     : public" in out
    assert "secret_key     : ***" in out
    assert no_secret(out)
    event_id = event_id_printed(out)
    assert sink.event_ids() == [event_id]
    assert (
        "Sentry accepted the event: HTTP 200 OK from %s/api/1/store/, event id %r"
        % (sink.url, event_id)
        in out
    )
    assert out.endswith("success!\n")


def test_the_test_event_has_the_610_content(sink: Sink, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "test", sink.dsn())[0] == 0

    [event] = sink.wait_for_events(1)
    assert event["logentry"]["message"] == runner.MESSAGE
    assert runner.MESSAGE == "This is a test message generated using ``raven test``"
    assert event["level"] == "info"
    assert event["culprit"] == "raven.scripts.runner"
    assert event["logger"] == "raven.test"
    assert event["request"]["url"] == "http://example.com"
    assert event["request"]["method"] == "GET"
    assert event["stacktrace"]["frames"]  # stack=True
    assert {"user", "loadavg"} <= set(event["extra"])


def test_data_and_tags_options_replace_the_event_data_and_add_tags(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, _ = run(
        capsys,
        "test",
        sink.dsn(),
        "--data",
        '{"culprit": "my.app", "logger": "ops"}',
        "--tags",
        '{"site": "eu"}',
    )
    assert status == 0
    [event] = sink.wait_for_events(1)
    assert event["culprit"] == "my.app"
    assert event["logger"] == "ops"
    assert "request" not in event
    assert event["tags"]["site"] == "eu"


def test_options_before_the_command_are_accepted_as_in_610(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--tags", '{"site": "us"}', "test", sink.dsn())[0] == 0
    assert sink.wait_for_events(1)[0]["tags"]["site"] == "us"


def test_sentry_dsn_is_used_when_no_dsn_is_given(
    sink: Sink, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_DSN", sink.dsn(secret=SECRET))

    status, out, err = run(capsys, "test")

    assert status == 0, err
    assert "Using DSN configuration (from SENTRY_DSN):" in out
    assert sink.event_ids() == [event_id_printed(out)]
    assert no_secret(out, err)


def test_the_envelope_endpoint_is_used_when_the_dsn_asks_for_it(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "test", sink.dsn(query="endpoint=envelope"))
    assert status == 0
    assert [r.kind for r in sink.requests] == ["envelope"]
    assert "/api/1/envelope/" in out


def test_endpoint_auto_falls_back_to_store_as_the_client_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Sink(envelope=False) as sink:
        status, out, _ = run(capsys, "test", sink.dsn(query="endpoint=auto"))
    assert status == 0
    assert [r.kind for r in sink.requests] == ["envelope", "store"]
    assert "/api/1/store/" in out


def test_an_answer_naming_another_event_id_is_reported(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    sink.respond(200, body=b'{"id": "0123456789abcdef0123456789abcdef"}')
    status, out, _ = run(capsys, "test", sink.dsn())
    assert status == 0
    assert "but stored it as event id '0123456789abcdef0123456789abcdef'" in out


def test_an_answer_without_an_event_id_still_succeeds(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    sink.respond(200, body=b"{}")
    status, out, _ = run(capsys, "test", sink.dsn())
    assert status == 0
    assert "(its answer names no event id)" in out


# -- refusals and failures: one line on stderr, exit status 1 -----------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_is_one_line_with_the_status_and_x_sentry_error(
    sink: Sink, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    sink.respond(status, {"X-Sentry-Error": "invalid api key"})

    code, out, err = run(capsys, "test", sink.dsn(secret=SECRET))

    assert code == 1
    reason = {401: "Unauthorized", 403: "Forbidden"}[status]
    assert err == [
        "raven: error: Sentry refused the event: HTTP %d %s (X-Sentry-Error: invalid api key)"
        % (status, reason)
    ]
    assert "success!" not in out
    assert no_secret(out, err)


def test_a_refusal_without_a_reason_names_the_status(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    sink.respond(500)
    code, _, err = run(capsys, "test", sink.dsn())
    assert code == 1
    assert err == ["raven: error: Sentry refused the event: HTTP 500 Internal Server Error"]


def test_a_rate_limit_is_one_line_with_the_wait(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    sink.respond(429, {"Retry-After": "30", "X-Sentry-Error": "project over quota"})
    code, _, err = run(capsys, "test", sink.dsn())
    assert code == 1
    assert err == [
        "raven: error: Sentry is rate limiting this project: HTTP 429 Too Many Requests "
        "(retry after 30 s; X-Sentry-Error: project over quota)"
    ]


def test_a_redirect_is_not_taken_for_success(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    sink.respond(301, {"Location": "https://sentry.example.com/api/1/store/"})
    code, out, err = run(capsys, "test", sink.dsn())
    assert code == 1
    assert len(err) == 1
    assert "HTTP 301 Moved Permanently" in err[0]
    assert "https://sentry.example.com/api/1/store/" in err[0]
    assert "success!" not in out


def test_a_closed_port_is_one_line_saying_unreachable(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = sink.dsn(secret=SECRET)
    sink.stop()

    code, out, err = run(capsys, "test", dsn)

    assert code == 1
    assert err == [
        "raven: error: could not reach Sentry at %s/api/1/store/: Connection refused" % sink.url
    ]
    assert no_secret(out, err)


def test_a_server_that_does_not_answer_in_time_is_one_line(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    sink.slow(5)
    code, _, err = run(capsys, "test", sink.dsn(query="timeout=0.2"))
    assert code == 1
    assert err == [
        "raven: error: could not reach Sentry at %s/api/1/store/: no answer after 0.2 s "
        "(timed out)" % sink.url
    ]


@pytest.mark.parametrize(
    "dsn, problem",
    [
        ("not-a-dsn", "missing scheme"),
        ("http://public:%s@127.0.0.1/" % SECRET, "missing project id"),
        ("http://127.0.0.1/1", "missing public key"),
        ("http://public:%s@127.0.0.1:99999/1" % SECRET, "bad port"),
        ("ftp://public@127.0.0.1/1", "Unsupported Sentry DSN scheme"),
        ("http://public@127.0.0.1/1?timeout=abc", "timeout"),
        ("http://public:%s@[::1/1" % SECRET, "Invalid Sentry DSN"),
    ],
)
def test_a_malformed_dsn_is_one_line_and_nothing_is_sent(
    capsys: pytest.CaptureFixture[str], dsn: str, problem: str
) -> None:
    code, out, err = run(capsys, "test", dsn)
    assert code == 1
    assert out == ""
    assert len(err) == 1
    assert err[0].startswith("raven: error: ")
    assert problem in err[0]
    assert no_secret(err)


def test_no_dsn_at_all_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "test")
    assert code == 1
    assert out == ""
    assert err == [
        "raven: error: no DSN: pass one (raven test DSN) or set the SENTRY_DSN environment variable"
    ]


# -- usage --------------------------------------------------------------------------------------


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--help")
    assert code == 0
    assert err == []
    assert out.startswith("usage: raven ")
    assert "commands:" in out
    assert "test " in out and "send a test event" in out


def test_test_help_explains_the_dsn_and_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "test", "--help")
    assert code == 0
    assert "usage: raven test [-h] [--data JSON] [--tags JSON] [DSN]" in out
    assert "SENTRY_DSN" in out
    assert "Exit status" in out


@pytest.mark.parametrize("argv", [[], ["tset"]])
def test_no_or_an_unknown_command_shows_the_commands(
    capsys: pytest.CaptureFixture[str], argv: List[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert "commands:" in err
    assert any("send a test event" in line for line in err)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == raven.get_version()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["test", "--data", "{bad"], "argument --data: invalid JSON"),
        (["test", "--tags", "[1, 2]"], "argument --tags: expected a JSON object"),
        (["test", "http://public@127.0.0.1/1", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_usage_errors_exit_with_2(
    capsys: pytest.CaptureFixture[str], argv: List[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err[0].startswith("usage: raven")
    assert message in err[-1]


# -- the installed console script ---------------------------------------------------------------


def script_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    env["PYTHONWARNINGS"] = "default"  # nothing raven warns about may reach the output either
    return env


@pytest.mark.parametrize(
    "command",
    [
        [str(Path(sys.executable).with_name("raven"))],
        [sys.executable, "-m", "raven.scripts.runner"],
    ],
    ids=["console-script", "python-m"],
)
def test_the_console_script_reports_success_and_refusal(sink: Sink, command: List[str]) -> None:
    if not Path(command[0]).exists():
        pytest.skip("no raven console script next to %s" % sys.executable)
    ok = subprocess.run(
        [*command, "test", sink.dsn(secret=SECRET)],
        capture_output=True,
        text=True,
        timeout=60,
        env=script_env(),
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    assert ok.stdout.endswith("success!\n")
    assert sink.event_ids() == [event_id_printed(ok.stdout)]

    sink.respond(403, {"X-Sentry-Error": "project disabled"})
    refused = subprocess.run(
        [*command, "test", sink.dsn(secret=SECRET)],
        capture_output=True,
        text=True,
        timeout=60,
        env=script_env(),
    )
    assert refused.returncode == 1
    assert refused.stderr == (
        "raven: error: Sentry refused the event: HTTP 403 Forbidden "
        "(X-Sentry-Error: project disabled)\n"
    )
    assert no_secret(ok.stdout, refused.stdout, refused.stderr)


# -- the helpers 6.10 code imports -------------------------------------------------------------


def test_send_test_message_works_with_any_client(
    make_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Django command's form: its own client, and None for options it was not given."""
    client = make_client(dsn="http://public:%s@sentry.example.com/5" % SECRET)

    event_id = send_test_message(client, {"data": None, "tags": None})

    [event] = client.events
    assert event["event_id"] == event_id
    assert event["culprit"] == "raven.scripts.runner"
    out = capsys.readouterr().out
    assert "project        : 5" in out
    assert "secret_key     : ***" in out
    assert "Event ID was %r" % event_id in out
    assert no_secret(out)


def test_send_test_message_exits_1_for_a_client_without_a_dsn(
    make_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client()  # no DSN: disabled
    with pytest.raises(SystemExit) as exited:
        send_test_message(client, {})
    assert exited.value.code == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_store_json_is_an_optparse_callback() -> None:
    parser = optparse.OptionParser()
    parser.add_option(
        "--tags", action="callback", callback=store_json, type="string", nargs=1, dest="tags"
    )
    options, _ = parser.parse_args(["--tags", '{"a": 1}'])
    assert options.tags == {"a": 1}


def test_store_json_reports_invalid_json_as_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = optparse.OptionParser()
    parser.add_option(
        "--data", action="callback", callback=store_json, type="string", nargs=1, dest="data"
    )
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--data", "{nope"])
    assert exited.value.code == 2
    assert "option --data: invalid JSON" in capsys.readouterr().err


def test_loadavg_and_uid() -> None:
    loadavg = get_loadavg()
    assert loadavg is None or len(loadavg) == 3
    uid = get_uid()
    assert uid is None or isinstance(uid, str)


def test_an_event_loop_transport_is_replaced_by_a_blocking_one(
    sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    """Such transports answer on a loop the command does not run (raven#367: "success", nothing
    delivered); the blocking HTTP transport sends in their place, with their DSN options."""

    class LoopTransport(AsyncTransport):
        def async_send(self, *args: Any) -> None:  # type: ignore[override]
            raise AssertionError("not used by raven test")

    client = runner._ProbeClient(
        sink.dsn(query="timeout=3"), transport=LoopTransport, install_sys_hook=False
    )
    assert client.replaced == "LoopTransport"
    assert client._sender.timeout == 3

    event_id = send_test_message(client, {})
    assert runner._report(client, event_id) == 0
    assert sink.event_ids() == [event_id]
    assert capsys.readouterr().out.endswith("success!\n")


def test_the_secret_is_masked_even_in_a_dsn_that_does_not_parse() -> None:
    assert runner._mask_dsn("https://pub:%s@[::1/7" % SECRET) == "https://pub:***@[::1/7"
    assert runner._mask_dsn("https://pub@host/7") == "https://pub@host/7"


def test_the_command_does_not_log_or_change_logging(
    sink: Sink, capsys: pytest.CaptureFixture[str], sentry_errors: List[logging.LogRecord]
) -> None:
    level = logging.getLogger("sentry.errors").level
    sink.respond(403)
    assert run(capsys, "test", sink.dsn())[0] == 1
    assert [r for r in sentry_errors if r.levelno >= logging.WARNING] == []
    assert logging.getLogger("sentry.errors").level == level


def test_a_refusal_body_is_quoted_when_the_error_carries_it() -> None:
    """Bugsink refuses with a text body and no X-Sentry-Error; once the transport's APIError
    carries the body (``.body``), the one line says what the server said."""
    from raven.exceptions import APIError

    error = APIError("HTTP 403", 403, {})
    error.body = b"Project not found or key incorrect:\n http://0000@host/1"  # type: ignore[attr-defined]
    answer = runner._Answer("http://host/api/1/store/")
    answer.status, answer.error = 403, error
    assert runner._refusal(answer) == (
        "Sentry refused the event: HTTP 403 Forbidden "
        "(the server says: Project not found or key incorrect: http://0000@host/1)"
    )


def test_an_untrusted_certificate_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    trustme = pytest.importorskip("trustme")
    with Sink(tls=trustme.CA().issue_cert("127.0.0.1")) as sink:
        code, _, err = run(capsys, "test", sink.dsn())
    assert code == 1
    [line] = err
    assert line.startswith("raven: error: could not reach Sentry at https://127.0.0.1:")
    assert "TLS certificate verification failed" in line


def test_a_connection_reset_is_one_line(sink: Sink, capsys: pytest.CaptureFixture[str]) -> None:
    sink.reset_connections(1)
    code, _, err = run(capsys, "test", sink.dsn())
    assert code == 1
    [line] = err
    assert line.startswith("raven: error: could not reach Sentry at %s/api/1/store/: " % sink.url)


@pytest.mark.parametrize("scheme", ["requests+http", "threaded+requests+http", "sync+http"])
def test_the_dsn_transport_sends_and_is_heard(
    sink: Sink, capsys: pytest.CaptureFixture[str], scheme: str
) -> None:
    pytest.importorskip("requests")
    code, out, _ = run(capsys, "test", sink.dsn(scheme=scheme))
    assert code == 0
    assert sink.event_ids() == [event_id_printed(out)]
    sink.respond(403, {"X-Sentry-Error": "nope"})
    code, _, err = run(capsys, "test", sink.dsn(scheme=scheme))
    assert code == 1
    assert err == [
        "raven: error: Sentry refused the event: HTTP 403 Forbidden (X-Sentry-Error: nope)"
    ]
