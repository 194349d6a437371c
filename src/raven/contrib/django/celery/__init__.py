"""Send a Django project's Sentry events from a Celery worker instead of the web process.

    SENTRY_CLIENT = "raven.contrib.django.celery.CeleryClient"

The client builds each event as usual, then queues it as the ``send_raw`` task (routing key
``sentry``); the worker that runs the task sends it with its own configured client. The tasks
are shared tasks (``shared_task``), so they belong to whichever Celery app the project runs;
the worker registers them when it imports this module (list ``raven.contrib.django.celery`` in
``INSTALLED_APPS`` and call ``app.autodiscover_tasks()``, or name it in ``imports``).

When the broker cannot take the event, it is sent directly rather than lost.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

try:
    from celery import Task, shared_task
except ImportError as exc:  # pragma: no cover - exercised only without Celery installed
    raise ImportError(
        "raven.contrib.django.celery needs Celery (5.0 or later): "
        "pip install 'raven[django,celery]' (%s)" % (exc,)
    ) from exc

from raven.contrib.django.client import DjangoClient

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, Tuple

__all__ = ["CeleryClient", "DjangoClient", "send_raw", "send_raw_integrated"]

_error_logger = logging.getLogger("sentry.errors")

#: the routing key of the tasks (6.10's). Without an exchange, Celery 4+ routes by queue and
#: ignores it: it matters only where ``task_routes`` names an exchange that routes by key.
ROUTING_KEY = "sentry"

#: true while a task of this module sends: the client must send, not queue the event again
_sending_now: ContextVar[bool] = ContextVar("raven_django_celery_sending_now", default=False)


class CeleryClient(DjangoClient):
    """A :class:`~raven.contrib.django.DjangoClient` whose events travel through Celery.

    Only events sent to the store endpoint (the default) are queued: with
    ``endpoint='envelope'`` the client sends directly.
    """

    def send_integrated(self, kwargs: Dict[str, Any]) -> Any:
        """Queue an event dict (``send_raw_integrated``); its worker encodes and sends it."""
        if _sending_now.get():
            return self.send(**kwargs)
        return self._queue(send_raw_integrated, (kwargs,), {}, lambda: self.send(**kwargs))

    def send_encoded(self, *args: Any, **kwargs: Any) -> Any:
        """Queue an encoded event (``send_raw``): the async result, or None when sent directly."""
        if _sending_now.get():
            return super().send_encoded(*args, **kwargs)
        # send_raw is looked up now: tests patch raven.contrib.django.celery.send_raw
        return self._queue(
            send_raw, args, kwargs, lambda: DjangoClient.send_encoded(self, *args, **kwargs)
        )

    def _queue(
        self, task: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any], direct: Callable[[], Any]
    ) -> Any:
        try:
            return task.delay(*args, **kwargs)
        except Exception:
            if self.raise_send_errors:
                raise
            _error_logger.warning(
                "raven: Celery could not queue the event (is the broker reachable?); "
                "sending it directly",
                exc_info=True,
            )
        with _SendingNow():
            direct()
        return None


def _configured_client() -> Any:
    # looked up at call time, as 6.10 did: the worker's client is the one its settings name
    from raven.contrib.django.models import get_client

    return get_client()


class _SendingNow:
    """Within it, a :class:`CeleryClient` sends instead of queueing (the task is the sender)."""

    def __enter__(self) -> None:
        self._token = _sending_now.set(True)

    def __exit__(self, *exc_info: Any) -> None:
        _sending_now.reset(self._token)


class _SentryTask(Task):
    """Sends with routing key ``sentry`` unless the caller names another one.

    An option, not the ``routing_key`` task attribute 6.10 used: Celery 5 deprecates the
    attribute (a warning at every worker start) and Celery 6 ignores it. Like the attribute,
    it takes precedence over ``task_routes``.
    """

    def apply_async(self, *args: Any, **options: Any) -> Any:
        options.setdefault("routing_key", ROUTING_KEY)
        return super().apply_async(*args, **options)


@shared_task(base=_SentryTask, ignore_result=True)
def send_raw_integrated(kwargs: Dict[str, Any]) -> None:
    """Encode and send an event dict with the worker's configured client."""
    with _SendingNow():
        _configured_client().send(**kwargs)


@shared_task(base=_SentryTask, ignore_result=True)
def send_raw(*args: Any, **kwargs: Any) -> None:
    """Send an encoded event with the worker's configured client."""
    with _SendingNow():
        _configured_client().send_encoded(*args, **kwargs)
