"""The framework integrations on the oldest releases we claim, each in a venv of its own.

The main test run installs the newest release of every framework; this module re-runs each
integration's own tests (unit and end-to-end) against the oldest release the README claims,
in a separate venv and pytest process, so the two ends of every supported range are tested
by one command. ``RELEASES`` is the single list of those pins; the README's table quotes it.

Each venv lives in ``.test-state/matrix/<name>`` and is kept between runs (uv reinstalls only
what changed, ~1 s). Set ``RAVEN_MATRIX=0`` to skip the whole module locally.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("RAVEN_MATRIX_STATE") or ROOT / ".test-state" / "matrix")


class Release(NamedTuple):
    """An old release line to test: what to install beside the project, and which tests run."""

    pins: List[str]
    tests: List[str]
    why: str
    #: extra pytest arguments for releases whose own dependencies warn or misbehave
    args: List[str] = []
    #: extra environment for the run
    env: Dict[str, str] = {}


RELEASES: Dict[str, Release] = {
    "flask-1.0": Release(
        # the Flask 1.0 era: Werkzeug/Jinja2/MarkupSafe/itsdangerous releases it was built with
        pins=[
            "flask==1.0.4",
            "werkzeug>=1.0,<2",
            "jinja2>=2.10,<3",
            "markupsafe<2.1",
            "itsdangerous<2",
        ],
        tests=["tests/unit/test_flask.py", "tests/e2e/test_flask_bugsink.py"],
        why="oldest Flask that runs on Python 3.11 with its own dependencies",
    ),
    "flask-2.0": Release(
        pins=["flask>=2.0,<2.1", "werkzeug>=2.0,<2.1"],
        tests=["tests/unit/test_flask.py"],
        why="the release that removed _request_ctx_stack's last users and added async views",
    ),
    "django-2.2": Release(
        pins=["django>=2.2,<2.3"],
        tests=["tests/unit/django", "tests/e2e/django"],
        why="oldest Django that runs on Python 3.11 (WSGI only; async views need 3.1)",
        # Django 2.2 bundles a six whose import hook predates find_spec
        args=["-W", "ignore::ImportWarning"],
    ),
    "django-3.2": Release(
        pins=["django>=3.2,<3.3"],
        tests=["tests/unit/django"],
        why="the first LTS with async views and ASGI",
        # Django 3.2's ASGI handler leaves the request body's temporary file to the collector
        # (a ResourceWarning pytest reports as unraisable; -W cannot name it more narrowly)
        args=["-W", "ignore::pytest.PytestUnraisableExceptionWarning"],
    ),
    "django-4.2": Release(
        pins=["django>=4.2,<4.3"],
        tests=["tests/unit/django"],
        why="the LTS before 5.x; MiddlewareMixin needs get_response since 4.0",
    ),
    "tornado-6.0": Release(
        # Tornado 5 does not import on Python 3.10+ (collections.MutableMapping)
        pins=["tornado>=6.0,<6.1", "aiohttp>=3.8,<3.9"],
        tests=[
            "tests/unit/test_tornado.py",
            "tests/unit/test_aiohttp_transport.py",
            "tests/unit/test_aiohttp.py",
            "tests/e2e/test_tornado_bugsink.py",
        ],
        why="oldest Tornado that runs on Python 3.11; oldest aiohttp of the asyncio transport",
    ),
    "asgi-rq-oldest": Release(
        # with the anyio of its day (newer anyio deprecates an alias this Starlette uses)
        pins=["starlette>=0.37,<0.38", "fastapi>=0.110,<0.111", "anyio<4", "rq>=1.16,<1.17"],
        tests=[
            "tests/unit/test_asgi.py",
            "tests/unit/test_rq.py",
            "tests/e2e/test_asgi_bugsink.py",
            "tests/e2e/test_rq_bugsink.py",
        ],
        why="older Starlette/FastAPI (pre-1.0) and RQ 1.x",
        # RQ 1.16's own worker calls functions it deprecates
        args=[
            "-W",
            "ignore:The `push_connection` function is deprecated:DeprecationWarning",
            "-W",
            "ignore:The `pop_connection` function is deprecated:DeprecationWarning",
        ],
    ),
    "green-oldest": Release(
        pins=["gevent==22.10.2", "eventlet==0.33.3", "dnspython>=2", "twisted[tls]==21.7.0"],
        tests=["tests/unit/test_isolated_transports.py"],
        why="oldest gevent/eventlet/Twisted with Python 3.11 wheels that import there",
        # their own dependencies warn (pkg_resources, distutils) in the child processes
        env={"RAVEN_SCENARIO_WARNINGS": "default"},
    ),
    "sanic-23.12": Release(
        # older sanic-testing releases pin an httpx that the test extra's httpx2 cannot share
        pins=["sanic>=23.12,<23.13", "sanic-testing>=23.12,<23.13"],
        tests=["tests/unit/test_sanic.py", "tests/e2e/test_sanic_bugsink.py"],
        why="oldest Sanic that installs beside the test extra",
    ),
    "bottle-0.12": Release(
        pins=["bottle>=0.12,<0.13"],
        tests=["tests/unit/test_bottle.py", "tests/e2e/test_bottle_bugsink.py"],
        why="the release 6.10 was written for",
        # Bottle 0.12's bottle.ext import redirect predates find_spec
        args=["-W", "ignore::ImportWarning"],
    ),
    "pyramid-1.10": Release(
        pins=["pyramid>=1.10,<1.11"],
        tests=["tests/unit/test_pyramid.py", "tests/e2e/test_pyramid_bugsink.py"],
        why="the last 1.x release line",
    ),
    "webpy-0.62": Release(
        pins=["web.py==0.62"],
        tests=["tests/unit/test_webpy.py", "tests/e2e/test_webpy_bugsink.py"],
        why="oldest web.py for Python 3",
    ),
    "zope-5": Release(
        # Zope 5 does not start with ZODB 6 ("child name class-factory already used")
        pins=["zope>=5.14,<6", "ZODB<6"],
        tests=["tests/unit/test_zope.py", "tests/e2e/test_zope_bugsink.py"],
        why="the release line before Zope 6",
    ),
    "celery-5.0": Release(
        # 5.0.6 cannot send tasks (its amqp module lacks ignore_result); 4.4 does not import
        # on Python 3.11 (vine 1.3 uses inspect.formatargspec)
        pins=["celery[redis]==5.0.5", "kombu>=5.0,<5.1"],
        tests=["tests/unit/test_celery.py", "tests/e2e/test_celery_bugsink.py"],
        why="oldest Celery that imports on Python 3.11",
        # billiard 3.6's copied tracebacks crash pytest's log capture on 3.11, and
        # Celery 5.0 reads entry points through an API importlib.metadata deprecates
        args=["-p", "no:logging", "-W", "ignore::DeprecationWarning"],
    ),
}


def _uv() -> Optional[str]:
    explicit = os.environ.get("UV")  # exported by scripts/test
    if explicit and os.access(explicit, os.X_OK):
        return explicit
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return str(beside)
    return shutil.which("uv")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _venv_for(name: str, release: Release, uv: str) -> Path:
    venv = STATE / name
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run(
            [uv, "venv", "-q", "--python", sys.executable, str(venv)],
            check=True,
            capture_output=True,
            timeout=120,
        )
    install = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "-e",
            "%s[test]" % ROOT,
            *release.pins,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    if install.returncode:
        message = "could not install %s: %s" % (name, _tail(install.stderr, 20))
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return python


def _child_env() -> Dict[str, str]:
    """This process's environment minus what its own tests set up (Django's settings)."""
    own = ("DJANGO_SETTINGS_MODULE", "RAVEN_TEST_DJANGO_DB")
    return {k: v for k, v in os.environ.items() if k not in own}


def _versions(python: Path, pins: List[str]) -> str:
    """What the venv really holds of the pinned distributions, e.g. ``flask 1.0.4``."""
    names = [re.split(r"[\[<>=!~ ]", pin, maxsplit=1)[0] for pin in pins]
    script = (
        "import importlib.metadata as m, sys; "
        "print(', '.join('%s %s' % (n, m.version(n)) for n in sys.argv[1:]))"
    )
    shown = subprocess.run(
        [str(python), "-c", script, *names], capture_output=True, text=True, timeout=60
    )
    return shown.stdout.strip() or shown.stderr.strip()


@pytest.mark.skipif(os.environ.get("RAVEN_MATRIX") == "0", reason="RAVEN_MATRIX=0")
@pytest.mark.parametrize("name", sorted(RELEASES))
def test_integration_suite_passes_on_the_oldest_claimed_release(name: str) -> None:
    release = RELEASES[name]
    uv = _uv()
    if uv is None:
        message = "uv is needed to build the %s venv (scripts/test installs it)" % name
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    python = _venv_for(name, release, uv)
    installed = _versions(python, release.pins)
    run = subprocess.run(
        [
            str(python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *release.args,
            *release.tests,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**_child_env(), **release.env},
    )
    print("%s (%s): %s" % (name, installed, _tail(run.stdout, 1)))
    assert run.returncode == 0, "the %s suite failed (%s):\n%s\n%s" % (
        name,
        installed,
        _tail(run.stdout),
        _tail(run.stderr, 20),
    )
