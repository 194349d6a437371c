#!/usr/bin/env python3
"""scripts/demo [--keep]: raven reporting to a real Bugsink server, end to end.

1. Makes sure there is a venv with this checkout's raven: the running interpreter if it already
   imports it (e.g. an active venv), else .test-state/venv (created with uv, or venv + pip).
2. Starts Bugsink on 127.0.0.1 (installed into its own venv on first use; tests/servers/bugsink.py).
3. Runs scripts/demo_app.py, a small app using raven 6.10's API, with SENTRY_DSN pointing there.
4. Prints what the server stored, and where to see it in a browser.

The server is stopped at the end unless --keep is given. The exit status is non-zero when the
server stored fewer events than the app sent. Needs only python3 (>= 3.10) and access to PyPI.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".test-state" / "venv"
APP = ROOT / "scripts" / "demo_app.py"
_REEXEC = "RAVEN_DEMO_IN_VENV"


def say(message: str = "") -> None:
    print(message, flush=True)


# ---- 1. a venv with this checkout's raven ----------------------------------------------------


def imports_this_raven(python: str) -> bool:
    code = "import importlib.util as u; s = u.find_spec('raven'); print(s.origin if s else '')"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    origin = done.stdout.strip()
    return done.returncode == 0 and bool(origin) and Path(origin).is_relative_to(ROOT / "src")


def running_this_raven() -> bool:
    spec = importlib.util.find_spec("raven")
    origin = spec.origin if spec is not None else None
    return origin is not None and Path(origin).is_relative_to(ROOT / "src")


def ensure_venv() -> str:
    """The python of .test-state/venv, created and given an editable install of raven if needed."""
    python = VENV / "bin" / "python"
    if python.exists() and imports_this_raven(str(python)):
        return str(python)
    uv = os.environ.get("UV") or shutil.which("uv")
    say("Installing raven (editable) into %s with %s ..." % (VENV, "uv" if uv else "pip"))
    if uv:
        if not python.exists():
            subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(VENV)], check=True)
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python), "-e", str(ROOT)], check=True
        )
    else:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-e",
                str(ROOT),
            ],
            check=True,
        )
    return str(python)


# ---- 3. the app ----------------------------------------------------------------------------------


def run_app(dsn: str) -> Optional[List[Dict[str, Any]]]:
    """Run the example app; return what it says it sent, or None if it failed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    env["SENTRY_DSN"] = dsn
    say("\nRunning the example app (%s):" % APP.relative_to(ROOT))
    done = subprocess.run(
        [sys.executable, str(APP)], env=env, stdout=subprocess.PIPE, text=True, timeout=120
    )
    sent = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for line in done.stdout.splitlines():
        if not line.startswith("{"):
            say(line)  # e.g. the client's delivery report
    if done.returncode != 0:
        say("\nThe app failed (exit %d)." % done.returncode)
        return None
    return sent


# ---- 4. what the server stored -------------------------------------------------------------------


def level_name(level: Any) -> str:
    return logging.getLevelName(level).lower() if isinstance(level, int) else str(level)


def exception_values(event: Dict[str, Any]) -> List[Dict[str, Any]]:
    exception = event.get("exception") or {}
    values = exception.get("values", []) if isinstance(exception, dict) else exception
    return [v for v in values if isinstance(v, dict)]


def all_frames(event: Dict[str, Any]) -> List[Dict[str, Any]]:
    frames: List[Dict[str, Any]] = []
    for value in exception_values(event):
        frames += (value.get("stacktrace") or {}).get("frames") or []
    frames += (event.get("stacktrace") or {}).get("frames") or []
    return frames


def shorten(text: str, width: int = 96) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def describe(number: int, kind: str, summary: Dict[str, Any]) -> None:
    event = summary["data"]
    values = exception_values(event)
    frames = all_frames(event)
    crumbs = event.get("breadcrumbs") or []
    crumbs = crumbs.get("values", []) if isinstance(crumbs, dict) else crumbs
    culprit = event.get("culprit") or event.get("transaction") or summary["culprit"]
    if not culprit and frames:  # what Sentry shows when the client sent none
        culprit = "%s in %s" % (frames[-1].get("module"), frames[-1].get("function"))

    say("  %d. %s   [%s]" % (number, summary["title"], kind))
    logentry = event.get("logentry") or {}
    message = logentry.get("formatted") or logentry.get("message") or event.get("message") or "-"
    say("     message:     %s" % shorten(str(message)))
    say("     exception:   %s" % (" -> ".join(v.get("type", "?") for v in values) or "-"))
    request = event.get("request") or {}
    if request.get("url"):
        query = request.get("query_string")
        say(
            "     request:     %s %s%s"
            % (request.get("method", "?"), request["url"], "?" + query if query else "")
        )
    say(
        "     level: %s   culprit: %s"
        % (level_name(event.get("level")), culprit or event.get("logger") or "-")
    )
    say(
        "     breadcrumbs: %d   frames: %d, with locals: %d"
        % (len(crumbs), len(frames), sum(1 for f in frames if f.get("vars")))
    )
    for crumb in crumbs[-5:]:
        say(
            "       crumb: %-7s %s: %s"
            % (crumb.get("level"), crumb.get("category"), shorten(str(crumb.get("message")), 70))
        )
    if frames and frames[-1].get("vars"):
        local_vars = ", ".join("%s=%s" % kv for kv in frames[-1]["vars"].items())
        say("       locals in %s(): %s" % (frames[-1].get("function"), shorten(local_vars, 80)))


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the server running to browse it (prints how to stop it)",
    )
    args = parser.parse_args(argv)

    if not running_this_raven():
        if os.environ.get(_REEXEC):
            say("demo: %s still does not import raven from %s/src" % (sys.executable, ROOT))
            return 2
        python = ensure_venv()
        os.environ[_REEXEC] = "1"
        os.execv(python, [python, str(Path(__file__).resolve()), *argv])

    sys.path.insert(0, str(ROOT / "tests"))
    from servers.bugsink import Bugsink, BugsinkError

    say("Starting Bugsink on 127.0.0.1 ...")
    server = Bugsink(keep_state=args.keep, detach=args.keep)
    try:
        server.start()
    except BugsinkError as exc:
        say("demo: %s" % exc)
        return 1
    try:
        sent = run_app(server.dsn)
        if sent is None:
            return 1
        [s["event_id"] for s in sent if s.get("event_id")]
        try:
            server.wait_for_events(len(sent), timeout=10)
        except AssertionError:
            pass  # reported below, event by event
        summaries = {s["event_id"]: s for s in server.summaries()}
        kinds = {s["event_id"].replace("-", ""): s["kind"] for s in sent if s.get("event_id")}

        say("\nBugsink stored %d event(s); the app sent %d:\n" % (len(summaries), len(sent)))
        for number, summary in enumerate(summaries.values(), 1):
            describe(number, kinds.get(summary["event_id"], "?"), summary)
        missing = [
            s
            for s in sent
            if not s.get("event_id") or s["event_id"].replace("-", "") not in summaries
        ]
        for item in missing:
            say("  MISSING: %s (event id %s)" % (item["kind"], item.get("event_id")))

        say("\nSee them in a browser: %s/  (log in as admin / admin)" % server.url)
        if args.keep:
            say(
                "The server keeps running as pid %s (state in %s); stop it with: kill %s"
                % (server.pid, server.state_dir, server.pid)
            )
        else:
            say("(The server stops now; run with --keep to browse it.)")
        if missing or len(summaries) < len(sent):
            server.keep_state = True  # keep the log for a post-mortem
            say(
                "\nFAILED: the server stored fewer events than the app sent; log: %s"
                % server.log_path
            )
            say(server.log_tail(20))
            return 1
        return 0
    finally:
        if not args.keep:
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
