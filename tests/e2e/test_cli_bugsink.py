"""``raven test`` against a real Bugsink: the event it reports is the one the server stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List
from urllib.parse import urlsplit, urlunsplit

import pytest

from servers.bugsink import Bugsink

pytestmark = pytest.mark.e2e


def raven_command(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``raven`` console script (``python -m`` when there is none)."""
    script = Path(sys.executable).with_name("raven")
    command: List[str] = (
        [str(script)] if script.exists() else [sys.executable, "-m", "raven.scripts.runner"]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, env=env)


def with_public_key(dsn: str, key: str) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc="%s@%s" % (key, netloc)))


def test_raven_test_reports_the_event_bugsink_stored(bugsink: Bugsink) -> None:
    result = raven_command("test", bugsink.dsn, "--tags", '{"check": "cli"}')

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.endswith("success!\n")
    [line] = [x for x in result.stdout.splitlines() if x.startswith("Sentry accepted the event")]
    assert "HTTP 200 OK" in line
    event_id = line.rsplit("event id ", 1)[1].strip("'")
    assert "Event ID was %r" % event_id in result.stdout

    stored = bugsink.wait_for_event(event_id)
    assert stored["logentry"]["message"] == (
        "This is a test message generated using ``raven test``"
    )
    assert stored["tags"]["check"] == "cli"
    assert stored["culprit"] == "raven.scripts.runner"


def test_raven_test_against_a_refusing_server_is_one_line(bugsink: Bugsink) -> None:
    dsn = with_public_key(bugsink.dsn, "0" * 32)  # a key Bugsink does not know

    result = raven_command("test", dsn)

    assert result.returncode == 1
    assert "success!" not in result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("raven: error: Sentry refused the event: HTTP 4")
