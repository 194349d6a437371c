"""The ``raven`` management command of the ``raven_compat`` app lives in :mod:`.raven`."""
