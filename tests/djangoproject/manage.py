#!/usr/bin/env python
"""``manage.py`` of the test project, for tests that run management commands as a process."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # the project package lives next to this file: make its parent (tests/) importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoproject.settings")

    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
