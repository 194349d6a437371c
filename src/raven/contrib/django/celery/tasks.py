"""The tasks of :mod:`raven.contrib.django.celery`, where Celery's ``autodiscover_tasks()`` looks.

With ``raven.contrib.django.celery`` in ``INSTALLED_APPS``, a worker that autodiscovers tasks
imports this module and so registers ``send_raw`` and ``send_raw_integrated``.
"""

from __future__ import annotations

from raven.contrib.django.celery import send_raw, send_raw_integrated
from raven.contrib.django.models import client

__all__ = ["client", "send_raw", "send_raw_integrated"]
