"""What every isolated scenario script shares: its arguments, its result line, and waiting for
a client's events to be settled (delivered or counted as dropped).

Import this only after the script has monkey-patched (gevent, eventlet): it imports raven.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Callable, Dict

#: the parent finds the result on the line starting with this
RESULT_PREFIX = "SCENARIO-RESULT "
#: a line telling the parent the scenario reached a point it waits for (``signal``)
SIGNAL_PREFIX = "SCENARIO-SIGNAL "


def arguments() -> Dict[str, Any]:
    """The JSON object the parent passed as the only argument."""
    return dict(json.loads(sys.argv[1]))


def log_to_stderr() -> None:
    """raven's own errors go to stderr, which the parent shows when an assertion fails."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    for name in ("sentry.errors", "raven"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def allow_transport_scheme_in_dsn() -> None:
    """raven warns (as 6.10 did) that ``gevent+http://`` DSNs are deprecated; these scenarios
    use them on purpose, under ``-W error``."""
    import warnings

    warnings.filterwarnings(
        "ignore", message="Transport selection via DSN is deprecated", category=DeprecationWarning
    )


def settled(client: Any) -> int:
    """Events the client is done with: delivered, or dropped and counted."""
    stats = client.stats.as_dict()
    return int(stats["delivered"]) + sum(stats["dropped"].values())


def wait_settled(
    client: Any, count: int, sleep: Callable[[float], Any], timeout: float = 30.0
) -> bool:
    """Wait (with the library's own ``sleep``) until ``count`` events are settled."""
    deadline = time.monotonic() + timeout
    while settled(client) < count:
        if time.monotonic() > deadline:
            return False
        sleep(0.02)
    return True


def emit(**result: Any) -> None:
    """Print the result for the parent, then make sure it is out before the process ends."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result, sort_keys=True, default=repr) + "\n")
    sys.stdout.flush()


def signal(name: str) -> None:
    """Tell the parent that this point was reached (it may be waiting to change the server)."""
    sys.stdout.write(SIGNAL_PREFIX + name + "\n")
    sys.stdout.flush()


def wait_until(
    condition: Callable[[], bool], sleep: Callable[[float], Any], timeout: float
) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        sleep(0.02)
    return True


def stats(client: Any) -> Dict[str, Any]:
    return dict(client.stats.as_dict())
