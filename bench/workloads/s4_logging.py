"""S4: what an initialised client adds to ordinary ``logger.info`` calls.

The call is ``logger.info('x %s', i)`` on a logger with no handlers (the root
logger has none either; Python's last-resort handler only prints WARNING and
above, so nothing is written anywhere).  Two situations are timed in one
process:

* filtered: the logger is at its default level (WARNING effective), so the
  call is rejected by the level check and no record is created;
* info: the logger is set to INFO, so a LogRecord is created and handed to
  (no) handlers.

Both variants import the library, so the processes differ only by the
client.  With ``--no-client`` nothing else happens (the baseline; the script
checks and reports whether the mere import patched ``logging``, which would
hide a cost).  Without it, a client is initialised with its default hooks
(raven flavor: ``raven.Client(dsn)``; sdk: ``sentry_sdk.init(dsn)`` with its
default logging integration).  Initialising is irreversible, so the
orchestrator runs the variants in separate, interleaved processes and divides.

Numbers are wall-clock ns per call, best of ``--repeat`` timed loops, with the
cost of an empty ``for`` loop of the same length subtracted.
"""
import logging
import time

from _common import DSN, emit, library_version, parse_args

logger = logging.getLogger("bench.s4")


def logging_state():
    """Identity of everything on the logging call path a client might patch."""
    state = {"Logger." + k: v for k, v in vars(logging.Logger).items() if callable(v)}
    state.update({"logging." + k: v for k, v in vars(logging).items() if callable(v)})
    return state


def changed(before, after):
    return sorted(k for k in before.keys() | after.keys() if before.get(k) is not after.get(k))


def time_loop(body, n, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        body(n)
        best = min(best, time.perf_counter_ns() - t0)
    return best / n


def empty_loop(n):
    for i in range(n):
        pass


def log_loop(n):
    for i in range(n):
        logger.info("x %s", i)


def main():
    args = parse_args(
        __doc__.splitlines()[0],
        iterations=200_000,
        repeat=5,
        extra=[
            (("--info-iterations",), {"type": int, "default": 50_000}),
            (("--no-client",), {"action": "store_true"}),
        ],
    )
    result = {"workload": "S4", "client_initialised": not args.no_client}
    before = logging_state()
    result["version"] = library_version(args.client)  # imports the library
    result["logging_patched_by_import"] = changed(before, logging_state())
    if not args.no_client:
        if args.client == "sdk":
            import sentry_sdk

            sentry_sdk.init(DSN)
        else:
            import raven

            raven.Client(DSN)
        result["logging_patched_by_client"] = changed(before, logging_state())

    root = logging.getLogger()
    result["handlers"] = len(root.handlers) + len(logger.handlers)
    result["effective_level"] = logging.getLevelName(logger.getEffectiveLevel())
    if result["effective_level"] != "WARNING":
        raise SystemExit("logger is not at WARNING: %s" % result["effective_level"])

    # warm up both paths once (specialisation, caches), then measure
    log_loop(1000)
    loop_ns = time_loop(empty_loop, args.iterations, args.repeat)
    result["filtered_ns"] = time_loop(log_loop, args.iterations, args.repeat) - loop_ns

    logger.setLevel(logging.INFO)
    log_loop(1000)
    loop_ns_info = time_loop(empty_loop, args.info_iterations, args.repeat)
    result["info_ns"] = (
        time_loop(log_loop, args.info_iterations, args.repeat) - loop_ns_info
    )
    result.update(
        iterations=args.iterations,
        info_iterations=args.info_iterations,
        repeat=args.repeat,
        loop_overhead_ns=loop_ns,
    )
    emit(result)


if __name__ == "__main__":
    main()
