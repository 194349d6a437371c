"""raven for Django: add ``'raven.contrib.django'`` to ``INSTALLED_APPS`` and set ``RAVEN_CONFIG``.

See :mod:`raven.contrib.django.models` for what is set up, and
:class:`raven.contrib.django.client.DjangoClient` for what events carry.
"""

from __future__ import annotations

try:
    import django
except ImportError as exc:  # pragma: no cover - exercised only without Django installed
    raise ImportError(
        "raven.contrib.django needs Django (2.2 or later): pip install 'raven[django]' (%s)"
        % (exc,)
    ) from exc

from raven.contrib.django.client import DjangoClient

__all__ = ["DjangoClient"]

if not ((3, 2) <= django.VERSION[:2] < (4, 1)):
    # Django < 3.2 needs it to find RavenConfig; 3.2 and 4.0 find it alone and warn when it is
    # set; 4.1 and later ignore it (it stays for code that reads it).
    default_app_config = "raven.contrib.django.apps.RavenConfig"
    __all__ += ["default_app_config"]
