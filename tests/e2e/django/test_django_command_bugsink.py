"""``manage.py raven test`` as a real process: the test message is the event Bugsink stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit, urlunsplit

import pytest

from servers.bugsink import Bugsink

pytestmark = pytest.mark.e2e

MANAGE_PY = Path(__file__).resolve().parents[2] / "djangoproject" / "manage.py"
MESSAGE = "This is a test message generated using ``raven test``"


def manage(
    tmp_path: Path,
    *args: str,
    settings: str = "",
    env: Optional[Dict[str, str]] = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py *args`` with the test project's settings plus the lines ``settings``."""
    (tmp_path / "command_settings.py").write_text(
        "from djangoproject.settings import *  # noqa: F403\n"
        'SENTRY_CLIENT = "raven.contrib.django.DjangoClient"\n' + settings,
        encoding="utf-8",
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(tmp_path), environ.get("PYTHONPATH", "")) if p
    )
    environ["DJANGO_SETTINGS_MODULE"] = "command_settings"
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


def printed_event_id(out: str) -> str:
    [line] = [line for line in out.splitlines() if "Event ID was" in line]
    return line.rsplit("Event ID was ", 1)[1].strip("'")


def with_public_key(dsn: str, key: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc="%s@%s" % (key, parts.netloc.rpartition("@")[2])))


def test_the_test_message_is_stored_with_its_tags(bugsink: Bugsink, tmp_path: Path) -> None:
    done = manage(
        tmp_path,
        "raven",
        "test",
        "--tags",
        '{"check": "manage.py"}',
        settings="RAVEN_CONFIG = {'dsn': %r, 'release': 'cmd@1'}\n" % bugsink.dsn,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("Sentry accepted the event.\nsuccess!\n")
    event: Dict[str, Any] = bugsink.wait_for_event(printed_event_id(done.stdout))
    assert event["logentry"]["message"] == MESSAGE
    assert event["tags"]["check"] == "manage.py"
    assert event["culprit"] == "raven.scripts.runner"
    assert event["release"] == "cmd@1"


def test_the_dsn_may_come_from_the_environment_under_the_compat_app(
    bugsink: Bugsink, tmp_path: Path
) -> None:
    compat_apps = (
        "INSTALLED_APPS = [\n"
        "    'raven.contrib.django.raven_compat' if app == 'raven.contrib.django' else app\n"
        "    for app in INSTALLED_APPS  # noqa: F405\n"
        "]\n"
    )
    done = manage(tmp_path, "raven", "test", settings=compat_apps, env={"SENTRY_DSN": bugsink.dsn})

    assert done.returncode == 0, done.stderr
    event = bugsink.wait_for_event(printed_event_id(done.stdout))
    assert event["logentry"]["message"] == MESSAGE


def test_a_refused_event_fails_the_command(bugsink: Bugsink, tmp_path: Path) -> None:
    dsn = with_public_key(bugsink.dsn, "0" * 32)  # a key Bugsink does not know

    done = manage(tmp_path, "raven", "test", env={"SENTRY_DSN": dsn})

    assert done.returncode == 1
    assert "success!" not in done.stdout
    errors: List[str] = [line for line in done.stderr.splitlines() if "CommandError" in line]
    assert errors == [
        "CommandError: the event was not delivered (dropped: send_error: 1); "
        "the sentry.errors log says why"
    ]
    assert bugsink.event(printed_event_id(done.stdout)) is None


@pytest.mark.parametrize("args", [(), ("tset",)])
def test_anything_but_test_prints_the_usage_and_exits_1(tmp_path: Path, args: Any) -> None:
    done = manage(tmp_path, "raven", *args, env={"SENTRY_DSN": "http://public@127.0.0.1:9/1"})

    assert done.returncode == 1
    assert "Usage: manage.py raven test [--data JSON] [--tags JSON]" in done.stderr
    assert "Event ID" not in done.stdout
