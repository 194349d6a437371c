"""``manage.py raven test``: send the ``raven test`` message through the project's own client.

Unlike the ``raven test DSN`` console script, this uses the client Django builds from the
settings (``RAVEN_CONFIG``, ``SENTRY_CLIENT``, ``SENTRY_DSN``), so it also checks that
configuration. It waits for the delivery to finish (``--timeout``, 10 s by default) and says
what became of the event, where raven 6.10 slept three seconds and said nothing.
"""

from __future__ import annotations

import argparse

try:
    import django
    from django.core.management.base import BaseCommand, CommandError
except ImportError as exc:  # pragma: no cover - exercised only without Django installed
    raise ImportError(
        "raven.contrib.django needs Django (2.2 or later): pip install 'raven[django]' (%s)"
        % (exc,)
    ) from exc

from raven.scripts.runner import send_test_message, store_json
from raven.utils.json import json

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, Optional, Sequence, Union

__all__ = ["DJANGO_18", "Command", "StoreJsonAction", "send_test_message", "store_json"]

#: raven 6.10 chose between optparse and argparse options with this; always true now
DJANGO_18 = django.VERSION >= (1, 8, 0)

#: seconds to wait for the server's answer unless ``--timeout`` says otherwise
DEFAULT_TIMEOUT = 10.0

USAGE = "manage.py raven test [--data JSON] [--tags JSON] [--timeout SECONDS]"


def _json_object(text: Any) -> Dict[str, Any]:
    """``text`` parsed as a JSON object, or ValueError saying what is wrong with it."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as e:
        raise ValueError("invalid JSON (%s): %s" % (e, text))
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object ({...}), got: %s" % (text,))
    return value


class StoreJsonAction(argparse.Action):
    """Store the option's value parsed as a JSON object (``--data`` and ``--tags``).

    Bad JSON is a usage error reported by the parser (a ``CommandError`` under
    ``call_command``), where raven 6.10 printed it and exited the process.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Union[str, Sequence[Any], None],
        option_string: Optional[str] = None,
    ) -> None:
        # 6.10 declared these options with nargs=1: accept a one-item list as well
        text = values[0] if isinstance(values, (list, tuple)) and values else values
        try:
            value = _json_object(text)
        except ValueError as e:
            raise argparse.ArgumentError(self, str(e))
        setattr(namespace, self.dest, value)


class Command(BaseCommand):
    help = (
        "Send a test message to Sentry with the client configured in the settings, "
        "and wait for the server's answer. Usage: " + USAGE
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        # optional, so that call_command('raven', command='test') works as it did with 6.10
        parser.add_argument("command", nargs="?", metavar="test", help='the sub-command: "test"')
        parser.add_argument(
            "--data",
            action=StoreJsonAction,
            metavar="JSON",
            help="event data replacing the default culprit, logger and request",
        )
        parser.add_argument(
            "--tags",
            action=StoreJsonAction,
            metavar="JSON",
            help='tags for the test event, e.g. \'{"site": "eu"}\'',
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help="how long to wait for the server's answer (default: %g)" % DEFAULT_TIMEOUT,
        )

    def handle(self, command: Any = None, *args: Any, **options: Any) -> None:
        if isinstance(command, (list, tuple)):  # 6.10's nargs=1 form, from call_command
            command = command[0] if len(command) == 1 else list(command)
        if command != "test":
            if command is None:
                raise CommandError("no sub-command given. Usage: %s" % USAGE)
            raise CommandError("unknown sub-command %r. Usage: %s" % (command, USAGE))

        for name in ("data", "tags"):  # call_command(data='{...}') skips the parser
            if isinstance(options.get(name), str):
                try:
                    options[name] = _json_object(options[name])
                except ValueError as e:
                    raise CommandError("--%s: %s" % (name, e))

        from raven.contrib.django.models import client

        stats = getattr(client, "stats", None)
        before = stats.as_dict() if stats is not None else None
        try:
            # looked up at call time: tests patch this module's send_test_message
            ident = send_test_message(
                client, {"tags": options.get("tags"), "data": options.get("data")}
            )
        except SystemExit:  # send_test_message's "no usable DSN" (it printed why)
            raise CommandError(
                "the Sentry client cannot send: give it a DSN (RAVEN_CONFIG = {'dsn': ...} "
                "in the settings, or the SENTRY_DSN environment variable)"
            )
        if ident is None:
            raise CommandError(
                "no event was sent: a processor or before_send dropped it, or building it "
                "failed (see the sentry.errors log)"
            )
        timeout = options.get("timeout")
        self._wait_for_delivery(client, before, DEFAULT_TIMEOUT if timeout is None else timeout)

    def _wait_for_delivery(
        self, client: Any, before: Optional[Dict[str, Any]], timeout: float
    ) -> None:
        """Flush the client and say what became of the test event; CommandError if it failed."""
        flush = getattr(client, "flush", None)
        if before is None or not callable(flush):  # a client class of its own, without them
            self.stdout.write(
                "The client does not report deliveries; look for the event in Sentry."
            )
            return
        self.stdout.write("Waiting up to %g s for the server's answer..." % timeout)
        report = flush(timeout)
        after = client.stats.as_dict()
        dropped = {
            reason: count - before["dropped"].get(reason, 0)
            for reason, count in after["dropped"].items()
            if count > before["dropped"].get(reason, 0)
        }
        if dropped:
            reasons = ", ".join("%s: %d" % item for item in sorted(dropped.items()))
            raise CommandError(
                "the event was not delivered (dropped: %s); the sentry.errors log says why"
                % reasons
            )
        if getattr(report, "pending", 0):
            if getattr(self, "_called_from_command_line", False):
                # the process ends now: waiting again at exit would not change the verdict
                client.close(0)
            raise CommandError(
                "the event was not delivered within %g s: the server did not answer (the "
                "sentry.errors log says why)" % timeout
            )
        if after["delivered"] > before["delivered"]:
            self.stdout.write("Sentry accepted the event.")
            self.stdout.write("success!")
            return
        state = getattr(client, "state", None)
        if state is not None and state.did_fail():
            raise CommandError("sending failed; the sentry.errors log says why")
        # e.g. CeleryClient (a task sends it) or a client class that sends its own way
        self.stdout.write(
            "The client handed the event on without reporting its delivery; look for it in Sentry."
        )
