"""Django management commands of raven (``manage.py raven test``)."""
