"""Default values of client options (names kept from raven 6.10 for code that reads them)."""

from __future__ import annotations

import os
import os.path

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), os.pardir))

TIMEOUT = 5
#: the client class Django's integration builds when SENTRY_CLIENT is not set
CLIENT = "raven.contrib.django.DjangoClient"


def _hostname() -> str:
    # os.uname() avoids importing socket at start-up; it is gethostname() on POSIX
    try:
        return os.uname().nodename
    except AttributeError:  # pragma: no cover - Windows
        import socket

        return socket.gethostname()


NAME = _hostname()

MAX_LENGTH_LIST = 50
MAX_LENGTH_STRING = 400

AUTO_LOG_STACKS = False
CAPTURE_LOCALS = True

PROCESSORS = ("raven.processors.SanitizePasswordsProcessor",)


def _ca_bundle() -> str:
    try:
        import certifi

        return str(certifi.where())
    except ImportError:  # pragma: no cover - certifi is a dependency
        return ""


def __getattr__(name: str) -> str:
    # PEP 562: CA_BUNDLE is computed when someone asks for it
    if name == "CA_BUNDLE":
        value = _ca_bundle()
        globals()["CA_BUNDLE"] = value
        return value
    raise AttributeError(name)
