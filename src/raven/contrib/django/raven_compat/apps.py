"""The app config of ``'raven.contrib.django.raven_compat'``: raven's app under its own label.

raven 6.10 pointed this package at ``RavenConfig`` itself (label ``raven_contrib_django``),
which Django 4.1+ no longer follows, and which made the two app names clash when both were
listed. Here it is an app of its own, label ``raven_compat``, whose ``ready()`` is
``RavenConfig.ready()``: ``initialize()`` runs once whichever of the two is installed.
"""

from __future__ import annotations

# the module, not the class: Django (3.2+) picks the one AppConfig subclass defined here
from raven.contrib.django import apps as _main_apps

__all__ = ["RavenCompatConfig"]


class RavenCompatConfig(_main_apps.RavenConfig):
    default = True
    name = "raven.contrib.django.raven_compat"
    label = "raven_compat"
    verbose_name = "Raven"
