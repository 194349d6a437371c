"""Nothing: this module lets ``raven.contrib.django.celery`` be listed in ``INSTALLED_APPS``.

raven 6.10 raised ``ImproperlyConfigured`` here unless ``djcelery`` was installed. djcelery
died with Celery 3 (Celery 4+ configures itself from Django settings), so nothing is checked:
the app needs only Celery, which the package itself imports.
"""
