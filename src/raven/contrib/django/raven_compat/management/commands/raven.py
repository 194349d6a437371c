"""``manage.py raven`` for projects that install ``raven.contrib.django.raven_compat``.

The same command as :mod:`raven.contrib.django.management.commands.raven`; Django finds a
command only under an installed app's own ``management/commands`` package.
"""

from __future__ import annotations

from raven.contrib.django.management.commands.raven import (
    DJANGO_18,
    Command,
    StoreJsonAction,
    send_test_message,
    store_json,
)

__all__ = ["DJANGO_18", "Command", "StoreJsonAction", "send_test_message", "store_json"]
