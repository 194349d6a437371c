"""A throwaway ``redis-server`` on 127.0.0.1, for tests that need a real broker (Celery).

    with RedisServer() as redis:
        broker_url = redis.url   # redis://127.0.0.1:PORT/0

It runs in the foreground of its own process (``--daemonize no``), without persistence, in a
temporary directory, on a free port; :meth:`RedisServer.stop` stops it by pid. Readiness is a
``PING`` over a plain socket, so no Redis client library is needed here.

No pytest here: the ``redis_server`` fixture in ``tests/conftest.py`` decides whether a missing
binary skips (a developer machine) or fails (CI).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, List, Optional

__all__ = ["RedisNotInstalled", "RedisServer", "RedisStartError", "find_redis_server"]

#: Debian/Ubuntu package that provides the binary (what ``.ci/run`` installs)
INSTALL_HINT = "apt-get install redis-server"


class RedisNotInstalled(RuntimeError):
    """There is no ``redis-server`` binary on PATH (or at ``$RAVEN_REDIS_SERVER``)."""


class RedisStartError(RuntimeError):
    """``redis-server`` was found but did not answer PING; the message has its output."""


def find_redis_server() -> Optional[str]:
    """``$RAVEN_REDIS_SERVER`` if set, else ``redis-server`` on PATH (or in the sbin dirs)."""
    configured = os.environ.get("RAVEN_REDIS_SERVER")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    # a non-root PATH often lacks the sbin directories some distributions install it into
    path = os.pathsep.join((os.environ.get("PATH", os.defpath), "/usr/local/sbin", "/usr/sbin"))
    return shutil.which("redis-server", path=path)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ping(port: int, timeout: float = 0.5) -> bool:
    """Whether a Redis server on 127.0.0.1:``port`` answers ``PING`` with ``+PONG``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``redis-server`` on 127.0.0.1: :meth:`start` (or ``with``) it, :meth:`stop` it.

    Args:
        binary: the server binary (default: :func:`find_redis_server`).
        ready_timeout: seconds to wait for ``PING`` before giving up.
    """

    #: a port picked as free can be taken before the server binds it: try a few
    attempts = 3

    def __init__(self, binary: Optional[str] = None, ready_timeout: float = 10.0) -> None:
        self.binary = binary
        self.ready_timeout = ready_timeout
        self.port: Optional[int] = None
        self.directory: Optional[Path] = None
        self._proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        """The broker URL of database 0."""
        if self.port is None:
            raise RedisStartError("the server has not been started")
        return "redis://127.0.0.1:%d/0" % self.port

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "pid %s on port %s" % (self.pid, self.port) if self.is_running() else "stopped"
        return "<RedisServer %s>" % state

    def start(self) -> RedisServer:
        """Start the server on a free port and wait until it answers PING; return ``self``."""
        if self.is_running():
            return self
        binary = self.binary or find_redis_server()
        if binary is None:
            raise RedisNotInstalled(
                "redis-server is not installed (%s, or set RAVEN_REDIS_SERVER)" % INSTALL_HINT
            )
        self.binary = binary
        self.directory = Path(tempfile.mkdtemp(prefix="raven-redis-"))
        atexit.register(self.stop)
        failures: List[str] = []
        for _ in range(self.attempts):
            port = _free_port()
            if self._spawn(binary, port, failures):
                self.port = port
                return self
        self.stop()
        raise RedisStartError("redis-server did not start:\n" + "\n---\n".join(failures))

    def _spawn(self, binary: str, port: int, failures: List[str]) -> bool:
        assert self.directory is not None
        log_path = self.directory / ("redis-%d.log" % port)
        args = [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.directory),
        ]  # fmt: skip
        with open(log_path, "wb") as log:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(self.directory),
            )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:  # exited: the port was taken, or a bad binary
                break
            if ping(port):
                return True
            time.sleep(0.02)
        self._terminate()
        try:
            output = log_path.read_text(errors="replace").strip()
        except OSError:
            output = ""
        failures.append("port %d: %s" % (port, output[-2000:] or "(no output)"))
        return False

    def _terminate(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (TERM, then KILL after ``timeout``) and remove its directory."""
        atexit.unregister(self.stop)
        self._terminate(timeout)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
