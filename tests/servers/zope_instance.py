"""A real Zope 4+ instance for the Zope tests: ``mkwsgiinstance``, then ``make_wsgi_app``.

    conf = create_instance(tmp_path, zcml=SHOP_ZCML)
    app = make_app(conf)          # the WSGI publisher, ready for WebTest

Starting Zope loads its ZCML into the global component registry, opens a ZODB and changes
process-wide settings, so a process should start at most one instance: the tests call this
module from a subprocess. The views below are the instance's failing pages.

Run as a script (``python zope_instance.py report-failure``) it starts an instance wired as
a user would (``<include package="raven.contrib.zope" />``, ``SENTRY_DSN`` in the
environment), makes one failing request and prints what came back as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict

__all__ = ["SHOP_ZCML", "create_instance", "make_app"]

#: failing pages of the shop site, on every object (``for="*"``)
SHOP_ZCML = """\
<configure xmlns="http://namespaces.zope.org/zope"
           xmlns:browser="http://namespaces.zope.org/browser">
  <browser:page for="*" name="checkout" class="servers.zope_instance.Checkout"
                permission="zope2.View" />
  <browser:page for="*" name="missing" class="servers.zope_instance.Missing"
                permission="zope2.View" />
  <browser:page for="*" name="conflict" class="servers.zope_instance.Conflict"
                permission="zope2.View" />
  <browser:page for="*" name="admin-report" class="servers.zope_instance.AdminReport"
                permission="zope2.ViewManagementScreens" />
  <browser:page for="*" name="fine" class="servers.zope_instance.Fine"
                permission="zope2.View" />
</configure>
"""


class PaymentDeclined(Exception):
    pass


class _View:
    def __init__(self, context: Any, request: Any) -> None:
        self.context = context
        self.request = request


class Checkout(_View):
    """Declines the payment of the posted order."""

    def __call__(self) -> str:
        raise PaymentDeclined("card declined for order %s" % self.request.form.get("order"))


class Missing(_View):
    """Answers 404 the Zope way."""

    def __call__(self) -> str:
        from zExceptions import NotFound

        raise NotFound("no such order")


class Conflict(_View):
    """Always conflicts: Zope retries it, then gives up."""

    attempts = 0

    def __call__(self) -> str:
        from ZODB.POSException import ConflictError

        Conflict.attempts += 1
        raise ConflictError("conflict on attempt %d" % Conflict.attempts)


class AdminReport(_View):
    """A management page that fails for the logged-in manager."""

    def __call__(self) -> str:
        raise LookupError("report for %s is missing" % self.request["AUTHENTICATED_USER"])


class Fine(_View):
    """Works."""

    def __call__(self) -> str:
        return "fine"


def create_instance(directory: Path, zcml: str = SHOP_ZCML, raven_zcml: bool = False) -> Path:
    """Make a Zope instance (user ``admin``/``admin``) in ``directory``; return its zope.conf."""
    script = Path(sys.executable).with_name("mkwsgiinstance")
    subprocess.run(
        [str(script), "-d", str(directory), "-u", "admin:admin"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    includes = directory / "etc" / "package-includes"
    includes.mkdir(exist_ok=True)
    (includes / "shop-configure.zcml").write_text(zcml, encoding="utf-8")
    if raven_zcml:
        (includes / "raven-configure.zcml").write_text(
            '<configure xmlns="http://namespaces.zope.org/zope">\n'
            '  <include package="raven.contrib.zope" />\n'
            "</configure>\n",
            encoding="utf-8",
        )
    return directory / "etc" / "zope.conf"


def make_app(zope_conf: Path) -> Any:
    """Start Zope from ``zope_conf`` in this process; return its WSGI application."""
    from Zope2.Startup.run import make_wsgi_app

    return make_wsgi_app({}, str(zope_conf))


def _report_failure() -> Dict[str, Any]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # webob imports cgi (3.11+)
        import webtest

    import raven.contrib.zope

    # the views the ZCML names live in servers.zope_instance, not in this __main__ module
    from servers.zope_instance import PaymentDeclined as Declined

    with tempfile.TemporaryDirectory() as tmp:
        app = webtest.TestApp(make_app(create_instance(Path(tmp) / "site", raven_zcml=True)))
        app.set_cookie("__ac", "s3ss10n")
        try:
            app.post(
                "/checkout?step=pay",
                {"order": "A-17", "password": "hunter2"},
                headers={"X-Request-Id": "req-7"},
                extra_environ={"REMOTE_ADDR": "10.0.0.7"},
            )
            raised = None
        except Declined as exc:  # no exception view: Zope lets it out to the server
            raised = str(exc)
        client = raven.contrib.zope._default_reporter().client
        event_id = client.last_event_id
        client.close(10)  # deliver before the process ends
    return {"raised": raised, "event_id": event_id}


if __name__ == "__main__":
    if sys.argv[1:] != ["report-failure"]:
        sys.exit("usage: zope_instance.py report-failure   (SENTRY_DSN in the environment)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # "servers" for the ZCML
    print(json.dumps(_report_failure()))
