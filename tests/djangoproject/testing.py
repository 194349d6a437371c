"""Set Django up once per process for the tests: settings, a migrated SQLite file, the app.

Both ``tests/unit/django`` and ``tests/e2e/django`` call :func:`setup` from their conftest.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import warnings

_lock = threading.Lock()
_done = False


def setup() -> None:
    """Configure Django from ``djangoproject.settings`` and migrate a fresh database, once."""
    global _done
    with _lock:
        if _done:
            return
        os.environ["DJANGO_SETTINGS_MODULE"] = "djangoproject.settings"
        if not os.environ.get("RAVEN_TEST_DJANGO_DB"):
            # a file, not ":memory:": every thread (ASGI runs sync code in others) sees it
            directory = tempfile.mkdtemp(prefix="raven-django-")
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            os.environ["RAVEN_TEST_DJANGO_DB"] = os.path.join(directory, "db.sqlite3")

        import django
        from django.core.management import call_command

        with warnings.catch_warnings():
            # Django 2.2 on Python 3.11 imports modules that warn about their own age
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.simplefilter("ignore", ImportWarning)  # six's importer, in old venvs
            django.setup()
            call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
        _done = True
