"""Helpers shared by the workload scripts.

Every workload script runs *inside* one benchmark venv (raven 6.10, sentry-sdk,
or ours) as a subprocess of ``bench/run.py`` and prints exactly one JSON object
on stdout.  "raven" flavor means the raven 6.10 API, which ours implements too;
"sdk" flavor means the sentry-sdk 2.x API.
"""
import argparse
import json
import sys

# Port 9 ("discard") on loopback is closed: even if a client tried to send,
# the connection is refused at once and nothing leaves the machine.
DSN = "http://public:secret@127.0.0.1:9/1"


def parse_args(description, iterations, repeat=3, extra=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--client", choices=("raven", "sdk"), required=True)
    parser.add_argument("--iterations", type=int, default=iterations)
    parser.add_argument("--repeat", type=int, default=repeat)
    for args, kwargs in extra or ():
        parser.add_argument(*args, **kwargs)
    return parser.parse_args()


def library_version(flavor):
    """Version string of the library under test (no client is created)."""
    if flavor == "sdk":
        import sentry_sdk

        return getattr(sentry_sdk, "VERSION", None) or sentry_sdk.consts.VERSION
    import raven

    return getattr(raven, "VERSION", None) or getattr(raven, "__version__", "?")


def emit(result):
    result.setdefault("python", sys.version.split()[0])
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
