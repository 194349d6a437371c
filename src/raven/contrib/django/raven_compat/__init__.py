"""``'raven.contrib.django.raven_compat'`` in ``INSTALLED_APPS``: raven's Django app, renamed.

For projects where an app called ``raven`` clashes: the modules here are the modules of
:mod:`raven.contrib.django` under this package's name (the same objects), and the app
(:class:`~raven.contrib.django.raven_compat.apps.RavenCompatConfig`, label ``raven_compat``)
sets raven up exactly as ``'raven.contrib.django'`` does.
"""

from __future__ import annotations

import django

from raven.contrib.django import DjangoClient

__all__ = ["DjangoClient"]

if not ((3, 2) <= django.VERSION[:2] < (4, 1)):
    # as in raven.contrib.django: Django < 3.2 needs it to find the app config; 3.2 and 4.0
    # find raven_compat.apps alone and warn when it is set; 4.1 and later ignore it
    default_app_config = "raven.contrib.django.raven_compat.apps.RavenCompatConfig"
    __all__ += ["default_app_config"]
