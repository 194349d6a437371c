"""S7: start-up cost of ``import`` + client initialisation, and peak memory.

This driver runs in the benchmark venv and spawns fresh interpreters from the
same venv (``sys.executable``):

* bare:   ``python -c pass``
* client: ``python -c "import raven; raven.Client(DSN)"`` (raven flavor) or
          ``python -c "import sentry_sdk; sentry_sdk.init(DSN)"`` (sdk flavor)

The two kinds are interleaved, ``--iterations`` of each after one untimed
warm-up of each (so bytecode caches and the page cache are hot for everyone).
Wall time is measured around spawn + wait; the reported cost is the client
time minus the bare time (best and median).  Peak RSS of every child comes
from ``os.wait4``'s rusage (``ru_maxrss``, KiB on Linux).  The DSN points at a
closed loopback port and no event is captured, so nothing is sent at exit.
"""
import os
import statistics
import sys
import time

from _common import DSN, emit, library_version, parse_args

SNIPPETS = {
    "raven": "import raven; raven.Client(%r)" % DSN,
    "sdk": "import sentry_sdk; sentry_sdk.init(%r)" % DSN,
}


def spawn(code):
    """Run one child to completion; return (wall seconds, peak RSS in KiB)."""
    argv = [sys.executable, "-c", code]
    devnull = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    t0 = time.perf_counter()
    pid = os.posix_spawn(sys.executable, argv, os.environ, file_actions=devnull)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("child failed (%s): %s" % (status, code))
    return wall, usage.ru_maxrss


def main():
    args = parse_args(__doc__.splitlines()[0], iterations=20, repeat=1)
    code = SNIPPETS[args.client]
    spawn("pass")
    spawn(code)
    bare, full, bare_rss, full_rss = [], [], [], []
    for _ in range(args.iterations):
        wall, rss = spawn("pass")
        bare.append(wall)
        bare_rss.append(rss)
        wall, rss = spawn(code)
        full.append(wall)
        full_rss.append(rss)
    emit({
        "workload": "S7",
        "version": library_version(args.client),
        "iterations": args.iterations,
        "code": code,
        "bare_ms_best": min(bare) * 1e3,
        "bare_ms_median": statistics.median(bare) * 1e3,
        "client_ms_best": min(full) * 1e3,
        "client_ms_median": statistics.median(full) * 1e3,
        "over_bare_ms_best": (min(full) - min(bare)) * 1e3,
        "over_bare_ms_median": (statistics.median(full) - statistics.median(bare)) * 1e3,
        "bare_rss_mib": statistics.median(bare_rss) / 1024,
        "client_rss_mib": statistics.median(full_rss) / 1024,
    })


if __name__ == "__main__":
    main()
