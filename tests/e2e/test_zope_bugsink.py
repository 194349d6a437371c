"""End to end: a Zope instance wired as a user would wire it, as a real Bugsink stored its failure.

The instance (``mkwsgiinstance`` + ``make_wsgi_app``) includes ``raven.contrib.zope``'s ZCML
and gets its DSN from ``SENTRY_DSN``; it runs in a process of its own (starting Zope changes
process-wide state), which makes one failing request and prints the event id.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[1] / "servers" / "zope_instance.py"


def test_a_failing_publication_is_stored_with_its_request_scrubbed(bugsink):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "report-failure"],
        env=dict(os.environ, SENTRY_DSN=bugsink.dsn),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["raised"] == "card declined for order A-17"

    event = bugsink.wait_for_event(outcome["event_id"])

    [value] = event["exception"]["values"]
    assert value["type"] == "PaymentDeclined"
    assert value["value"] == "card declined for order A-17"
    assert value["stacktrace"]["frames"][-1]["function"] == "__call__"

    req = event["request"]
    assert req["url"] == "http://localhost:80/checkout"
    assert req["method"] == "POST"
    assert req["query_string"] == "step=pay"
    assert req["headers"]["X-Request-Id"] == "req-7"
    assert req["data"]["order"] == "A-17"
    assert req["data"]["password"] == "********"
    assert event["user"]["ip_address"] == "10.0.0.7"
    assert "hunter2" not in json.dumps(event)
    assert "s3ss10n" not in json.dumps(event)  # Zope's login cookie
