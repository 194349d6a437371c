"""Views of the test project; each one does one thing a test looks for."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.contrib.auth import authenticate, login
from django.contrib.auth.models import User
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render

from raven.contrib.django.models import client

log = logging.getLogger("djangoproject.views")


class PaymentDeclined(Exception):
    pass


class Exploding:
    def explode(self) -> str:
        raise ValueError("the template asked for something broken")


def ok(request: Any) -> HttpResponse:
    return HttpResponse("ok")


def boom(request: Any) -> HttpResponse:
    raise ValueError("boom")


def pay(request: Any, order_id: int) -> HttpResponse:
    raise PaymentDeclined("card declined for order %s" % order_id)


def item(request: Any, pk: int = 0, slug: str = "") -> HttpResponse:
    raise KeyError(pk or slug)


def template_error(request: Any) -> HttpResponse:
    return render(request, "error.html", {"thing": Exploding()})


def template_syntax_error(request: Any) -> HttpResponse:
    return render(request, "syntax_error.html")


def message(request: Any) -> HttpResponse:
    client.captureMessage("hello from a view")
    return HttpResponse("sent")


def log_error(request: Any) -> HttpResponse:
    log.error("something went wrong", extra={"request": request})
    return HttpResponse("logged")


def echo(request: Any) -> HttpResponse:
    """Fails after reading the body the way the test asks (``?read=post|body|stream|none``)."""
    how = request.GET.get("read", "none")
    if how == "post":
        seen: Any = dict(request.POST.items())
    elif how == "body":
        seen = request.body.decode("utf-8", "replace")
    elif how == "stream":
        seen = request.read().decode("utf-8", "replace")
    else:
        seen = None
    if request.GET.get("fail"):
        raise ValueError("echo failed after reading the body (%s)" % how)
    client.captureMessage("echo")
    # what the view reads after the report was built: it must be what was sent
    post = dict(request.POST.items())
    # Django refuses request.body once the stream was read (multipart parsing, read())
    multipart = request.content_type == "multipart/form-data"
    body = None if multipart or how == "stream" else request.body.decode("utf-8", "replace")
    return JsonResponse({"post": post, "body": body, "seen": seen})


def query(request: Any) -> HttpResponse:
    list(User.objects.filter(username="ada' OR 1=1", id__gt=5))
    raise ValueError("after a query")


def log_in(request: Any) -> HttpResponse:
    user = authenticate(
        request, username=request.POST["username"], password=request.POST["password"]
    )
    if user is None:
        return HttpResponse("no", status=403)
    login(request, user)
    return HttpResponse("welcome")


async def async_fail(request: Any, number: int) -> HttpResponse:
    """Tags and a breadcrumb of its own, yields to the other requests, then fails."""
    client.tags_context({"request_number": str(number)})
    log.warning("handling request %s", number)
    await asyncio.sleep(0.001 * (number % 7))
    client.extra_context({"number": number})
    await asyncio.sleep(0)
    raise PaymentDeclined("async request %s failed" % number)


async def async_message(request: Any) -> HttpResponse:
    await asyncio.sleep(0)
    event_id = client.captureMessage("hello from an async view")
    return HttpResponse(event_id or "")
