"""Settings of the test project: generic, so each test overrides what it needs.

The database name is set by :func:`djangoproject.testing.setup` (a temporary SQLite file,
shared by the threads an ASGI server runs sync code in).
"""

from __future__ import annotations

import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))

SECRET_KEY = "raven-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.sites",
    "raven.contrib.django",
    "djangoproject",
]

MIDDLEWARE = [
    "raven.contrib.django.middleware.SentryResponseErrorIdMiddleware",
    "raven.contrib.django.middleware.SentryMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "djangoproject.middleware.HeaderUserMiddleware",
]

ROOT_URLCONF = "djangoproject.urls"
SITE_ID = 1
WSGI_APPLICATION = "djangoproject.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("RAVEN_TEST_DJANGO_DB", ":memory:"),
    }
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [os.path.join(BASE_DIR, "templates")],
        "APP_DIRS": False,
        # template errors carry their file and line only with the engine's debug on
        "OPTIONS": {"debug": True},
    }
]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# events stay in memory (client.events); e2e tests point RAVEN_CONFIG at a real server
SENTRY_CLIENT = "djangoproject.clients.InMemoryDjangoClient"
RAVEN_CONFIG = {"install_sys_hook": False, "hook_libraries": []}
