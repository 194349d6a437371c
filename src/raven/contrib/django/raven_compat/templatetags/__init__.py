"""Template tags of the ``raven_compat`` app (``{% load raven %}``)."""
