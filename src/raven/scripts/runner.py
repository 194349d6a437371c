"""The ``raven`` command: ``raven test [DSN]`` sends a test event and prints the server's answer."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys

from raven import Client, get_version
from raven.exceptions import APIError
from raven.utils.json import json

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, NoReturn, Optional, Sequence, Tuple

__all__ = ["get_loadavg", "get_uid", "main", "send_test_message", "store_json"]

#: the message of the test event (6.10's text)
MESSAGE = "This is a test message generated using ``raven test``"

EXIT_OK = 0
#: a malformed DSN, no DSN, an unreachable server, a refused event
EXIT_FAILED = 1
#: bad command-line arguments
EXIT_USAGE = 2

#: ``scheme://public:SECRET@`` in a DSN, found without parsing it (a DSN may not parse)
_SECRET_IN_DSN = re.compile(r"^(\s*[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*):([^@/?#]*)@")


# -- 6.10's helpers -----------------------------------------------------------------------------


def store_json(option: Any, opt_str: str, value: str, parser: Any) -> None:
    """optparse callback storing ``value`` parsed as JSON (6.10's ``--data`` and ``--tags``).

    Invalid JSON raises ``optparse.OptionValueError``, which optparse reports as a usage error
    (6.10 printed the problem to stdout and exited with status 1).
    """
    try:
        parsed = json.loads(value)
    except ValueError as e:
        import optparse

        raise optparse.OptionValueError("option %s: invalid JSON (%s): %s" % (opt_str, e, value))
    setattr(parser.values, option.dest, parsed)


def get_loadavg() -> Optional[Tuple[float, float, float]]:
    """The system load averages, or None where the platform has none."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):  # Windows; "load averages are unobtainable"
        return None


def get_uid() -> Optional[str]:
    """The name of the effective user, or None (no ``pwd`` module, or a uid without a name)."""
    try:
        import pwd
    except ImportError:
        return None
    try:
        return pwd.getpwuid(os.geteuid())[0]
    except KeyError:  # containers often run under a uid that has no passwd entry
        return None


def send_test_message(client: Any, options: Any) -> Optional[str]:
    """Print ``client``'s configuration (secret masked), capture the test message, return its id.

    Shared with Django's ``manage.py raven test``, which passes its own client and reads the
    outcome its own way; ``options`` is a mapping with ``data`` (replaces the default event
    data) and ``tags``, either of which may be missing or None. Exits with status 1, as 6.10
    did, when the client has no usable DSN.
    """
    out = sys.stdout
    remote = client.remote
    out.write("Client configuration:\n")
    for key in ("base_url", "project", "public_key", "secret_key"):
        value = getattr(remote, key, None)
        shown = "(none)" if value is None else "***" if key == "secret_key" else value
        out.write("  %-15s: %s\n" % (key, shown))
    out.write("\n")

    if not remote.is_active():
        _error("the DSN is not complete (it needs a host, a public key and a project id)")
        sys.exit(EXIT_FAILED)
    if not client.is_enabled():
        _error("the client reports itself as disabled")
        sys.exit(EXIT_FAILED)

    data = options.get("data")
    if data is None:
        data = {
            "culprit": "raven.scripts.runner",
            "logger": "raven.test",
            "request": {"method": "GET", "url": "http://example.com"},
        }
    out.write("Sending a test message... ")
    out.flush()
    ident = client.captureMessage(
        message=MESSAGE,
        data=data,
        level=logging.INFO,
        stack=True,
        tags=options.get("tags") or {},
        extra={"user": get_uid(), "loadavg": get_loadavg()},
        sample_rate=1.0,  # a test message is never sampled out
    )
    out.write("Event ID was %r\n" % (ident,))
    out.flush()
    return ident


# -- the one synchronous send -------------------------------------------------------------------


class _Answer:
    """What became of the test event: the server's answer, or the error that prevented one."""

    __slots__ = ("body", "error", "headers", "status", "url")

    def __init__(self, url: str) -> None:
        self.url = url
        self.status: Optional[int] = None
        self.headers: Any = {}
        self.body: Optional[bytes] = None
        self.error: Optional[BaseException] = None


class _ProbeClient(Client):
    """A client that sends each event once, in the caller's thread, and keeps the answer.

    raven 6.10 sent the test event through the background worker, slept three seconds and
    guessed from ``client.state``. Here ``send_remote`` (6.10's seam) bypasses the delivery
    policy (queue, retries, back-off, rate limits): a test must report the server's first
    answer to this event, not what a retry achieved later. The transport is the DSN's own,
    called through its blocking ``send``; event-loop transports (``is_async`` without
    ``background_send``) answer on a loop this command does not run, so
    :class:`~raven.transport.http.HTTPTransport` stands in for them.
    """

    def __init__(self, dsn: str, **options: Any) -> None:
        super().__init__(dsn, **options)
        self.answer: Optional[_Answer] = None
        transport = self.remote.get_transport()
        #: the name of the DSN's transport class when another one sends in its place
        self.replaced: Optional[str] = None
        if getattr(transport, "is_async", False) and not getattr(
            transport, "background_send", False
        ):
            from raven.transport.http import HTTPTransport

            self.replaced = type(transport).__name__
            shared = ("timeout", "verify_ssl", "ca_certs", "proxy")
            transport = HTTPTransport(
                **{k: v for k, v in self.remote.options.items() if k in shared}
            )
        self._sender = transport

    def send_remote(self, url: str, data: bytes, headers: Optional[Dict[str, str]] = None) -> None:
        from raven import protocol

        headers = dict(headers or {})
        if data[:1] in (b"{", b"[") and not _header(headers, "Content-Encoding"):
            data = protocol.compress(data)  # as the delivery worker does for a plain JSON body
            encoding = protocol.content_encoding(data)
            if encoding:
                headers["Content-Encoding"] = encoding
        answer = self._attempt(url, data, headers)
        is_envelope = _header(headers, "Content-Type") == protocol.ENVELOPE_CONTENT_TYPE
        endpoint = str(self.remote.delivery_options.get("endpoint") or "").lower()
        if answer.status in (404, 405) and is_envelope and endpoint == "auto":
            # the delivery falls back to the store endpoint here, for good; so does the test
            event_json = protocol.envelope_event_json(data)
            if event_json is not None and self.remote.store_endpoint:
                body = protocol.compress(event_json)
                headers["Content-Type"] = "application/octet-stream"
                headers.pop("Content-Encoding", None)
                encoding = protocol.content_encoding(body)
                if encoding:
                    headers["Content-Encoding"] = encoding
                answer = self._attempt(self.remote.store_endpoint, body, headers)
        self.answer = answer

    def _attempt(self, url: str, data: bytes, headers: Dict[str, str]) -> _Answer:
        answer = _Answer(url)
        try:
            response = self._sender.send(url, data, headers)
        except APIError as exc:
            answer.status, answer.headers, answer.error = exc.code, exc.headers or {}, exc
        except Exception as exc:
            answer.error = exc
        else:
            status = getattr(response, "status", None)
            if status is None:
                status = getattr(response, "status_code", None)  # requests
            answer.status = status if isinstance(status, int) else None
            answer.headers = getattr(response, "headers", None) or {}
            body = getattr(response, "data", None)  # urllib3 (preloaded)
            if not isinstance(body, bytes):
                body = getattr(response, "content", None)  # requests
            answer.body = body if isinstance(body, bytes) else None
        return answer


# -- reporting ----------------------------------------------------------------------------------


def _error(message: str) -> None:
    """One line on stderr: the whole story of an expected failure."""
    sys.stdout.flush()
    text = " ".join(str(message).split())
    sys.stderr.write("raven: error: %s\n" % text)
    sys.stderr.flush()


def _mask_dsn(dsn: str) -> str:
    """``dsn`` with its secret key replaced by ``***`` (works on a DSN that does not parse)."""
    return _SECRET_IN_DSN.sub(r"\1:***@", dsn)


def _scrub(text: str, dsn: str) -> str:
    """``text`` with the DSN's secret key masked wherever it shows."""
    match = _SECRET_IN_DSN.match(dsn)
    return _scrub_secret(text, match.group(2) if match else None)


def _scrub_secret(text: str, secret: Optional[str]) -> str:
    if secret:
        text = text.replace(":%s@" % secret, ":***@")
        if len(secret) >= 6:  # a longer secret is masked anywhere; "a" would mangle the text
            text = text.replace(secret, "***")
    return text


def _header(headers: Any, name: str) -> Optional[str]:
    """A header from any mapping, looked up case-insensitively."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return str(value)
    lowered = name.lower()
    for key, value in headers.items():
        if str(key).lower() == lowered:
            return str(value)
    return None


def _status_text(status: int) -> str:
    from http import HTTPStatus

    try:
        return "HTTP %d %s" % (status, HTTPStatus(status).phrase)
    except ValueError:
        return "HTTP %d" % status


def _event_id_in(body: Optional[bytes]) -> Optional[str]:
    """The ``id`` in a ``{"id": ...}`` answer, or None."""
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    value = parsed.get("id") if isinstance(parsed, dict) else None
    return str(value) if value else None


def _refusal(answer: _Answer) -> str:
    """Why the server did not take the event, from its status and headers."""
    status = answer.status or 0
    headers = answer.headers
    details = []
    if status == 429:
        what = "Sentry is rate limiting this project"
        retry_after = _header(headers, "Retry-After")
        if retry_after:
            from raven.transport.http import parse_retry_after

            details.append("retry after %d s" % round(parse_retry_after(retry_after)))
        limits = _header(headers, "X-Sentry-Rate-Limits")
        if limits:
            details.append("X-Sentry-Rate-Limits: %s" % limits)
    elif 300 <= status < 400:
        what = "Sentry did not take the event (a redirect is not followed)"
        location = _header(headers, "Location")
        if location:
            details.append("it points to %s; put that address in the DSN" % location)
    else:
        what = "Sentry refused the event"
    reason = _header(headers, "X-Sentry-Error")
    if reason:
        details.append("X-Sentry-Error: %s" % reason)
    else:
        said = _server_says(getattr(answer.error, "body", None))
        if said:
            details.append("the server says: %s" % said)
    text = "%s: %s" % (what, _status_text(status))
    if details:
        text += " (%s)" % "; ".join(details)
    return text


def _server_says(body: Any) -> Optional[str]:
    """The start of a refusal's body (its JSON ``detail``), for servers that send no
    ``X-Sentry-Error`` (used when the transport's error carries the body)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip():
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        body = str(parsed.get("detail") or parsed.get("error") or body)
    text = " ".join(body.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _chain(exc: BaseException) -> Any:
    """``exc`` and the exceptions behind it (``reason``, ``__cause__``, ``__context__``)."""
    seen = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
        else:
            current = current.__cause__ or current.__context__


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, (OSError, EOFError)):
        return True
    module = type(exc).__module__ or ""
    return module.split(".", 1)[0] in ("urllib3", "requests", "http", "ssl", "socket")


def _network_reason(exc: BaseException, timeout: Any) -> str:
    """A short human reason for a failed connection: "Connection refused", "timed out", …"""
    import ssl

    chain = list(_chain(exc))
    seconds = " after %g s" % timeout if isinstance(timeout, (int, float)) else ""
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return "TLS certificate verification failed: %s" % (e.verify_message or e.reason)
    for e in chain:
        name = type(e).__name__
        if "Timeout" in name or isinstance(e, TimeoutError):
            if "Connect" in name:
                return "timed out connecting%s" % seconds
            return "no answer%s (timed out)" % seconds
    for e in reversed(chain):
        if isinstance(e, ssl.SSLError):
            return "TLS error: %s" % (e.reason or e)
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
    root = chain[-1]
    text = re.sub(r"<[^>]* object at 0x[0-9a-fA-F]+>:\s*", "", str(root))
    return text or type(root).__name__


def _report(client: _ProbeClient, ident: Optional[str]) -> int:
    """Print the server's verdict on the test event; the exit status."""
    answer = client.answer
    if ident is None or answer is None:
        _error("no event was sent (a processor dropped it, or building it failed)")
        return EXIT_FAILED
    error = answer.error
    if error is not None and not isinstance(error, APIError):
        if _is_network_error(error):
            timeout = getattr(client._sender, "timeout", None)
            _error(
                "could not reach Sentry at %s: %s" % (answer.url, _network_reason(error, timeout))
            )
        else:
            _error("the transport failed: %s: %s" % (type(error).__name__, error))
        return EXIT_FAILED
    status = answer.status
    if status is None:
        sys.stdout.write("The transport sent the event (it reports no details of the answer).\n")
        sys.stdout.write("success!\n")
        return EXIT_OK
    if error is not None or not 200 <= status < 300:
        _error(_scrub_secret(_refusal(answer), client.remote.secret_key))
        return EXIT_FAILED
    stored = _event_id_in(answer.body)
    line = "Sentry accepted the event: %s from %s" % (_status_text(status), answer.url)
    if stored is None:
        line += " (its answer names no event id)"
    elif stored.replace("-", "") == ident.replace("-", ""):
        line += ", event id %r" % stored
    else:
        line += ", but stored it as event id %r" % stored
    sys.stdout.write(line + "\n")
    sys.stdout.write("success!\n")
    return EXIT_OK


# -- the command line ---------------------------------------------------------------------------


class _UsageError(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors reach :func:`main` instead of exiting the process."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


def _json_object(text: str) -> Dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError("invalid JSON (%s): %s" % (e, text))
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object ({...}), got: %s" % text)
    return value


def _add_event_options(parser: argparse.ArgumentParser, hidden: bool = False) -> None:
    data_help = "event data replacing the default culprit, logger and request"
    tags_help = 'tags for the test event, e.g. \'{"site": "eu"}\''
    # SUPPRESS: given before the command or after it, neither parser resets the other's value
    for name, text in (("--data", data_help), ("--tags", tags_help)):
        parser.add_argument(
            name,
            type=_json_object,
            default=argparse.SUPPRESS,
            metavar="JSON",
            help=argparse.SUPPRESS if hidden else text,
        )


def _build_parser() -> _Parser:
    parser = _Parser(
        prog="raven",
        description="raven, the Sentry client for Python: command-line tools.",
        epilog='Run "raven <command> --help" for the options of a command.',
    )
    parser.add_argument("--version", action="version", version=get_version())
    _add_event_options(parser, hidden=True)  # 6.10 took them before the command too
    commands = parser.add_subparsers(dest="command", title="commands", metavar="<command>")
    test = commands.add_parser(
        "test",
        help="send a test event to a DSN and print the server's answer",
        description="Send a test event to Sentry and wait for the server's answer. Prints the "
        "configuration parsed from the DSN (secret key masked), the event id, and the "
        "verdict: the HTTP status and the event id the server stored, or why it refused.",
        epilog="Exit status: 0 when the server stored the event; 1 when it refused it, could "
        "not be reached, or the DSN is missing or malformed; 2 on usage errors.",
    )
    test.add_argument(
        "dsn",
        nargs="?",
        metavar="DSN",
        help="where to send, e.g. https://KEY@sentry.example.com/1 (default: $SENTRY_DSN)",
    )
    _add_event_options(test)
    return parser


def _run_test(args: argparse.Namespace) -> int:
    dsn = (args.dsn or "").strip()
    from_env = not dsn
    if from_env:
        dsn = os.environ.get("SENTRY_DSN", "").strip()
    if not dsn:
        _error("no DSN: pass one (raven test DSN) or set the SENTRY_DSN environment variable")
        return EXIT_FAILED
    try:
        client = _ProbeClient(
            dsn,
            include_paths=["raven"],
            install_sys_hook=False,
            install_logging_hook=False,
            hook_libraries=[],
        )
    except (ValueError, ImportError) as e:  # InvalidDsn and ConfigurationError are ValueErrors
        _error(_scrub(str(e), dsn))
        return EXIT_FAILED

    out = sys.stdout
    out.write("Using DSN configuration%s:\n" % (" (from SENTRY_DSN)" if from_env else ""))
    out.write("  %s\n" % _mask_dsn(dsn))
    if client.replaced:
        out.write(
            "  (the %s transport needs an event loop; sending with %s instead)\n"
            % (client.replaced, type(client._sender).__name__)
        )
    out.write("\n")
    try:
        ident = send_test_message(
            client, {"data": getattr(args, "data", None), "tags": getattr(args, "tags", None)}
        )
        return _report(client, ident)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else EXIT_FAILED
    finally:
        client.close(0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``raven`` console script: the exit status for ``argv`` (default ``sys.argv[1:]``)."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as e:
        if e.parser is parser and "invalid choice" in e.message:  # show the commands there are
            parser.print_help(sys.stderr)
            sys.stderr.write("\n")
        else:
            e.parser.print_usage(sys.stderr)
        sys.stderr.write("%s: error: %s\n" % (e.parser.prog, e.message))
        return EXIT_USAGE
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else EXIT_OK
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    import warnings

    try:
        with warnings.catch_warnings():
            # "transport selection via DSN is deprecated", urllib3's InsecureRequestWarning
            # for ?verify_ssl=0: not the subject of the test, and they would break its output
            warnings.simplefilter("ignore")
            return _run_test(args)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as e:  # one line, not a traceback, even for what was not foreseen
        text = str(e)
        for dsn in (args.dsn or "", os.environ.get("SENTRY_DSN", "")):
            text = _scrub(text, dsn.strip())
        _error("%s: %s" % (type(e).__name__, text))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
