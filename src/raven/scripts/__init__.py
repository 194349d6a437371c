"""Command-line entry points (the ``raven`` console script lives in :mod:`raven.scripts.runner`)."""
