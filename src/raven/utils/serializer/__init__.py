"""Safe, bounded transformation of arbitrary values into JSON-ready event data."""

from __future__ import annotations

from raven.utils.serializer.base import *  # noqa: F403
from raven.utils.serializer.base import Serializer
from raven.utils.serializer.manager import manager, register, transform

__all__ = ["Serializer", "manager", "register", "transform"]
