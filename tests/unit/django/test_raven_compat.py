"""``raven.contrib.django.raven_compat``: raven's Django app under another name, on every Django.

Its modules hand out the very objects of the main package. Installing it is checked in a fresh
interpreter per case, since Django's app registry is set up once per process.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Any, Dict, List

import pytest

MIRRORS = {
    "raven.contrib.django.raven_compat": "raven.contrib.django",
    "raven.contrib.django.raven_compat.models": "raven.contrib.django.models",
    "raven.contrib.django.raven_compat.handlers": "raven.contrib.django.handlers",
    "raven.contrib.django.raven_compat.middleware": "raven.contrib.django.middleware",
    "raven.contrib.django.raven_compat.middleware.wsgi": "raven.contrib.django.middleware.wsgi",
    "raven.contrib.django.raven_compat.templatetags.raven": (
        "raven.contrib.django.templatetags.raven"
    ),
    "raven.contrib.django.raven_compat.management.commands.raven": (
        "raven.contrib.django.management.commands.raven"
    ),
}

MANIFEST_NAMES = {
    "raven.contrib.django.raven_compat": ["DjangoClient"],
    "raven.contrib.django.raven_compat.models": [
        "ProxyClient",
        "SentryDjangoHandler",
        "client",
        "convert_options",
        "get_client",
        "get_installed_apps",
        "import_string",
        "initialize",
        "install_middleware",
        "logger",
        "register_serializers",
        "sentry_exception_handler",
    ],
    "raven.contrib.django.raven_compat.handlers": ["BaseSentryHandler", "SentryHandler", "memoize"],
    "raven.contrib.django.raven_compat.middleware": [
        "DjangoRestFrameworkCompatMiddleware",
        "MiddlewareMixin",
        "Sentry404CatchMiddleware",
        "SentryLogMiddleware",
        "SentryMiddleware",
        "SentryResponseErrorIdMiddleware",
        "is_ignorable_404",
    ],
    "raven.contrib.django.raven_compat.middleware.wsgi": ["Sentry", "memoize"],
    "raven.contrib.django.raven_compat.templatetags.raven": ["register", "sentry_public_dsn"],
    "raven.contrib.django.raven_compat.management.commands.raven": [
        "Command",
        "DJANGO_18",
        "StoreJsonAction",
        "send_test_message",
        "store_json",
    ],
}


@pytest.mark.parametrize("mirror", sorted(MIRRORS))
def test_each_mirror_module_hands_out_the_main_modules_objects(mirror: str) -> None:
    compat = importlib.import_module(mirror)
    main = importlib.import_module(MIRRORS[mirror])

    for name in MANIFEST_NAMES[mirror]:
        assert getattr(compat, name) is getattr(main, name), name


# -- installing the app (a fresh interpreter each) ----------------------------------------------

_PROBE = r"""
import json, sys, warnings

warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=json.loads(sys.argv[1]),
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
        RAVEN_CONFIG={"dsn": "http://public:secret@127.0.0.1:9/1", "install_sys_hook": False},
        SECRET_KEY="not-secret",
        DATABASES={},
    )
    django.setup()

    from django.apps import apps
    from django.core.management import get_commands
    from django.core.signals import got_request_exception
    from django.template import Context, Template
    from django.template.backends.django import get_installed_libraries

    from raven.contrib.django.models import get_client

    result = {
        "apps": [
            [c.label, "%s.%s" % (type(c).__module__, type(c).__qualname__)]
            for c in apps.get_app_configs()
        ],
        "hooked": got_request_exception.has_listeners(),
        "client": type(get_client()).__name__,
        "command": get_commands()["raven"],
        "library": get_installed_libraries()["raven"],
        "dsn": Template("{% load raven %}{% sentry_public_dsn 'https' %}").render(Context()),
    }
result["warnings"] = [
    str(w.message) for w in caught if "raven" in str(w.message) or "/raven/" in w.filename
]
print(json.dumps(result))
"""


def install(*apps: str) -> Dict[str, Any]:
    """Set Django up with ``apps`` installed in a new interpreter; what it then looks like."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(apps))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


COMPAT_CONFIG = "raven.contrib.django.raven_compat.apps.RavenCompatConfig"


def test_the_compat_app_sets_raven_up_like_the_main_app() -> None:
    found = install("raven.contrib.django.raven_compat")

    assert found["apps"] == [["raven_compat", COMPAT_CONFIG]]
    assert found["hooked"] is True  # initialize() ran: request errors are captured
    assert found["client"] == "DjangoClient"
    assert found["command"] == "raven.contrib.django.raven_compat"
    assert found["library"] == "raven.contrib.django.raven_compat.templatetags.raven"
    assert found["dsn"] == "https://public@127.0.0.1:9/1"
    assert found["warnings"] == []


def test_both_apps_together_do_not_clash() -> None:
    found = install("raven.contrib.django", "raven.contrib.django.raven_compat")

    apps: List[List[str]] = found["apps"]
    assert apps == [
        ["raven_contrib_django", "raven.contrib.django.apps.RavenConfig"],
        ["raven_compat", COMPAT_CONFIG],
    ]
    assert found["dsn"] == "https://public@127.0.0.1:9/1"
    assert found["warnings"] == []
