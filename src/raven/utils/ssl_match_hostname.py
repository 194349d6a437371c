"""``match_hostname``: check a peer certificate's names (``ssl.match_hostname`` left in 3.12).

raven 6.10 shipped a backport for Python 2; code that imported it keeps working.
"""

from __future__ import annotations

import ipaddress
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, List

__all__ = ["CertificateError", "match_hostname"]

#: version of the backport 6.10 shipped; kept for code that checks it
__version__ = "3.2.2"


class CertificateError(ValueError):
    """The certificate does not name the host that was connected to."""


def _dnsname_match(pattern: str, hostname: str) -> bool:
    """RFC 6125 matching: one leftmost ``*`` label at most, never across dots."""
    pattern, hostname = pattern.lower().rstrip("."), hostname.lower().rstrip(".")
    if "*" not in pattern:
        return pattern == hostname
    first, _, rest = pattern.partition(".")
    if "*" in rest or first.count("*") > 1 or not rest:
        return False
    host_first, _, host_rest = hostname.partition(".")
    if host_rest != rest:
        return False
    regex = "^" + re.escape(first).replace(r"\*", "[^.]*") + "$"
    return re.match(regex, host_first) is not None


def match_hostname(cert: Dict[str, Any], hostname: str) -> None:
    """Raise :class:`CertificateError` unless ``cert`` (``getpeercert()``) names ``hostname``."""
    if not cert:
        raise CertificateError("no certificate to match the host name against")
    try:
        host_ip: Any = ipaddress.ip_address(hostname)
    except ValueError:
        host_ip = None
    names: List[str] = []
    for kind, value in cert.get("subjectAltName", ()):
        if kind == "DNS":
            if host_ip is None and _dnsname_match(value, hostname):
                return
            names.append(value)
        elif kind == "IP Address":
            if host_ip is not None and ipaddress.ip_address(value.rstrip()) == host_ip:
                return
            names.append(value)
    if not names:
        # no subjectAltName: fall back to the commonName, as old certificates need
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    if host_ip is None and _dnsname_match(value, hostname):
                        return
                    names.append(value)
    if names:
        raise CertificateError(
            "hostname %r doesn't match %s" % (hostname, ", ".join(repr(n) for n in names))
        )
    raise CertificateError("no appropriate subjectAltName or commonName in the certificate")
