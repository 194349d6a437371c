"""Every raven 6.10 module we ship still has every public name 6.10 code may import from it.

``raven610_manifest.json`` lists, per 6.10 module, the names ``make_manifest.py`` found (its
docstring gives the rule). Every 6.10 module is listed in ``DELIVERED``
and checked.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import pytest

MANIFEST: dict[str, list[str]] = json.loads(
    Path(__file__).with_name("raven610_manifest.json").read_text(encoding="utf-8")
)

# raven 6.10 module paths this package provides. Add a module here when it lands.
DELIVERED = [
    "raven",
    "raven.base",
    "raven.breadcrumbs",
    "raven.conf",
    "raven.conf.defaults",
    "raven.conf.remote",
    "raven.context",
    "raven.contrib",
    "raven.contrib.async",
    "raven.contrib.awslambda",
    "raven.contrib.bottle",
    "raven.contrib.bottle.utils",
    "raven.contrib.celery",
    "raven.contrib.django",
    "raven.contrib.django.apps",
    "raven.contrib.django.celery",
    "raven.contrib.django.celery.models",
    "raven.contrib.django.celery.tasks",
    "raven.contrib.django.client",
    "raven.contrib.django.handlers",
    "raven.contrib.django.logging",
    "raven.contrib.django.management",
    "raven.contrib.django.management.commands",
    "raven.contrib.django.management.commands.raven",
    "raven.contrib.django.middleware",
    "raven.contrib.django.middleware.wsgi",
    "raven.contrib.django.models",
    "raven.contrib.django.raven_compat",
    "raven.contrib.django.raven_compat.handlers",
    "raven.contrib.django.raven_compat.management",
    "raven.contrib.django.raven_compat.management.commands",
    "raven.contrib.django.raven_compat.management.commands.raven",
    "raven.contrib.django.raven_compat.middleware",
    "raven.contrib.django.raven_compat.middleware.wsgi",
    "raven.contrib.django.raven_compat.models",
    "raven.contrib.django.raven_compat.templatetags",
    "raven.contrib.django.raven_compat.templatetags.raven",
    "raven.contrib.django.resolver",
    "raven.contrib.django.serializers",
    "raven.contrib.django.templatetags",
    "raven.contrib.django.templatetags.raven",
    "raven.contrib.django.urls",
    "raven.contrib.django.utils",
    "raven.contrib.django.views",
    "raven.contrib.flask",
    "raven.contrib.paste",
    "raven.contrib.pylons",
    "raven.contrib.sanic",
    "raven.contrib.tornado",
    "raven.contrib.webpy",
    "raven.contrib.webpy.utils",
    "raven.contrib.zconfig",
    "raven.contrib.zerorpc",
    "raven.contrib.zope",
    "raven.events",
    "raven.exceptions",
    "raven.handlers",
    "raven.handlers.logbook",
    "raven.handlers.logging",
    "raven.middleware",
    "raven.processors",
    "raven.scripts",
    "raven.scripts.runner",
    "raven.transport",
    "raven.transport.base",
    "raven.transport.eventlet",
    "raven.transport.exceptions",
    "raven.transport.gevent",
    "raven.transport.http",
    "raven.transport.registry",
    "raven.transport.requests",
    "raven.transport.threaded",
    "raven.transport.threaded_requests",
    "raven.transport.tornado",
    "raven.transport.twisted",
    "raven.utils",
    "raven.utils.basic",
    "raven.utils.compat",
    "raven.utils.conf",
    "raven.utils.encoding",
    "raven.utils.http",
    "raven.utils.imports",
    "raven.utils.json",
    "raven.utils.serializer",
    "raven.utils.serializer.base",
    "raven.utils.serializer.manager",
    "raven.utils.ssl_match_hostname",
    "raven.utils.stacks",
    "raven.utils.testutils",
    "raven.utils.transaction",
    "raven.utils.urlparse",
    "raven.utils.wsgi",
    "raven.versioning",
]

# Public modules that raven 6.10 did not have (private ``_``-prefixed ones need no entry).
NEW_MODULES: set[str] = {"raven.protocol"}


@pytest.mark.parametrize("module_name", DELIVERED)
def test_module_has_every_raven_610_public_name(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in MANIFEST[module_name] if not hasattr(module, name)]
    assert not missing, f"{module_name} lacks raven 6.10 names: {', '.join(missing)}"


def test_every_delivered_module_is_a_raven_610_module_or_declared_new() -> None:
    unknown = [name for name in DELIVERED if name not in MANIFEST and name not in NEW_MODULES]
    assert not unknown, f"neither in the 6.10 manifest nor in NEW_MODULES: {unknown}"


def _shipped_modules() -> set[str]:
    spec = importlib.util.find_spec("raven")
    assert spec is not None and spec.submodule_search_locations
    found = set()
    for location in spec.submodule_search_locations:
        root = Path(location)
        for path in root.rglob("*.py"):
            parts = ["raven", *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            if not any(part.startswith("_") for part in parts):
                found.add(".".join(parts))
    return found


def test_every_shipped_raven_610_module_is_checked() -> None:
    unchecked = sorted((_shipped_modules() & MANIFEST.keys()) - set(DELIVERED))
    assert not unchecked, f"add these to DELIVERED: {unchecked}"
