"""A small Django project for raven's Django tests (``djangoproject.settings``)."""
