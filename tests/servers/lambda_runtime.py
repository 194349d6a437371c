"""A fake AWS Lambda Runtime API on 127.0.0.1, for running handlers under the real runtime loop.

    with FakeRuntimeAPI() as api:
        request_id = api.invoke({"path": "/orders/7"})
        # python -m awslambdaric module.handler, with AWS_LAMBDA_RUNTIME_API=api.address
        result = api.wait_for_result(request_id)   # .kind is "response" or "error"

It speaks the part of the Runtime API that ``awslambdaric``'s loop uses
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): ``GET
/2018-06-01/runtime/invocation/next`` hands out the queued invocations one at a time with the
``Lambda-Runtime-*`` headers (and waits, as the real one does, while none is queued);
``POST /2018-06-01/runtime/invocation/<id>/response`` and ``…/error`` record the outcome, and
``POST /2018-06-01/runtime/init/error`` records a failed start. The AWS Runtime Interface
Emulator is not needed (nor available here).

Standard library only; the server runs in a thread of the test process.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import queue
import re
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

__all__ = ["FakeRuntimeAPI", "Invocation", "Outcome"]

_PREFIX = "/2018-06-01/runtime"
_RESULT = re.compile(r"^%s/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$" % _PREFIX)


@dataclasses.dataclass
class Invocation:
    """One queued invocation: the event and what the runtime learns from the headers."""

    request_id: str
    event: Any
    deadline_ms: int
    function_arn: str
    client_context: Optional[Dict[str, Any]] = None
    cognito_identity: Optional[Dict[str, Any]] = None


@dataclasses.dataclass
class Outcome:
    """What the runtime posted for an invocation (``kind``: ``response`` or ``error``)."""

    request_id: str
    kind: str
    body: Any
    headers: Dict[str, str]
    received_at: float
    #: what the ``on_outcome`` hook returned, computed before the runtime got its answer
    observed: Any = None


class FakeRuntimeAPI:
    """The Runtime API server; ``address`` is the ``host:port`` for ``AWS_LAMBDA_RUNTIME_API``.

    Args:
        on_outcome: called with each :class:`Outcome` while the runtime's POST is still
            waiting for its answer (so it sees the world as it was when the runtime posted);
            its return value is kept as ``outcome.observed``.
    """

    def __init__(self, on_outcome: Optional[Callable[[Outcome], Any]] = None) -> None:
        self.on_outcome = on_outcome
        self.init_errors: List[Any] = []
        self._queue: queue.Queue[Invocation] = queue.Queue()
        self._outcomes: Dict[str, Outcome] = {}
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def address(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return "%s:%d" % (host, port)

    def start(self) -> FakeRuntimeAPI:
        api = self

        class Handler(_Handler):
            runtime = api

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-lambda-runtime-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; a runtime still waiting for its next invocation gets a 500."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeRuntimeAPI:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def invoke(
        self,
        event: Any,
        timeout_ms: int = 30_000,
        client_context: Optional[Dict[str, Any]] = None,
        cognito_identity: Optional[Dict[str, Any]] = None,
    ) -> str:
        """Queue an invocation of ``event``; returns its request id."""
        request_id = str(uuid.uuid4())
        self._queue.put(
            Invocation(
                request_id=request_id,
                event=event,
                deadline_ms=int(time.time() * 1000) + timeout_ms,
                function_arn="arn:aws:lambda:eu-west-1:123456789012:function:shop",
                client_context=client_context,
                cognito_identity=cognito_identity,
            )
        )
        return request_id

    def wait_for_result(self, request_id: str, timeout: float = 30.0) -> Outcome:
        """The outcome the runtime posted for ``request_id``; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while request_id not in self._outcomes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        "the runtime posted no outcome for %s within %.0f s" % (request_id, timeout)
                    )
                self._cond.wait(remaining)
            return self._outcomes[request_id]

    # -- called by the handler threads ----------------------------------------------------------

    def _next(self) -> Optional[Invocation]:
        while not self._stopping.is_set():
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def _observe(self, outcome: Outcome) -> None:
        if self.on_outcome is not None:
            outcome.observed = self.on_outcome(outcome)

    def _record(self, outcome: Outcome) -> None:
        with self._cond:
            self._outcomes[outcome.request_id] = outcome
            self._cond.notify_all()


class _Handler(http.server.BaseHTTPRequestHandler):
    runtime: FakeRuntimeAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(
        self, status: int, body: bytes = b"", headers: Optional[Dict[str, str]] = None
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the runtime process was stopped

    def do_GET(self) -> None:
        if self.path != _PREFIX + "/invocation/next":
            self._answer(404)
            return
        invocation = self.runtime._next()
        if invocation is None:
            self._answer(500, b'{"errorMessage": "the fake Runtime API is stopping"}')
            return
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
        }
        if invocation.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = json.dumps(invocation.client_context)
        if invocation.cognito_identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = json.dumps(invocation.cognito_identity)
        self._answer(200, json.dumps(invocation.event).encode("utf-8"), headers)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        if self.path == _PREFIX + "/init/error":
            self.runtime.init_errors.append(body)
            self._answer(202, b"{}")
            return
        match = _RESULT.match(self.path)
        if match is None:
            self._answer(404)
            return
        outcome = Outcome(
            request_id=match.group("id"),
            kind=match.group("kind"),
            body=body,
            headers=dict(self.headers.items()),
            received_at=time.monotonic(),
        )
        self.runtime._observe(outcome)  # while the runtime still waits for the answer
        self._answer(202, b'{"status": "OK"}')
        self.runtime._record(outcome)
