#!/usr/bin/env python3
"""Side-by-side benchmark: raven 6.10 vs sentry-sdk vs ours, in one run.

Creates (or reuses) three venvs under ``bench/.venvs/`` with ``uv``:

* ``raven``: raven==6.10.0 from PyPI
* ``sdk``:   sentry-sdk==2.75.0 from PyPI
* ``ours``:  this repository, re-installed on every run

then runs each workload script in ``bench/workloads/`` once per venv, in a
subprocess that prints one JSON object, and prints a single table with the
absolute numbers, ours/raven and ours/sdk ratios and the targets.

    python bench/run.py [--quick] [--only S1,S2] [--json out.json] [--markdown [FILE]]

Progress goes to stderr; the table goes to stdout.  See bench/README.md.

S5 (delivery storm) also runs the loopback sink of the test suite
(``tests/servers/sink.py``) in this process, one per variant, and counts what
it received.
"""
import argparse
import collections
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKLOADS = BENCH / "workloads"
VENVS = BENCH / ".venvs"

# name -> (column title, API flavor, requirement, reinstall every run)
CLIENTS = {
    "raven": ("raven 6.10", "raven", "raven==6.10.0", False),
    "sdk": ("sentry-sdk 2.75", "sdk", "sentry-sdk==2.75.0", False),
    "ours": ("ours", "raven", str(REPO), True),
}

# workload -> script and arguments, full and --quick.  "rounds" (S4 only) is
# used here: that many no-client/client process pairs, interleaved, best kept,
# because timings of identical code differ by up to ~10-20% between processes.
PLANS = {
    "S1": ("s1_capture.py", {"iterations": 150, "repeat": 3}, {"iterations": 30, "repeat": 2}),
    "S2": ("s2_message.py", {"iterations": 3000, "repeat": 5}, {"iterations": 500, "repeat": 3}),
    "S4": (
        "s4_logging.py",
        {"iterations": 200_000, "info-iterations": 50_000, "repeat": 5, "rounds": 3},
        {"iterations": 100_000, "info-iterations": 20_000, "repeat": 3, "rounds": 2},
    ),
    "S5": (
        "s5_storm.py",
        {"iterations": 5000, "variants": "up,down5,ratelimit3"},
        {"iterations": 1000, "variants": "up,down5,ratelimit3"},
    ),
    "S7": ("s7_import.py", {"iterations": 20}, {"iterations": 5}),
}

SUBPROCESS_TIMEOUT = 300


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def child_env():
    """Environment for every child: no leaking paths, DSNs or bytecode opt-outs."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("SENTRY_") or key in (
            "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV",
            "PYTHONSTARTUP", "PYTHONWARNINGS", "PYTHONDEVMODE",
        ):
            del env[key]
    return env


def last_line(text, limit=300):
    """The most telling line of a failure: the last one that is not a hint."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("hint:")] or lines
    return (lines[-1] if lines else "no output")[:limit]


# --------------------------------------------------------------------- venvs

def run_quiet(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(last_line(proc.stderr or proc.stdout))
    return proc


def project_name():
    try:
        import tomllib

        with open(REPO / "pyproject.toml", "rb") as f:
            return tomllib.load(f)["project"]["name"]
    except Exception:
        return None


def ensure_venv(name):
    """Create/reuse the venv for ``name``; return its python or raise."""
    _, _, requirement, always = CLIENTS[name]
    venv = VENVS / name
    python = venv / "bin" / "python"
    marker = venv / ".bench-requirement"
    uv = shutil.which("uv")
    if not python.exists():
        log("[venv] creating %s" % venv.relative_to(BENCH))
        if uv:
            run_quiet([uv, "venv", "-q", "--python", sys.executable, str(venv)])
        else:
            run_quiet([sys.executable, "-m", "venv", str(venv)])
    if not always and marker.exists() and marker.read_text() == requirement:
        log("[venv] %s: reusing (%s)" % (name, requirement))
        return python
    if always and not (REPO / "pyproject.toml").exists():
        raise RuntimeError("no pyproject.toml in the repository yet")
    log("[venv] %s: installing %s" % (name, "the repository" if always else requirement))
    if uv:
        cmd = [uv, "pip", "install", "-q", "--python", str(python), "--compile-bytecode"]
        if always:
            package = project_name()
            cmd += ["--reinstall-package", package] if package else ["--reinstall"]
    else:
        cmd = [str(python), "-m", "pip", "install", "-q"]
        if always:
            cmd += ["--force-reinstall", "--no-deps"]
    marker.unlink(missing_ok=True)
    run_quiet(cmd + [requirement], env=child_env(), cwd=BENCH)
    marker.write_text(requirement)
    return python


# ------------------------------------------------------------------ workloads

def run_workload(python, script, flavor, options, cwd, extra=()):
    cmd = [str(python), str(WORKLOADS / script), "--client", flavor]
    for key, value in options.items():
        cmd += ["--" + key, str(value)]
    cmd += list(extra)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=child_env(), cwd=cwd,
            timeout=SUBPROCESS_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return "error: timed out after %ds" % SUBPROCESS_TIMEOUT
    if proc.returncode != 0:
        return "error: " + last_line(proc.stderr or proc.stdout)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return "error: no JSON on stdout: " + last_line(proc.stdout)


def headline(workload, result):
    if isinstance(result, str):
        return result
    if workload == "S1":
        return "%.2f ms/event" % result["ms_per_event"]
    if workload == "S2":
        return "%.1f us/call" % result["us_per_call"]
    if workload == "S4":
        return "filtered %.0f ns, INFO %.0f ns" % (result["filtered_ns"], result["info_ns"])
    if workload == "S5":
        parts = []
        for variant, res in result["variants"].items():
            if isinstance(res, str):
                parts.append("%s %s" % (variant, res))
            else:
                parts.append("%s %d/%d delivered, %.0f µs/event" % (
                    variant, res["delivered"], res["iterations"], res["wall_us_per_event"]))
        return "; ".join(parts)
    return "+%.1f ms over bare, %.1f MiB" % (result["over_bare_ms_best"], result["client_rss_mib"])


def run_s4(python, script, flavor, options, cwd):
    """Interleave no-client and client processes; keep each variant's best."""
    options = dict(options)
    rounds = options.pop("rounds", 1)
    runs = {"none": [], "client": []}
    for _ in range(rounds):
        for variant, extra in (("none", ["--no-client"]), ("client", [])):
            result = run_workload(python, script, flavor, options, cwd, extra)
            if isinstance(result, str):
                return result
            runs[variant].append(result)
    combined = {}
    for variant, results in runs.items():
        best = dict(results[0])
        for key in ("filtered_ns", "info_ns"):
            best[key] = min(r[key] for r in results)
            best[key + "_all"] = [r[key] for r in results]
        combined[variant] = best
    combined["filtered_ns"] = combined["client"]["filtered_ns"]
    combined["info_ns"] = combined["client"]["info_ns"]
    return combined


# S5: the sink runs here, in the driver; the client storms it from a subprocess.
S5_VARIANTS = {
    "up": "sink up",
    "down5": "sink not listening for the first 5 s",
    "ratelimit3": "429 + Retry-After: 2 for the first 3 s, then 200",
}
S5_DOWN_S = 5.0
S5_LIMIT_S = 3.0
S5_RETRY_AFTER = "2"
S5_FLUSH_TIMEOUT = 60  # what the workload passes to close()/flush()
S5_READY_TIMEOUT = 60  # interpreter start + import + client init
S5_TIMEOUT = 180  # after "go": storm + flush + atexit hooks; then the pid is killed
S5_GRACE = 1.0  # after the process is gone, for requests still in flight


def load_sink():
    """The test suite's loopback sink (``tests/servers/sink.py``, stdlib only)."""
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from servers.sink import Sink

    return Sink


def wait_for_ready(out, proc, timeout):
    """Poll the child's stdout file for its ``{"ready": ...}`` line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out.seek(0)
        if b'"ready"' in out.read():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


def json_lines(text):
    """Every JSON object printed on stdout, merged in order (raven 6.10 prints plain text
    at exit too)."""
    merged, other = {}, 0
    for line in text.splitlines():
        line = line.strip()
        try:
            item = json.loads(line) if line.startswith("{") else None
        except ValueError:
            item = None
        if isinstance(item, dict):
            merged.update(item)
        elif line:
            other += 1
    return merged, other


def run_s5_variant(python, script, flavor, options, cwd, variant):
    """One client process against a fresh sink in one variant; what the sink saw."""
    Sink = load_sink()
    sink = Sink()
    proc = None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            if variant == "down5":
                sink.start_later(3600)  # port reserved, connections refused until "go"
            else:
                sink.start()
            cmd = [str(python), str(WORKLOADS / script), "--client", flavor,
                   "--dsn", sink.dsn(secret="secret"), "--variant", variant,
                   "--flush-timeout", str(S5_FLUSH_TIMEOUT)]
            for key, val in options.items():
                cmd += ["--" + key, str(val)]
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=err,
                                    env=child_env(), cwd=cwd)
            if not wait_for_ready(out, proc, S5_READY_TIMEOUT):
                proc.kill()
                proc.wait()
                err.seek(0)
                return "error: [%s] no ready line: %s" % (
                    variant, last_line(err.read().decode("utf-8", "replace")))
            # the variant's clock starts with the storm
            if variant == "down5":
                sink.stop()
                sink.start_later(S5_DOWN_S)
            elif variant == "ratelimit3":
                sink.respond(429, headers={"Retry-After": S5_RETRY_AFTER}, duration=S5_LIMIT_S)
            go = time.time()
            proc.stdin.write(b"go\n")
            proc.stdin.close()
            killed = None
            try:
                proc.wait(timeout=S5_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()  # hung (at exit?): the pid is ours, bounded wait is over
                proc.wait()
                killed = S5_TIMEOUT
            process_s = time.time() - go
            time.sleep(S5_GRACE)
            requests = sink.requests
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            sink.stop()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")

    result, other_lines = json_lines(stdout)
    if "workload" not in result:
        why = "killed after %ds" % killed if killed else "exit code %s" % proc.returncode
        return "error: [%s] no result (%s): %s" % (variant, why, last_line(stderr or stdout))
    if proc.returncode not in (0, None) and not killed:
        result["exit_code"] = proc.returncode
    result.pop("ready", None)
    result["killed_after_s"] = killed
    result["process_after_go_s"] = process_s
    result["stdout_text_lines"] = other_lines
    result["stderr_lines"] = len(stderr.splitlines())
    n = result["iterations"]

    accepted = [r for r in requests if 200 <= r.status < 300]
    ids = [e.get("event_id") for r in accepted for e in r.events if isinstance(e, dict)]
    result["requests"] = len(requests)
    result["connections"] = len({r.peer for r in requests})
    bodies = [len(r.raw) for r in requests if r.events]
    result["body_bytes_mean"] = sum(bodies) / len(bodies) if bodies else None
    result["statuses"] = {str(k): v for k, v in sorted(
        collections.Counter(r.status for r in requests).items())}
    result["delivered"] = len(set(ids) - {None})
    result["delivered_twice"] = len(ids) - len(set(ids))
    reports = [rep for r in accepted for rep in r.client_reports]
    by_reason = collections.Counter()
    for rep in reports:
        for item in rep.get("discarded_events") or ():
            if item.get("category") in ("error", "default"):
                by_reason[item.get("reason")] += int(item.get("quantity") or 0)
    result["client_report_drops"] = dict(by_reason)
    stats = result.get("stats")
    if isinstance(stats, dict):  # ours: what the client says it dropped, and why
        dropped = stats.get("dropped")
        counted = sum(dropped.values()) if isinstance(dropped, dict) else int(dropped or 0)
    elif flavor == "sdk":  # sentry-sdk: only what reached the server in client reports
        counted = sum(by_reason.values())
    else:  # raven 6.10 logs what it drops, it counts nothing
        counted = 0
    result["counted_drops"] = counted
    result["delivered_plus_counted"] = result["delivered"] + counted
    result["unaccounted"] = n - result["delivered"] - counted
    if variant == "ratelimit3":
        end = go + S5_LIMIT_S
        limited = [r.time for r in requests if r.status == 429]
        first = min(limited) if limited else end
        result["window_requests"] = sum(1 for r in requests if first < r.time < end)
        result["window_429"] = len(limited)
    return result


def run_s5(python, script, flavor, options, cwd):
    options = dict(options)
    variants = [v for v in options.pop("variants").split(",") if v]
    out = {"workload": "S5", "iterations": options["iterations"], "variants": {}}
    for variant in variants:
        if variant not in S5_VARIANTS:
            raise ValueError("unknown S5 variant %r" % variant)
        try:
            out["variants"][variant] = run_s5_variant(python, script, flavor, options, cwd,
                                                      variant)
        except Exception as exc:  # the harness keeps going; the table shows the error
            out["variants"][variant] = "error: [%s] %s: %s" % (variant, type(exc).__name__, exc)
    if all(isinstance(v, str) for v in out["variants"].values()):
        return next(iter(out["variants"].values()), "error: no S5 variant")
    return out


def run_all(selected, quick, pythons, cwd):
    results = {name: {} for name in CLIENTS}
    for workload in selected:
        script, full, small = PLANS[workload]
        options = small if quick else full
        for name, (title, flavor, _, _) in CLIENTS.items():
            python = pythons[name]
            if isinstance(python, str):  # venv error
                results[name][workload] = python
                continue
            started = time.perf_counter()
            if workload == "S4":
                result = run_s4(python, script, flavor, options, cwd)
            elif workload == "S5":
                result = run_s5(python, script, flavor, options, cwd)
            else:
                result = run_workload(python, script, flavor, options, cwd)
            results[name][workload] = result
            log("[%s] %-16s %s  (%.1f s)" % (
                workload, title, headline(workload, result), time.perf_counter() - started))
    return results


# ---------------------------------------------------------------------- table

def value(results, name, workload, *path):
    """Look up a number in one client's results, or return the error string."""
    node = results[name].get(workload)
    if node is None:
        return None
    if isinstance(node, str):
        return node
    for key in path:
        node = node[key]
    return node


def s4_ratio(results, name, kind):
    client = value(results, name, "S4", "client", kind)
    none = value(results, name, "S4", "none", kind)
    if isinstance(client, str) or client is None:
        return client
    return client / none


def s5(results, name, variant, key):
    """One number of one S5 variant, or that variant's error string."""
    node = value(results, name, "S5")
    if node is None or isinstance(node, str):
        return node
    node = node["variants"].get(variant)
    if node is None or isinstance(node, str):
        return node
    return node[key]


def s5_events(results):
    """How many events ours captured in S5 (the target of "all delivered")."""
    return value(results, "ours", "S5", "iterations")


# Each row: label, unit, workload, getter(results, name), target.
# target: ("vs", ((ref, max_ratio), ...)) compares ours to a reference client;
#         ("abs", max_ratio) compares ours' own value (a ratio, shown with ×);
#         ("max", max_value) compares ours' own value (a count);
#         ("all", count_getter(results)) wants ours' value to equal that count.
ROWS = [
    ("S1 exception capture + encode, CPU per event", "ms", "S1",
     lambda r, n: value(r, n, "S1", "ms_per_event"), ("vs", (("raven", 0.10), ("sdk", 0.35)))),
    ("S1 wire body of one event", "bytes", "S1",
     lambda r, n: value(r, n, "S1", "check", "body_bytes"), None),
    ("S2 captureMessage with tags + extra", "µs", "S2",
     lambda r, n: value(r, n, "S2", "us_per_call"), ("vs", (("raven", 0.25),))),
    ("S4a filtered logger.info, no client", "ns", "S4",
     lambda r, n: value(r, n, "S4", "none", "filtered_ns"), None),
    ("S4b filtered logger.info, client", "ns", "S4",
     lambda r, n: value(r, n, "S4", "client", "filtered_ns"), None),
    ("S4 filtered call, client vs none (b/a)", "×", "S4",
     lambda r, n: s4_ratio(r, n, "filtered_ns"), ("abs", 1.1)),
    ("S4c INFO logger.info, no handler, no client", "ns", "S4",
     lambda r, n: value(r, n, "S4", "none", "info_ns"), None),
    ("S4d INFO logger.info, no handler, client", "ns", "S4",
     lambda r, n: value(r, n, "S4", "client", "info_ns"), None),
    ("S4 INFO call, client vs none (d/c)", "×", "S4",
     lambda r, n: s4_ratio(r, n, "info_ns"), ("abs", 1.3)),
    ("S5 delivered, sink up", "events", "S5",
     lambda r, n: s5(r, n, "up", "delivered"), ("all", s5_events)),
    ("S5 delivered, sink down first 5 s", "events", "S5",
     lambda r, n: s5(r, n, "down5", "delivered"), ("all", s5_events)),
    ("S5 delivered, 429 + Retry-After: 2 first 3 s", "events", "S5",
     lambda r, n: s5(r, n, "ratelimit3", "delivered"), None),
    ("S5 requests sent inside the 429 window", "requests", "S5",
     lambda r, n: s5(r, n, "ratelimit3", "window_requests"), ("max", 0)),
    ("S5 delivered + counted drops, 429 variant", "events", "S5",
     lambda r, n: s5(r, n, "ratelimit3", "delivered_plus_counted"), ("all", s5_events)),
    ("S5 app-thread wall per event, sink up", "µs", "S5",
     lambda r, n: s5(r, n, "up", "wall_us_per_event"), ("vs", (("raven", 0.25),))),
    ("S5 app-thread wall per event, sink down 5 s", "µs", "S5",
     lambda r, n: s5(r, n, "down5", "wall_us_per_event"), ("vs", (("raven", 0.25),))),
    ("S5 app-thread wall per event, 429 first 3 s", "µs", "S5",
     lambda r, n: s5(r, n, "ratelimit3", "wall_us_per_event"), ("vs", (("raven", 0.25),))),
    ("S5 app-thread CPU per event, sink up", "µs", "S5",
     lambda r, n: s5(r, n, "up", "cpu_us_per_event"), None),
    ("S5 loop end to exit (flush + atexit), sink up", "s", "S5",
     lambda r, n: s5(r, n, "up", "exit_s"), None),
    ("S5 loop end to exit (flush + atexit), down 5 s", "s", "S5",
     lambda r, n: s5(r, n, "down5", "exit_s"), None),
    ("S7 import + init over bare python (best)", "ms", "S7",
     lambda r, n: value(r, n, "S7", "over_bare_ms_best"), ("vs", (("raven", 0.5),))),
    ("S7 import + init over bare python (median)", "ms", "S7",
     lambda r, n: value(r, n, "S7", "over_bare_ms_median"), None),
    ("S7 bare `python -c pass` (best)", "ms", "S7",
     lambda r, n: value(r, n, "S7", "bare_ms_best"), None),
    ("S7 peak RSS of import + init", "MiB", "S7",
     lambda r, n: value(r, n, "S7", "client_rss_mib"), ("vs", (("raven", 1.0),))),
]

PRECISION = {"ms": 2, "µs": 1, "ns": 0, "×": 2, "MiB": 1, "bytes": 0, "s": 1, "events": 0,
             "requests": 0}
NO_RATIO = {"×", "events", "requests", "s"}  # no ours/raven quotient for these


def fmt(x, unit):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x if len(x) <= 48 else x[:45] + "..."
    text = "%.*f" % (PRECISION[unit], x)
    return text + "×" if unit == "×" else text


def build_rows(results, selected):
    rows = []
    for label, unit, workload, get, target in ROWS:
        if workload not in selected:
            continue
        values = {}
        for name in CLIENTS:
            try:
                values[name] = get(results, name)
            except (KeyError, TypeError, ZeroDivisionError) as exc:
                values[name] = "error: %r" % exc
        ours = values["ours"]
        ratios = {}
        for ref in ("raven", "sdk"):
            ok = isinstance(ours, (int, float)) and isinstance(values[ref], (int, float))
            ok = ok and unit not in NO_RATIO and values[ref]
            ratios[ref] = ours / values[ref] if ok else None
        target_text, status = "", ""
        if target:
            kind, spec = target
            number = isinstance(ours, (int, float))
            if kind == "abs":
                target_text = "≤ %.1f×" % spec
                checks = [ours <= spec] if number else [None]
            elif kind == "max":
                target_text = "≤ %g" % spec
                checks = [ours <= spec] if number else [None]
            elif kind == "all":
                try:
                    expected = spec(results)
                except (KeyError, TypeError):
                    expected = None
                ok = number and isinstance(expected, int)
                target_text = "= %d (all)" % expected if isinstance(expected, int) else "all"
                checks = [ours == expected] if ok else [None]
            else:
                target_text = ", ".join("≤ %.2f× %s" % (lim, ref) for ref, lim in spec)
                checks = [
                    (ratios[ref] <= lim) if ratios[ref] is not None else None
                    for ref, lim in spec
                ]
            if None in checks:
                status = "ERROR" if isinstance(ours, str) else "n/a"
            else:
                status = "PASS" if all(checks) else "FAIL"
        rows.append({
            "measure": label, "unit": unit, "values": values, "ours_vs": ratios,
            "target": target_text, "result": status,
        })
    return rows


def table_cells(rows):
    header = ["measure", "unit"] + [CLIENTS[n][0] for n in CLIENTS] + [
        "ours/raven", "ours/sdk", "target (ours)", "result"]
    body = []
    for row in rows:
        cells = [row["measure"], row["unit"]]
        cells += [fmt(row["values"][n], row["unit"]) for n in CLIENTS]
        cells += [fmt(row["ours_vs"][ref], "×") if row["ours_vs"][ref] is not None else ""
                  for ref in ("raven", "sdk")]
        cells += [row["target"], row["result"]]
        body.append(cells)
    return header, body


def render_text(rows):
    header, body = table_cells(rows)
    widths = [max(len(str(line[i])) for line in [header] + body) for i in range(len(header))]
    numeric = set(range(2, len(header) - 2))

    def line(cells):
        return "  ".join(
            str(c).rjust(w) if i in numeric else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(cells) for cells in body]
    return "\n".join(out)


def render_markdown(rows):
    header, body = table_cells(rows)
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i < 2 or i >= len(header) - 2 else "---:"
                          for i in range(len(header))) + "|"]
    for cells in body:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def failures(result):
    """Error strings of a workload's result: the whole of it, or some S5 variants."""
    if isinstance(result, str):
        return [result]
    if isinstance(result, dict) and isinstance(result.get("variants"), dict):
        return [v for v in result["variants"].values() if isinstance(v, str)]
    return []


def error_notes(results, selected):
    """Full text of every failure, once per distinct message."""
    seen = {}
    for name, (title, *_rest) in CLIENTS.items():
        for workload in selected:
            for result in failures(results[name].get(workload)):
                seen.setdefault((title, result), []).append(workload)
    return ["%s (%s): %s" % (title, ", ".join(ws), msg[len("error: "):] if msg.startswith(
        "error: ") else msg) for (title, msg), ws in seen.items()]


def fairness_notes(results, selected):
    """Flag clients whose events lack what the workload is supposed to capture."""
    notes = []
    for name, (title, *_rest) in CLIENTS.items():
        s1 = results[name].get("S1")
        if "S1" in selected and isinstance(s1, dict):
            check = s1["check"]
            if check["recurse_frames_with_10_vars"] < 20 or not check["custom_repr_seen"]:
                notes.append("S1 %s: event lacks locals: %s" % (title, check))
        s2 = results[name].get("S2")
        if "S2" in selected and isinstance(s2, dict) and not all(
                v for k, v in s2["check"].items() if k.endswith("_ok")):
            notes.append("S2 %s: event incomplete: %s" % (title, s2["check"]))
        s4 = results[name].get("S4")
        if "S4" in selected and isinstance(s4, dict):
            for variant in ("none", "client"):
                if s4[variant]["handlers"]:
                    notes.append("S4 %s: %s process has logging handlers" % (title, variant))
            patched = s4["none"].get("logging_patched_by_import")
            if patched:
                notes.append("S4 %s: importing the library patches logging (%s), so the "
                             "no-client baseline already pays for it" % (title, ", ".join(patched)))
        s5 = results[name].get("S5")
        if "S5" in selected and isinstance(s5, dict):
            for variant, res in s5["variants"].items():
                if not isinstance(res, dict):
                    continue
                if res.get("killed_after_s"):
                    notes.append("S5 %s %s: the process did not exit; killed after %d s"
                                 % (title, variant, res["killed_after_s"]))
                if res["captured_ids"] < res["iterations"]:
                    notes.append("S5 %s %s: only %d of %d captures returned an event id"
                                 % (title, variant, res["captured_ids"], res["iterations"]))
                if res.get("unaccounted", 0) < 0:
                    notes.append("S5 %s %s: delivered + counted drops exceeds the events "
                                 "captured (%d + %d > %d): drops counted twice?" % (
                                     title, variant, res["delivered"], res["counted_drops"],
                                     res["iterations"]))
    return notes


# ----------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (CI smoke)")
    parser.add_argument("--only", help="comma-separated workloads, e.g. S1,S4")
    parser.add_argument("--json", metavar="FILE", help="write all raw results here")
    parser.add_argument("--markdown", nargs="?", const="-", metavar="FILE",
                        help="also write the table as Markdown (stdout if no FILE)")
    args = parser.parse_args(argv)

    selected = list(PLANS)
    if args.only:
        selected = [w.strip().upper() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in selected if w not in PLANS]
        if unknown:
            parser.error("unknown workload(s): %s (choose from %s)"
                         % (", ".join(unknown), ", ".join(PLANS)))

    started = time.perf_counter()
    VENVS.mkdir(exist_ok=True)
    pythons = {}
    for name in CLIENTS:
        try:
            pythons[name] = ensure_venv(name)
        except Exception as exc:
            pythons[name] = "error: install failed: %s" % exc
            log("[venv] %s: %s" % (name, pythons[name]))

    with tempfile.TemporaryDirectory(prefix="bench-cwd-") as cwd:
        results = run_all(selected, args.quick, pythons, cwd)

    rows = build_rows(results, selected)
    notes = fairness_notes(results, selected)
    errors = error_notes(results, selected)
    elapsed = time.perf_counter() - started
    mode = "quick" if args.quick else "full"
    title = "raven 6.10 vs sentry-sdk 2.75 vs ours (%s run, Python %s, %s, %d CPUs, %.0f s)" % (
        mode, platform.python_version(), platform.machine(), os.cpu_count() or 0, elapsed)

    print(title)
    print()
    print(render_text(rows))
    for error in errors:
        print("ERROR: " + error)
    for note in notes:
        print("WARNING: " + note)
    if args.markdown:
        markdown = "**%s**\n\n%s\n" % (title, render_markdown(rows))
        extra = ["> ERROR: " + e for e in errors] + ["> WARNING: " + n for n in notes]
        if extra:
            markdown += "\n" + "\n>\n".join(extra) + "\n"
        if args.markdown == "-":
            print()
            print(markdown, end="")
        else:
            Path(args.markdown).write_text(markdown, encoding="utf-8")
            log("[out] Markdown table written to %s" % args.markdown)
    if args.json:
        payload = {
            "title": title, "mode": mode, "workloads": selected,
            "python": platform.python_version(), "elapsed_s": elapsed,
            "clients": {n: {"title": t, "requirement": r if n != "ours" else "repository"}
                        for n, (t, _, r, _) in CLIENTS.items()},
            "rows": rows, "errors": errors, "notes": notes, "raw": results,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
        log("[out] JSON written to %s" % args.json)

    # The harness itself is broken if a reference client failed.
    broken = any(failures(results[n].get(w)) for n in ("raven", "sdk") for w in selected)
    return 2 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
