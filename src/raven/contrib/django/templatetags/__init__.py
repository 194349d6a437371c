"""Django template tags of raven (``{% load raven %}``)."""
