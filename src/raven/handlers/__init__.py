"""Log handlers that send records to Sentry: ``raven.handlers.logging`` and ``.logbook``."""
