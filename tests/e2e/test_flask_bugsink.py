"""End to end: a Flask view failing for a logged-in user, as a real Bugsink stored the event."""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Optional

import flask_login
import pytest
from flask import Flask, request

from raven import Client
from raven.contrib.flask import Sentry
from raven.transport.http import HTTPTransport

pytestmark = pytest.mark.e2e

log = logging.getLogger("shop.checkout")


class PaymentDeclined(Exception):
    pass


class Customer(flask_login.UserMixin):
    def __init__(self, user_id: str, email: str) -> None:
        self.id = user_id
        self.email = email


CUSTOMERS = {"1001": Customer("1001", "ada@example.com")}


def make_shop() -> Flask:
    app = Flask("shop")
    app.config.update(SECRET_KEY="e2e-secret", SENTRY_USER_ATTRS=["email"])
    login = flask_login.LoginManager(app)

    @login.user_loader
    def load_customer(user_id: str) -> Optional[Customer]:
        return CUSTOMERS.get(user_id)

    @app.route("/login/<user_id>", methods=["POST"])
    def log_in(user_id: str) -> str:
        flask_login.login_user(CUSTOMERS[user_id])
        return "welcome"

    @app.route("/checkout", methods=["POST"])
    @flask_login.login_required
    def checkout() -> str:
        log.warning("checkout for %s", flask_login.current_user.email)
        raise PaymentDeclined("card declined for order %s" % request.form["order"])

    return app


def crumb_messages(event: Dict[str, Any]) -> List[Any]:
    crumbs = event.get("breadcrumbs") or []
    values = crumbs["values"] if isinstance(crumbs, dict) else crumbs
    return [crumb["message"] for crumb in values]


def test_a_failing_view_is_stored_with_its_request_scrubbed_and_the_logged_in_user(bugsink):
    client = Client(dsn=bugsink.dsn, transport=HTTPTransport, install_sys_hook=False)
    app = make_shop()
    sentry = Sentry(app, client=client)
    browser = app.test_client()
    assert browser.post("/login/1001").status_code == 200

    response = browser.post(
        "/checkout?step=pay",
        data={"order": "A-17", "password": "hunter2"},
        headers={"X-Request-Id": "req-7"},
    )

    assert response.status_code == 500
    event_id = response.headers["X-Sentry-ID"]
    assert event_id == sentry.last_event_id

    event = bugsink.wait_for_event(event_id)

    [value] = event["exception"]["values"]
    assert value["type"] == "PaymentDeclined"
    assert value["value"] == "card declined for order A-17"
    assert value["stacktrace"]["frames"][-1]["function"] == "checkout"

    req = event["request"]
    assert req["url"] == "http://localhost/checkout"
    assert req["method"] == "POST"
    assert req["query_string"] == "step=pay"
    assert req["headers"]["X-Request-Id"] == "req-7"
    assert req["data"] == {"order": "A-17", "password": "********"}
    assert "session" in req["cookies"]  # Flask-Login's signed session cookie

    assert event["user"]["id"] == "1001"
    assert event["user"]["email"] == "ada@example.com"
    assert event["transaction"] == "/checkout"
    assert crumb_messages(event) == ["checkout for ada@example.com"]
    assert "hunter2" not in json.dumps(event)
