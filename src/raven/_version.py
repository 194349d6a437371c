"""The version of this distribution (read by the build backend too)."""

__version__ = "7.0.0.dev1"
VERSION = __version__
