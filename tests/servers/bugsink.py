"""A real Bugsink (a Sentry-compatible error tracker) on 127.0.0.1, for e2e tests and the demo.

    with Bugsink() as server:
        client = raven.Client(server.dsn)
        ...
        [event] = server.events()

What :meth:`Bugsink.start` does:

1. installs ``bugsink==2.6.1`` into its own venv if it is not there yet (``uv`` when available, else
   ``python -m venv`` + pip) at ``$RAVEN_BUGSINK_VENV`` or ``<repo>/.test-state/bugsink-venv``;
2. writes a config into the state dir: SQLite, synchronous ("eager") ingestion so that an event is
   stored by the time the client has its HTTP 200, quotas raised so load tests are not answered 429;
3. migrates the databases; the first migration per venv is kept as a template, so later starts copy
   it instead of migrating again (~10 s saved);
4. creates the user ``admin`` (password ``admin``), a team and the project;
5. starts gunicorn in its own process group on a port picked by binding port 0 (the bound socket is
   handed to gunicorn, so no other process can take the port in between), and waits for
   ``/health/ready``.

Stored events are read straight from the SQLite database (read-only), which works while the server
runs and costs milliseconds. Bugsink stores each event's JSON as it was received (decoded, not
normalised), so tests see exactly what the client sent.

No pytest here: the fixtures in ``tests/conftest.py`` and ``scripts/demo.py`` both use this module.
Linux/macOS only (process groups, ``fcntl``).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

__all__ = [
    "BUGSINK_VERSION",
    "Bugsink",
    "BugsinkError",
    "BugsinkInstallError",
    "BugsinkProject",
    "BugsinkStartError",
    "ensure_installed",
]

# 2.6.2 needs a certifi release that the package mirror may not have yet.
BUGSINK_VERSION = "2.6.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO_ROOT / ".test-state" / "bugsink-venv"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
_INSTALL_TIMEOUT = 600  # seconds; pip without uv on a slow mirror takes ~2 min
_MANAGE_TIMEOUT = 300


class BugsinkError(RuntimeError):
    """Bugsink could not be set up or started; the message says why (with the log's tail)."""


class BugsinkInstallError(BugsinkError):
    """Bugsink could not be installed (typically: no network to the package index)."""


class BugsinkStartError(BugsinkError):
    """Bugsink is installed but did not come up."""


def _log(message: str) -> None:
    print("bugsink: " + message, file=sys.stderr, flush=True)


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(args: Sequence[str], *, error: type, what: str, timeout: float, **kwargs: Any) -> str:
    """Run a command to completion; return its output, or raise ``error`` with the output's tail."""
    try:
        done = subprocess.run(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:  # run() has killed and reaped the child
        output = exc.output or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        raise error("%s timed out after %d s:\n%s" % (what, timeout, _tail(output)))
    except OSError as exc:
        raise error("%s could not run %s: %s" % (what, args[0], exc))
    if done.returncode != 0:
        raise error("%s failed (exit %d):\n%s" % (what, done.returncode, _tail(done.stdout)))
    return done.stdout


# ---- installation ----------------------------------------------------------------------------


def default_venv() -> Path:
    return Path(os.environ.get("RAVEN_BUGSINK_VENV") or DEFAULT_VENV).absolute()


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _base_python() -> str:
    """An interpreter that Bugsink supports (>= 3.10) to build its venv from."""
    explicit = os.environ.get("RAVEN_BUGSINK_PYTHON")
    if explicit:
        return explicit
    if sys.version_info >= (3, 10):
        return sys.executable
    for name in ("python3.13", "python3.12", "python3.11", "python3.10"):
        found = shutil.which(name)
        if found:
            return found
    raise BugsinkInstallError(
        "Bugsink needs Python >= 3.10 and this is %s; put python3.10+ on PATH or set "
        "RAVEN_BUGSINK_PYTHON" % sys.version.split()[0]
    )


def _find_uv() -> Optional[str]:
    explicit = os.environ.get("UV")  # set by `uv run`, and by scripts/test
    if explicit and os.access(explicit, os.X_OK):
        return explicit
    beside = Path(sys.executable).parent / "uv"  # installed into the running venv, not on PATH
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("uv")


def _installed_version(python: Path) -> Optional[str]:
    if not python.exists():
        return None
    try:
        done = subprocess.run(
            [
                str(python),
                "-I",
                "-c",
                "import importlib.metadata as m; print(m.version('bugsink'))",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_installed(venv: Optional[Path] = None, version: str = BUGSINK_VERSION) -> Path:
    """Install ``bugsink==version`` into ``venv`` unless it is already there; return its python."""
    venv = Path(venv) if venv is not None else default_venv()
    python = _venv_python(venv)
    if _installed_version(python) == version:
        return python
    with _locked(venv.parent / (venv.name + ".lock")):
        if _installed_version(python) == version:  # another process installed it meanwhile
            return python
        if venv.exists() and not python.exists() and (venv / "pyvenv.cfg").exists():
            shutil.rmtree(venv)  # a venv whose interpreter is gone: rebuild it
        started = time.monotonic()
        uv = _find_uv()
        requirement = "bugsink==%s" % version
        _log("installing %s into %s (%s) ..." % (requirement, venv, "uv" if uv else "pip"))
        base = _base_python()
        if uv:
            if not python.exists():
                _run(
                    [uv, "venv", "-q", "--python", base, str(venv)],
                    error=BugsinkInstallError,
                    what="uv venv",
                    timeout=_INSTALL_TIMEOUT,
                )
            _run(
                [uv, "pip", "install", "-q", "--python", str(python), requirement],
                error=BugsinkInstallError,
                what="uv pip install " + requirement,
                timeout=_INSTALL_TIMEOUT,
            )
        else:
            if not python.exists():
                _run(
                    [base, "-m", "venv", str(venv)],
                    error=BugsinkInstallError,
                    what="python -m venv",
                    timeout=_INSTALL_TIMEOUT,
                )
            _run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    requirement,
                ],
                error=BugsinkInstallError,
                what="pip install " + requirement,
                timeout=_INSTALL_TIMEOUT,
            )
        found = _installed_version(python)
        if found != version:
            raise BugsinkInstallError(
                "installed %s into %s, but the venv reports %r" % (requirement, venv, found)
            )
        _log("installed in %.1f s" % (time.monotonic() - started))
    return python


# ---- configuration and Django management -------------------------------------------------------

_CONFIG = """\
# Written by raven's tests/servers/bugsink.py for a throw-away test server; rewritten at each start.
from bugsink.settings.default import *  # noqa: F401,F403

SECRET_KEY = {secret!r}
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

DATABASES["default"]["NAME"] = {db!r}
DATABASES["default"]["TEST"]["NAME"] = {test_db!r}
DATABASES["snappea"]["NAME"] = {snappea_db!r}

# Digest each event inside the request that brings it: stored by the time the client has its 200.
SNAPPEA = {{"TASK_ALWAYS_EAGER": True, "WAKEUP_CALLS_DIR": {wakeup_dir!r}}}
EMAIL_BACKEND = "bugsink.email_backends.QuietConsoleEmailBackend"

_NO_LIMIT = 10 ** 9
BUGSINK = {{
    "BASE_URL": {base_url!r},  # used to build the DSNs
    "SINGLE_USER": True,
    "SINGLE_TEAM": True,
    "PHONEHOME": False,
    "INGEST_STORE_BASE_DIR": {ingest_dir!r},
    "VALIDATE_ON_DIGEST": {validate!r},
    # the stock quotas (a few thousand events per 5 minutes/hour) answer 429 during load tests
    "MAX_EVENTS_PER_PROJECT_PER_5_MINUTES": _NO_LIMIT,
    "MAX_EVENTS_PER_PROJECT_PER_HOUR": _NO_LIMIT,
    "MAX_EVENTS_PER_PROJECT_PER_MONTH": _NO_LIMIT,
    "MAX_EVENTS_PER_5_MINUTES": _NO_LIMIT,
    "MAX_EVENTS_PER_HOUR": _NO_LIMIT,
    "MAX_EVENTS_PER_MONTH": _NO_LIMIT,
}}
"""

# Run inside Bugsink's venv: admin user, team, and the named projects (idempotent). Prints JSON.
_PROVISION = """\
import json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from projects.models import Project, ProjectMembership, ProjectRole
from teams.models import Team, TeamMembership, TeamRole

User = get_user_model()
user = User.objects.filter(username=%(user)r).first()
if user is None:
    user = User.objects.create_superuser(
        username=%(user)r, email="admin@example.org", password=%(password)r)
team, _ = Team.objects.get_or_create(name="raven")
TeamMembership.objects.get_or_create(
    team=team, user=user, defaults={"role": TeamRole.ADMIN, "accepted": True})
out = {}
for slug in sys.argv[1:]:
    project = Project.objects.filter(slug=slug, is_deleted=False).first()
    if project is None:
        # the stock retention (10,000 events per project, then eviction) is too small for load tests
        project = Project.objects.create(
            team=team, name=slug, slug=slug, retention_max_event_count=10 ** 7)
    ProjectMembership.objects.get_or_create(
        project=project, user=user, defaults={"role": ProjectRole.ADMIN, "accepted": True})
    out[slug] = {"id": project.id, "dsn": project.dsn}
print(json.dumps(out))
""" % {"user": ADMIN_USER, "password": ADMIN_PASSWORD}

# Exec gunicorn with a parent-death signal (Linux): a test run killed hard leaves no server behind.
#: the project the start-up warm-up events go to, out of the tests' way
_WARMUP = "warmup"

_LAUNCHER = """\
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit("bugsink: the process that started the server is gone")
os.execv(sys.argv[2], sys.argv[2:])
"""


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy a SQLite database consistently (WAL included), replacing ``target``."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source.as_uri() + "?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(str(partial))
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, target)


def _title(type_: str, value: str) -> str:
    """The issue title as Bugsink shows it."""
    if not value:
        return type_
    return "%s: %s" % (type_, value.splitlines()[0])


# ---- the server ----------------------------------------------------------------------------------


class BugsinkProject:
    """One project on a running :class:`Bugsink`: its DSN and what it stored."""

    def __init__(self, server: Bugsink, slug: str, project_id: int, dsn: str) -> None:
        self.server = server
        self.slug = slug
        self.id = project_id
        self.dsn = dsn

    def events(self) -> List[Dict[str, Any]]:
        return self.server.events(project=self.slug)

    def issues(self) -> List[Dict[str, Any]]:
        return self.server.issues(project=self.slug)

    def __repr__(self) -> str:
        return "<BugsinkProject %s %s>" % (self.slug, self.dsn)


class Bugsink:
    """A Bugsink server on 127.0.0.1: :meth:`start` (or ``with``) it, :meth:`stop` it.

    Args:
        state_dir: where the config, the SQLite databases and ``server.log`` live. ``None`` makes a
            fresh directory under ``<repo>/.test-state/`` that :meth:`stop` removes again (unless
            ``keep_state``). An existing state dir is reused: databases and projects are kept.
        venv: the venv Bugsink is installed into (default ``$RAVEN_BUGSINK_VENV`` or
            ``<repo>/.test-state/bugsink-venv``).
        project: slug of the project whose DSN is :attr:`dsn`.
        workers: gunicorn sync workers.
        validate: Bugsink's ``VALIDATE_ON_DIGEST``: ``"none"``, ``"warn"`` (logs schema problems to
            ``server.log``) or ``"strict"`` (drops invalid events, still answering 200).
        detach: leave the server running when this process exits. By default it is stopped at
            exit, and on Linux also when this process dies without running its exit handlers.
    """

    def __init__(
        self,
        state_dir: Optional[os.PathLike] = None,
        *,
        venv: Optional[os.PathLike] = None,
        version: str = BUGSINK_VERSION,
        project: str = "test",
        workers: int = 2,
        validate: str = "none",
        ready_timeout: float = 60.0,
        keep_state: bool = False,
        detach: bool = False,
    ) -> None:
        if not _SLUG.match(project):
            raise ValueError("project slug must match %s, got %r" % (_SLUG.pattern, project))
        if validate not in ("none", "warn", "strict"):
            raise ValueError("validate must be none, warn or strict, got %r" % (validate,))
        self.venv = Path(venv).absolute() if venv is not None else default_venv()
        self.version = version
        self.project_slug = project
        self.workers = workers
        self.validate = validate
        self.ready_timeout = ready_timeout
        self.keep_state = keep_state
        self.detach = detach
        self._own_state_dir = state_dir is None
        self.state_dir: Optional[Path] = Path(state_dir).absolute() if state_dir else None
        self.port: Optional[int] = None
        self.project: Optional[BugsinkProject] = None
        self.projects: Dict[str, BugsinkProject] = {}
        self._proc: Optional[subprocess.Popen] = None
        self._python: Optional[Path] = None
        self.startup_seconds: Optional[float] = None

    # -- public attributes ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise BugsinkError("the server has not been started")
        return "http://127.0.0.1:%d" % self.port

    @property
    def dsn(self) -> str:
        if self.project is None:
            raise BugsinkError("the server has not been started")
        return self.project.dsn

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / "server.log"

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, AssertionError):
            return "(no server log)"
        return _tail(text, lines) or "(server log is empty)"

    def __repr__(self) -> str:
        state = "running pid %s on %s" % (self.pid, self.url) if self.is_running() else "stopped"
        return "<Bugsink %s %s>" % (self.version, state)

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> Bugsink:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def start(self) -> Bugsink:
        """Install if needed, configure, migrate, provision, start gunicorn; return ``self``."""
        if self.is_running():
            return self
        started = time.monotonic()
        self._python = ensure_installed(self.venv, self.version)
        if self.state_dir is None:
            base = REPO_ROOT / ".test-state"
            base.mkdir(parents=True, exist_ok=True)
            self.state_dir = Path(tempfile.mkdtemp(prefix="bugsink-", dir=base))
        self.state_dir.mkdir(parents=True, exist_ok=True)

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            self.port = listener.getsockname()[1]
            self._write_config()
            self._migrate()
            self._spawn(listener)
        except BaseException:
            listener.close()
            self.stop()
            raise
        listener.close()  # gunicorn has its own copy now
        try:
            self._provision([self.project_slug, _WARMUP])  # while gunicorn boots
            self.project = self.projects[self.project_slug]
            self._wait_ready(time.monotonic() + self.ready_timeout)
            self._warm_up()
        except BaseException:
            self.keep_state = True  # keep server.log for a post-mortem
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        _log(
            "ready on %s (pid %s) in %.1f s; log: %s"
            % (self.url, self.pid, self.startup_seconds, self.log_path)
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gunicorn (TERM, then KILL to its process group), wait for it, tidy up."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)  # master: graceful stop of its workers
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    _log(
                        "pid %d still running after %.0f s: killing its process group"
                        % (proc.pid, timeout)
                    )
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                except ProcessLookupError:
                    proc.wait()
            # Workers outlive a master that died hard; the group is empty (gone) otherwise.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._own_state_dir and not self.keep_state and self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None

    # -- projects and stored data -----------------------------------------------------------------

    def create_project(self, slug: str) -> BugsinkProject:
        """Create (or reuse) another project on this server; events go where its DSN says."""
        if not _SLUG.match(slug):
            raise ValueError("project slug must match %s, got %r" % (_SLUG.pattern, slug))
        if self.port is None:
            raise BugsinkError("start the server first")
        self._provision([slug])
        return self.projects[slug]

    def events(self, project: Optional[str] = None) -> List[Dict[str, Any]]:
        """The events stored for ``project`` (default: the main one), oldest first, as sent."""
        return [self._parse(row) for row in self._event_rows(project)]

    def event(self, event_id: str, project: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """The stored event with this id (as returned by ``client.capture*``), or None."""
        rows = self._event_rows(project, event_id=event_id)
        return self._parse(rows[0]) if rows else None

    def wait_for_event(
        self, event_id: str, timeout: float = 10.0, project: Optional[str] = None
    ) -> Dict[str, Any]:
        """Poll until the event with this id is stored, else raise AssertionError with the log."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.event(event_id, project)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    "Bugsink did not store event %s within %.0f s (%d events stored). "
                    "Tail of %s:\n%s"
                    % (
                        event_id,
                        timeout,
                        len(self._event_rows(project)),
                        self.log_path,
                        self.log_tail(),
                    )
                )
            time.sleep(0.05)

    def wait_for_events(
        self, count: int, timeout: float = 10.0, project: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """Poll until at least ``count`` events are stored; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events(project)
            if len(events) >= count:
                return events
            if time.monotonic() > deadline:
                raise AssertionError(
                    "Bugsink stored %d of %d events within %.0f s. Tail of %s:\n%s"
                    % (len(events), count, timeout, self.log_path, self.log_tail())
                )
            time.sleep(0.05)

    def summaries(self, project: Optional[str] = None) -> List[Dict[str, Any]]:
        """What Bugsink derived from each stored event, oldest first, with the event itself.

        Keys: ``event_id``, ``title`` (as the UI shows it), ``type``, ``value``, ``culprit``
        (Bugsink's "transaction" column), ``last_frame`` (``module.function``), ``level``,
        ``release``, ``environment``, ``issue`` (the issue's number) and ``data`` (the event).
        """
        rows = self._query(
            "SELECT e.event_id, e.data, e.storage_backend, e.calculated_type,"
            ' e.calculated_value, e."transaction", e.last_frame_module, e.last_frame_function,'
            " e.level, e.release, e.environment, i.digest_order AS issue"
            " FROM events_event e JOIN projects_project p ON p.id = e.project_id"
            " JOIN issues_issue i ON i.id = e.issue_id"
            " WHERE p.slug = ? ORDER BY e.rowid",
            (project or self.project_slug,),
        )
        return [
            {
                "event_id": row["event_id"],
                "title": _title(row["calculated_type"], row["calculated_value"]),
                "type": row["calculated_type"],
                "value": row["calculated_value"],
                "culprit": row["transaction"],
                "last_frame": ".".join(
                    part for part in (row["last_frame_module"], row["last_frame_function"]) if part
                ),
                "level": row["level"],
                "release": row["release"],
                "environment": row["environment"],
                "issue": row["issue"],
                "data": self._parse(row),
            }
            for row in rows
        ]

    def issues(self, project: Optional[str] = None) -> List[Dict[str, Any]]:
        """Issue summaries, oldest first: title, type, value, culprit, event counts, last frame."""
        rows = self._query(
            'SELECT i.calculated_type, i.calculated_value, i."transaction", i.digest_order,'
            " i.digested_event_count, i.stored_event_count, i.last_frame_module,"
            " i.last_frame_function, i.first_seen, i.last_seen"
            " FROM issues_issue i JOIN projects_project p ON p.id = i.project_id"
            " WHERE p.slug = ? AND NOT i.is_deleted ORDER BY i.digest_order",
            (project or self.project_slug,),
        )
        return [
            {
                "title": _title(row["calculated_type"], row["calculated_value"]),
                "type": row["calculated_type"],
                "value": row["calculated_value"],
                "culprit": row["transaction"],
                "number": row["digest_order"],
                "event_count": row["digested_event_count"],
                "stored_event_count": row["stored_event_count"],
                "last_frame_module": row["last_frame_module"],
                "last_frame_function": row["last_frame_function"],
                "first_seen": row["first_seen"],
                "last_seen": row["last_seen"],
            }
            for row in rows
        ]

    # -- internals --------------------------------------------------------------------------------

    def _env(self) -> Dict[str, str]:
        assert self.state_dir is not None
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                "PYTHONPATH",
                "PYTHONHOME",
                "PYTHONSTARTUP",
                "VIRTUAL_ENV",
                "DJANGO_SETTINGS_MODULE",
            )
        }
        env["PYTHONPATH"] = str(self.state_dir)  # bugsink_conf.py
        env["DJANGO_SETTINGS_MODULE"] = "bugsink_conf"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _manage(self, *args: str, what: str) -> str:
        assert self._python is not None
        return _run(
            [str(self._python), "-m", "bugsink.scripts.manage", *args],
            error=BugsinkStartError,
            what=what,
            timeout=_MANAGE_TIMEOUT,
            cwd=str(self.state_dir),
            env=self._env(),
        )

    def _write_config(self) -> None:
        assert self.state_dir is not None
        state = self.state_dir
        for name in ("ingestion", "snappea-wakeup"):
            (state / name).mkdir(exist_ok=True)
            (state / name).chmod(0o700)  # Bugsink warns about anything laxer
        text = _CONFIG.format(
            secret=secrets.token_urlsafe(40),
            db=str(state / "db.sqlite3"),
            test_db=str(state / "test.sqlite3"),
            snappea_db=str(state / "snappea.sqlite3"),
            wakeup_dir=str(state / "snappea-wakeup"),
            ingest_dir=str(state / "ingestion"),
            base_url=self.url,
            validate=self.validate,
        )
        (state / "bugsink_conf.py").write_text(text)
        shutil.rmtree(state / "__pycache__", ignore_errors=True)  # never a stale compiled config

    def _migrate(self) -> None:
        assert self.state_dir is not None
        marker = self.state_dir / (".migrated-" + self.version)
        if marker.exists():
            return
        databases = ("db.sqlite3", "snappea.sqlite3")
        template = self.venv / ("raven-template-" + self.version)
        if not (self.state_dir / "db.sqlite3").exists():
            with _locked(self.venv.parent / (self.venv.name + ".lock")):
                if not all((template / name).exists() for name in databases):
                    self._migrate_into(template, databases)
            for name in databases:
                _copy_sqlite(template / name, self.state_dir / name)
        else:  # an existing state dir from an older version: migrate it in place
            self._run_migrations()
        marker.touch()

    def _migrate_into(self, template: Path, databases: Sequence[str]) -> None:
        """Migrate fresh databases in the state dir and keep copies as the venv's template."""
        assert self.state_dir is not None
        self._run_migrations()
        partial = template.with_name(template.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for name in databases:
            _copy_sqlite(self.state_dir / name, partial / name)
        shutil.rmtree(template, ignore_errors=True)
        os.replace(partial, template)

    def _run_migrations(self) -> None:
        started = time.monotonic()
        _log("migrating databases (first start with this venv: ~10 s) ...")
        self._manage("migrate", "--no-input", "-v", "0", what="bugsink migrate")
        self._manage(
            "migrate",
            "--no-input",
            "-v",
            "0",
            "--database=snappea",
            what="bugsink migrate (snappea)",
        )
        _log("migrated in %.1f s" % (time.monotonic() - started))

    def _provision(self, slugs: Sequence[str]) -> None:
        assert self._python is not None
        output = _run(
            [str(self._python), "-c", _PROVISION, *slugs],
            error=BugsinkStartError,
            what="creating user/team/project",
            timeout=_MANAGE_TIMEOUT,
            cwd=str(self.state_dir),
            env=self._env(),
        )
        try:
            created = json.loads(output.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BugsinkStartError("unexpected output from provisioning:\n" + _tail(output))
        for slug, info in created.items():
            self.projects[slug] = BugsinkProject(self, slug, info["id"], info["dsn"])

    def _spawn(self, listener: socket.socket) -> None:
        assert self._python is not None and self.state_dir is not None
        fd = listener.fileno()
        command = [
            str(self._python),
            "-m",
            "gunicorn",
            "--bind",
            "fd://%d" % fd,
            "--workers",
            str(self.workers),
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
            "--no-control-socket",
            "--access-logfile",
            "-",
            "--error-logfile",
            "-",
            "--capture-output",
            "--preload",  # Django loads once, before the fork (no DB access at load): -1 s
            "bugsink.wsgi",
        ]
        if not self.detach and sys.platform.startswith("linux"):
            command = [str(self._python), "-c", _LAUNCHER, str(os.getpid()), *command]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=str(self.state_dir),
                env=self._env(),
                pass_fds=(fd,),
                start_new_session=True,  # own process group: stop() can reach the workers
            )
        if not self.detach:
            atexit.register(self.stop)

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        # ProxyHandler({}): never through an http_proxy from the environment, this is loopback
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        probe = self.url + "/health/ready"
        while True:
            code = self._proc.poll()
            if code is not None:
                raise BugsinkStartError(
                    "gunicorn exited with code %d before it was ready. Tail of %s:\n%s"
                    % (code, self.log_path, self.log_tail())
                )
            try:
                with opener.open(probe, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:  # refused, reset, timed out, or an HTTP error status
                pass
            if time.monotonic() > deadline:
                raise BugsinkStartError(
                    "no answer from %s within %.0f s. Tail of %s:\n%s"
                    % (probe, self.ready_timeout, self.log_path, self.log_tail())
                )
            time.sleep(0.1)

    def _warm_up(self) -> None:
        """Send each worker a first event, to a project of its own, before any test does.

        A worker imports its ingest and digest code on its first event, which took over 5 s
        on a busy machine: longer than a client's default timeout, so a test's single
        synchronous send could fail on it.
        """
        project = self.projects[_WARMUP]
        key = project.dsn.split("//", 1)[1].split("@", 1)[0]
        url = "%s/api/%d/store/" % (self.url, project.id)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def send() -> None:
            body = json.dumps({"event_id": uuid.uuid4().hex, "message": "warm-up"}).encode()
            request = urllib.request.Request(url, data=body, method="POST")
            request.add_header("Content-Type", "application/json")
            request.add_header(
                "X-Sentry-Auth",
                "Sentry sentry_version=7, sentry_key=%s, sentry_client=warmup" % key,
            )
            try:
                opener.open(request, timeout=60).close()
            except OSError:  # a failed warm-up only means the first test waits instead
                pass

        senders = [threading.Thread(target=send) for _ in range(2 * self.workers)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> List[sqlite3.Row]:
        if self.state_dir is None or not (self.state_dir / "db.sqlite3").exists():
            raise BugsinkError("no database: the server was never started or its state was removed")
        con = sqlite3.connect(
            (self.state_dir / "db.sqlite3").as_uri() + "?mode=ro", uri=True, timeout=10
        )
        try:
            con.row_factory = sqlite3.Row
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def _event_rows(
        self, project: Optional[str], event_id: Optional[str] = None
    ) -> List[sqlite3.Row]:
        sql = (
            "SELECT e.data, e.storage_backend, e.event_id FROM events_event e"
            " JOIN projects_project p ON p.id = e.project_id WHERE p.slug = ?"
        )
        params: List[Any] = [project or self.project_slug]
        if event_id is not None:
            sql += " AND e.event_id = ?"
            params.append(uuid.UUID(event_id).hex)  # Django keeps UUIDs as 32 hex digits in SQLite
        return self._query(sql + " ORDER BY e.rowid", params)

    @staticmethod
    def _parse(row: sqlite3.Row) -> Dict[str, Any]:
        if row["storage_backend"] is not None:  # only with EVENT_STORAGES, which we don't set
            raise BugsinkError(
                "event %s is kept in storage %r, not in the database"
                % (row["event_id"], row["storage_backend"])
            )
        return json.loads(row["data"])
