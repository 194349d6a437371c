"""Runs a scenario script of this directory in a child process and returns its result.

gevent and eventlet monkey-patch the whole process, zerorpc pulls gevent in, and a Twisted
reactor runs once per process: none of them may touch the pytest process. Each scenario
runs in a fresh interpreter (the one running pytest, with ``-W error`` like pytest's
``filterwarnings = error``; ``RAVEN_SCENARIO_WARNINGS=default`` relaxes that for old releases
whose own dependencies warn), is stopped by its pid if it outlives its timeout, and reports
one JSON result line. It may also print signal lines, on which the parent acts (restart a
server) while the child keeps running.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

from isolated._scenario import RESULT_PREFIX, SIGNAL_PREFIX

__all__ = ["ScenarioFailed", "run_scenario"]

HERE = Path(__file__).resolve().parent


class ScenarioFailed(AssertionError):
    """The child failed, hung, or gave no result; the message has its output."""


def _child_environment() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _pump(stream: Any, sink: queue.Queue[Optional[str]], collected: List[str]) -> None:
    for line in iter(stream.readline, ""):
        collected.append(line)
        sink.put(line)
    sink.put(None)


def run_scenario(
    script: str,
    args: Mapping[str, Any],
    on_signal: Optional[Mapping[str, Callable[[], None]]] = None,
    timeout: float = 120.0,
) -> Dict[str, Any]:
    """Run ``script`` with ``args`` (JSON); return its result, calling ``on_signal[name]()``
    for each signal it prints. Raises :class:`ScenarioFailed` on a non-zero exit, a missing
    result, or when it is still running after ``timeout`` seconds (it is killed then)."""
    # RAVEN_SCENARIO_WARNINGS=default: for old releases whose own dependencies warn
    warnings = os.environ.get("RAVEN_SCENARIO_WARNINGS", "error")
    command = [sys.executable, "-W", warnings, str(HERE / script), json.dumps(dict(args))]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_environment(),
        cwd=str(HERE),
    )
    lines: queue.Queue[Optional[str]] = queue.Queue()
    stdout: List[str] = []
    stderr: List[str] = []
    readers = [
        threading.Thread(target=_pump, args=(process.stdout, lines, stdout), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, queue.Queue(), stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    result: Optional[Dict[str, Any]] = None
    problem = None
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                problem = "still running after %.0f s (killed)" % timeout
                break
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                break
            if line.startswith(SIGNAL_PREFIX):
                name = line[len(SIGNAL_PREFIX) :].strip()
                handler = (on_signal or {}).get(name)
                if handler is None:
                    problem = "signal %r has no handler" % name
                    break
                handler()
            elif line.startswith(RESULT_PREFIX):
                result = json.loads(line[len(RESULT_PREFIX) :])
        if problem is None:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                problem = "did not exit after its result (killed)"
    finally:
        if process.poll() is None:
            process.kill()  # this child only, by its pid
            process.wait()
        for reader in readers:
            reader.join(5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    if problem is None and process.returncode != 0:
        problem = "exited with status %s" % process.returncode
    if problem is None and result is None:
        problem = "printed no result"
    if problem is not None:
        raise ScenarioFailed(
            "%s %s %s\n--- stdout ---\n%s\n--- stderr ---\n%s"
            % (script, args.get("case"), problem, "".join(stdout)[-4000:], "".join(stderr)[-8000:])
        )
    assert result is not None
    result["stderr"] = "".join(stderr)
    return result
