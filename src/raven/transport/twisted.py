"""HTTP sends on the Twisted reactor (DSN scheme ``twisted+https``; needs ``raven[twisted]``).

Twisted is imported when the first event is sent, not with this module: importing
``twisted.internet.reactor`` installs the default reactor, which an application that picks
another one (asyncio, epoll) must be free to do before raven gets involved.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re

from raven.conf import defaults
from raven.exceptions import APIError
from raven.transport._green import guarded, report, report_success
from raven.transport.base import AsyncTransport
from raven.transport.http import _SYSTEM_CA, HTTPTransport, check_response

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Callable, Dict, List, Optional

__all__ = ["AsyncTransport", "HTTPTransport", "TwistedHTTPTransport", "has_twisted"]

#: whether Twisted is installed (looked up, not imported)
has_twisted = importlib.util.find_spec("twisted") is not None

_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


class TwistedHTTPTransport(AsyncTransport, HTTPTransport):
    """POSTs each event with a Twisted ``Agent`` over a pool of keep-alive connections.

    ``async_send`` may be called from any thread: off the reactor thread the request is
    handed over with ``reactor.callFromThread`` (and waits for the reactor to run, if it
    is not running yet). The outcome reaches the client's delivery policy:

    - a 2xx answer is a success (6.10 accepted only 200);
    - any other status is an :class:`~raven.exceptions.APIError` (``RateLimited`` for 429)
      carrying the status and the response headers, so ``Retry-After`` and
      ``X-Sentry-Rate-Limits`` are honoured (6.10 raised a bare ``Exception``);
    - no answer at all (connection refused or lost, TLS failure, DNS) is a
      :class:`ConnectionError`, and no answer within ``timeout`` a :class:`TimeoutError`:
      both mean "server unreachable" to the client, which keeps the event and retries (6.10
      passed a *list* of failures to the error callback).

    The client's ``flush()`` and ``close()`` wait for sends, so call them off the reactor
    thread (``threads.deferToThread(client.flush)``): the reactor must keep running for the
    sends to finish.

    Args:
        timeout: seconds to connect, and again to get the answer (DSN ``?timeout=``).
        verify_ssl: check the server certificate and host name (DSN ``?verify_ssl=0``).
        ca_certs: CA bundle path (file or directory), certifi's by default, or ``"system"``
            for the operating system's trust store. HTTPS needs ``twisted[tls]``.

    Proxies are not supported: Twisted's ``Agent`` cannot tunnel HTTPS through one, so the
    transport always connects directly and a ``?proxy=`` DSN option is refused at
    configuration time.

    Raises:
        ImportError: Twisted is not installed (``pip install raven[twisted]``).
    """

    scheme = ["twisted+http", "twisted+https"]

    def __init__(
        self,
        *args: Any,
        timeout: Any = defaults.TIMEOUT,
        verify_ssl: Any = True,
        ca_certs: Optional[str] = None,
    ) -> None:
        try:
            import twisted.web.client  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "%s needs Twisted: pip install raven[twisted] (%s)" % (type(self).__name__, e)
            ) from e
        super().__init__(*args, timeout=timeout, verify_ssl=verify_ssl, ca_certs=ca_certs, proxy="")
        self._agent: Any = None
        self._pool: Any = None

    # -- sending -----------------------------------------------------------------------------

    def async_send(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[..., Any],
        failure_cb: Callable[[BaseException], Any],
    ) -> None:
        """POST ``data`` from the reactor thread; never waits."""
        from twisted.python import threadable

        if threadable.isInIOThread():
            self._request(url, data, headers, success_cb, failure_cb)
        else:
            _reactor().callFromThread(self._request, url, data, headers, success_cb, failure_cb)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> None:
        """Run ``callback`` on the reactor thread after ``delay`` seconds (from any thread)."""
        from twisted.python import threadable

        reactor = _reactor()
        delay = max(float(delay), 0.0)
        if threadable.isInIOThread():
            reactor.callLater(delay, guarded(callback))
        else:
            reactor.callFromThread(reactor.callLater, delay, guarded(callback))

    def on_loop_thread(self) -> bool:
        """Whether this is the reactor's thread, where waiting for a send would stop it."""
        from twisted.python import threadable

        return bool(threadable.isInIOThread())

    def close(self) -> None:
        """Close the pooled keep-alive connections (the client's ``close`` calls it); a later
        send opens new ones."""
        pool, self._pool, self._agent = self._pool, None, None
        if pool is None:
            return
        if self.on_loop_thread():
            pool.closeCachedConnections()
        else:
            _reactor().callFromThread(pool.closeCachedConnections)

    def _request(
        self,
        url: str,
        data: bytes,
        headers: Dict[str, str],
        success_cb: Callable[..., Any],
        failure_cb: Callable[[BaseException], Any],
    ) -> None:
        from io import BytesIO

        from twisted.web.client import FileBodyProducer
        from twisted.web.http_headers import Headers

        try:
            request_headers = Headers(
                {k.encode("latin-1"): [v.encode("latin-1")] for k, v in headers.items()}
            )
            d = self._get_agent().request(
                b"POST", url.encode("ascii"), request_headers, FileBodyProducer(BytesIO(data))
            )
        except Exception as e:
            report(failure_cb, e)
            return
        d.addTimeout(self.timeout, _reactor(), onTimeoutCancel=_timed_out)
        d.addCallbacks(
            self._on_response,
            self._on_failure,
            callbackArgs=(success_cb, failure_cb),
            errbackArgs=(failure_cb,),
        )
        d.addErrback(_log_unexpected)

    def _on_response(
        self,
        response: Any,
        success_cb: Callable[..., Any],
        failure_cb: Callable[[BaseException], Any],
    ) -> None:
        try:
            status = response.code
            headers = _ResponseHeaders(
                (name.decode("latin-1").lower(), b", ".join(values).decode("latin-1"))
                for name, values in response.headers.getAllRawHeaders()
            )
            # read to the end even on success: the connection then goes back to the pool
            body = _read_body(response)
            body.addTimeout(self.timeout, _reactor(), onTimeoutCancel=_timed_out)
        except Exception as e:  # a response we cannot read: not a delivery
            report(failure_cb, e)
            return
        if 200 <= status < 300:
            body.addErrback(lambda failure: None)  # the content of a success is unused
            report_success(success_cb, _Answer(status, headers))
            return

        def refused(content: Optional[bytes]) -> None:
            try:
                check_response(status, headers, content)
                # 1xx/3xx: check_response lets them pass, but the event was not stored
                raise APIError("HTTP %s" % status, status, headers)
            except APIError as e:
                report(failure_cb, e)

        body.addCallbacks(refused, lambda failure: refused(None))
        body.addErrback(_log_unexpected)

    def _on_failure(self, failure: Any, failure_cb: Callable[[BaseException], Any]) -> None:
        report(failure_cb, _as_network_error(failure.value))

    # -- the agent ---------------------------------------------------------------------------

    def _get_agent(self) -> Any:
        if self._agent is None:
            from twisted.web.client import Agent, HTTPConnectionPool
            from twisted.web.iweb import IPolicyForHTTPS

            reactor = _reactor()
            policy = _LazyTLSPolicy(self)
            _zope_interface().directlyProvides(policy, IPolicyForHTTPS)
            self._pool = HTTPConnectionPool(reactor, persistent=True)
            self._agent = Agent(
                reactor,
                contextFactory=policy,
                connectTimeout=self.timeout,
                pool=self._pool,
            )
        return self._agent

    def _tls_policy(self) -> Any:
        """The ``IPolicyForHTTPS`` for ``verify_ssl``/``ca_certs`` (needs ``twisted[tls]``)."""
        try:
            from twisted.web.client import BrowserLikePolicyForHTTPS
        except ImportError as e:  # pragma: no cover - part of Twisted itself
            raise ImportError("HTTPS needs twisted[tls]: pip install raven[twisted] (%s)" % e)
        try:
            import OpenSSL  # noqa: F401
            import service_identity  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "%s: HTTPS needs pyOpenSSL and service_identity: "
                "pip install raven[twisted] (%s)" % (type(self).__name__, e)
            ) from e
        if not self.verify_ssl:
            return _no_verification_policy()
        if self.ca_certs == _SYSTEM_CA:
            return BrowserLikePolicyForHTTPS()  # the platform's trust store
        bundle = self.ca_certs or defaults.CA_BUNDLE
        if not bundle:
            return BrowserLikePolicyForHTTPS()
        from twisted.internet.ssl import trustRootFromCertificates

        return BrowserLikePolicyForHTTPS(trustRoot=trustRootFromCertificates(_load_pem(bundle)))


#: bytes of a refusal's body kept for its reason (the rest is read and discarded)
MAX_REASON_BYTES = 64 * 1024


def _read_body(response: Any) -> Any:
    """A Deferred firing with (the start of) the response body once it is all read.

    Twisted's ``readBody`` warns (an error under ``-W error``) that the Agent's response
    transport has no ``abortConnection``; this reader needs neither that nor the whole body.
    Cancelling it (a timeout) stops the transfer.
    """
    from twisted.internet.defer import Deferred

    collector: Any = None

    def cancel(deferred: Any) -> None:
        transport = getattr(collector, "transport", None)
        if transport is not None:
            transport.stopProducing()

    finished: Any = Deferred(cancel)
    collector = _body_collector_class()(finished)
    response.deliverBody(collector)
    return finished


@functools.cache
def _body_collector_class() -> type:
    from twisted.internet.protocol import Protocol
    from twisted.web.client import PotentialDataLoss, ResponseDone

    class BodyCollector(Protocol):
        def __init__(self, finished: Any) -> None:
            self.finished = finished
            self.chunks: List[bytes] = []
            self.size = 0

        def dataReceived(self, data: bytes) -> None:
            if self.size < MAX_REASON_BYTES:
                chunk = data[: MAX_REASON_BYTES - self.size]
                self.chunks.append(chunk)
                self.size += len(chunk)

        def connectionLost(self, reason: Any = None) -> None:
            if self.finished.called:  # cancelled (timed out) already
                return
            if reason is None or reason.check(ResponseDone, PotentialDataLoss):
                self.finished.callback(b"".join(self.chunks))
            else:
                self.finished.errback(reason)

    return BodyCollector


class _LazyTLSPolicy:
    """Builds the TLS policy at the first HTTPS connection: plain-HTTP users need neither
    pyOpenSSL nor the ~150 certificates of the CA bundle parsed."""

    def __init__(self, transport: TwistedHTTPTransport) -> None:
        self._transport = transport
        self._policy: Any = None

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        if self._policy is None:
            self._policy = self._transport._tls_policy()
        return self._policy.creatorForNetloc(hostname, port)


def _no_verification_policy() -> Any:
    """A policy that encrypts without checking who answers (``verify_ssl=0``)."""
    from OpenSSL import SSL
    from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
    from twisted.internet.ssl import CertificateOptions
    from twisted.web.iweb import IPolicyForHTTPS

    implementer = _zope_interface().implementer
    context = CertificateOptions(verify=False).getContext()

    @implementer(IOpenSSLClientConnectionCreator)
    class Creator:
        def __init__(self, hostname: bytes) -> None:
            self.hostname = hostname

        def clientConnectionForTLS(self, tls_protocol: Any) -> Any:
            connection = SSL.Connection(context, None)
            connection.set_app_data(tls_protocol)
            if not _is_ip_address(self.hostname):
                connection.set_tlsext_host_name(self.hostname)  # SNI, as verified HTTPS does
            return connection

    @implementer(IPolicyForHTTPS)
    class NoVerification:
        def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
            return Creator(hostname)

    return NoVerification()


def _reactor() -> Any:
    """The installed reactor (the default one is installed now if none was)."""
    from twisted.internet import reactor

    return reactor


def _zope_interface() -> Any:
    import importlib

    return importlib.import_module("zope.interface")


def _is_ip_address(hostname: bytes) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(hostname.decode("ascii").strip("[]"))
    except ValueError:
        return False
    return True


def _load_pem(path: str) -> List[Any]:
    """The certificates of a PEM bundle file, or of every file in a CA directory."""
    from twisted.internet.ssl import Certificate

    if os.path.isdir(path):
        files = [os.path.join(path, name) for name in sorted(os.listdir(path))]
    else:
        files = [path]
    certificates = []
    for name in files:
        try:
            with open(name, "rb") as f:
                content = f.read()
        except OSError:
            if name == path:
                raise
            continue  # an unreadable entry of a CA directory
        for block in _PEM_CERTIFICATE.findall(content):
            certificates.append(Certificate.loadPEM(block))
    if not certificates:
        raise ValueError("ca_certs: no PEM certificate found in %r" % path)
    return certificates


class _Answer:
    """What a success callback may look at: the status and the headers (rate limits)."""

    __slots__ = ("headers", "status")

    def __init__(self, status: int, headers: _ResponseHeaders) -> None:
        self.status = status
        self.headers = headers


class _ResponseHeaders(dict):
    """A refusal's response headers, keyed by lower-case name; ``get`` ignores case."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> Any:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name.lower() if isinstance(name, str) else name)


def _as_network_error(value: BaseException) -> BaseException:
    """A failure to get an answer as a :class:`ConnectionError` (the client retries those);
    anything else (a bug, a bad URL) as it is."""
    from twisted.internet import defer, error
    from twisted.web.client import (
        RequestNotSent,
        RequestTransmissionFailed,
        ResponseFailed,
    )

    if isinstance(value, OSError) and type(value).__module__ == "builtins":
        return value  # ours (a timeout), already what the client retries
    if isinstance(value, (ResponseFailed, RequestTransmissionFailed)):
        # ResponseNeverReceived is a ResponseFailed; each wraps the underlying failures
        detail = "; ".join(_describe(reason.value) for reason in value.reasons) or "no reason"
    elif isinstance(
        value,
        (
            error.ConnectError,  # refused, DNS, connect timeout, ...
            error.ConnectionLost,
            error.ConnectionDone,
            error.TimeoutError,
            defer.TimeoutError,  # Deferred.addTimeout: no answer within ``timeout``
            defer.CancelledError,
            RequestNotSent,
            OSError,
        ),
    ):
        detail = _describe(value)
    else:
        return value
    wrapped = ConnectionError("%s: %s" % (type(value).__name__, detail))
    wrapped.__cause__ = value
    return wrapped


def _timed_out(result: Any, timeout: float) -> Any:
    """``Deferred.addTimeout``'s verdict: the cancelled request (whatever the Agent made of
    the cancellation) becomes a :class:`TimeoutError`, which the client retries."""
    from twisted.python.failure import Failure

    if isinstance(result, Failure):
        return Failure(TimeoutError("no answer from the server within %s seconds" % timeout))
    return result


def _describe(value: BaseException) -> str:
    text = str(value).strip()
    return "%s(%s)" % (type(value).__name__, text) if text else type(value).__name__


def _log_unexpected(failure: Any) -> None:
    import logging

    logging.getLogger("sentry.errors").error(
        "raven: the Twisted transport failed", exc_info=failure.value
    )
