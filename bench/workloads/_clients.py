"""In-memory clients for S1/S2 that still pay for encoding the wire body.

Neither client touches the network, but each one turns every event into the
exact bytes its real HTTP transport would put on the wire:

* raven flavor (raven 6.10 and ours): a ``raven.base.Client`` subclass whose
  ``send()`` calls ``self.encode(data)`` (JSON + zlib in raven 6.10) and keeps
  the body, instead of handing it to a transport.  Everything before
  ``send()`` (event building, processors, sanitising) runs unchanged.
* sdk flavor: a ``sentry_sdk.transport.Transport`` subclass whose
  ``capture_envelope()`` serialises the envelope and gzips it at level 9,
  which is what the SDK's own ``HttpTransport`` does by default.

Both keep the last body so that a workload can decode one event and check
that stack frames and local variables really were captured.
"""
import gzip
import io

from _common import DSN


def make_raven_client(**options):
    from raven.base import Client

    class EncodingClient(Client):
        sent = 0
        last_body = b""

        def send(self, auth_header=None, **data):
            body = self.encode(data)
            self.last_body = body
            self.sent += 1

    options.setdefault("install_sys_hook", False)
    client = EncodingClient(DSN, **options)
    assert client.is_enabled(), "raven client is not enabled with the bench DSN"
    return client


def init_sdk(**options):
    import sentry_sdk
    from sentry_sdk.transport import Transport

    class EncodingTransport(Transport):
        sent = 0
        last_body = b""

        def capture_envelope(self, envelope):
            buf = io.BytesIO()
            with gzip.GzipFile(fileobj=buf, mode="w", compresslevel=9) as f:
                envelope.serialize_into(f)
            self.last_body = buf.getvalue()
            self.sent += 1

    options.setdefault("default_integrations", False)
    options.setdefault("include_local_variables", True)
    sentry_sdk.init(dsn=DSN, transport=EncodingTransport, **options)
    transport = sentry_sdk.get_client().transport
    assert isinstance(transport, EncodingTransport), transport
    return transport


def decode_event(flavor, sink):
    """Decode the last wire body back into the event dict."""
    if flavor == "sdk":
        from sentry_sdk.envelope import Envelope

        envelope = Envelope.deserialize(gzip.decompress(sink.last_body))
        return envelope.get_event()
    return sink.decode(sink.last_body)
