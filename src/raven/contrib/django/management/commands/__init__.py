"""The ``raven`` management command lives in :mod:`.raven`."""
