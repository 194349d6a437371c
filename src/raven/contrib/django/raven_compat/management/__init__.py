"""Management commands of the ``raven_compat`` app (``manage.py raven test``)."""
