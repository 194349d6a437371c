"""raven: a maintained, fast, drop-in replacement for raven-python 6.10 (the Sentry client).

``raven.Client(dsn).captureException()`` works as it did in 6.10, on Python 3.9+.
"""

from __future__ import annotations

import os
import os.path

from raven._version import VERSION, __version__

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Optional

__all__ = (
    "VERSION",
    "Client",
    "__version__",
    "fetch_git_sha",
    "fetch_package_version",
    "get_revision",
    "get_version",
    "setup_logging",
)

__build__: Optional[str] = None


def get_revision() -> Optional[str]:
    """The git sha of the source tree raven runs from, when it is a checkout."""
    checkout_dir = os.path.normpath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
    if os.path.exists(os.path.join(checkout_dir, ".git")):
        from raven.versioning import fetch_git_sha

        try:
            return fetch_git_sha(checkout_dir)
        except Exception:
            return None
    return None


def get_version() -> str:
    """``VERSION``, plus `` (sha)`` when raven runs from a git checkout."""
    build = __build__ or get_revision()
    if build:
        return "%s (%s)" % (VERSION, build[:7])
    return VERSION


from raven.base import Client  # noqa: E402
from raven.conf import setup_logging  # noqa: E402
from raven.versioning import fetch_git_sha, fetch_package_version  # noqa: E402
