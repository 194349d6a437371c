"""``urlopen`` with raven's TLS options (6.10 kept it here for its urllib transport)."""

from __future__ import annotations

import ssl
import urllib.request

from raven.conf import defaults
from raven.utils.ssl_match_hostname import match_hostname

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Optional

__all__ = ["match_hostname", "urlopen"]


def _context(ca_certs: Optional[str], verify_ssl: bool, assert_hostname: Any) -> ssl.SSLContext:
    if not verify_ssl:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_certs is None:
        ca_certs = defaults.CA_BUNDLE or None
    context = ssl.create_default_context(cafile=ca_certs)
    # 6.10 checked certificates but never host names; assert_hostname=False keeps that opt-out
    context.check_hostname = assert_hostname is not False
    return context


def urlopen(
    url: Any,
    data: Optional[bytes] = None,
    timeout: float = 5,
    ca_certs: Optional[str] = None,
    verify_ssl: bool = False,
    assert_hostname: Any = None,
) -> Any:
    """Open ``url`` (a string or ``urllib.request.Request``); HTTPS is verified if asked.

    With ``verify_ssl`` the certificate is checked against ``ca_certs`` (certifi's bundle by
    default) and, unlike 6.10, so is the host name (pass ``assert_hostname=False`` to skip).
    """
    context = _context(ca_certs, verify_ssl, assert_hostname)
    return urllib.request.urlopen(url, data, timeout, context=context)
