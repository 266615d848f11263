"""Where a webhook may post: anywhere public, never into the platform's own network unless the operator allows it.

The address is checked when an endpoint is saved and again at every send, and the request goes to the very address
that was checked (with the original host name for TLS and the Host header), so a DNS answer that changes between
the check and the connection cannot lead inside. Redirects are not followed, for the same reason.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(Exception):
    """The URL is malformed, does not resolve, or leads to an internal address that is not allowed."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the checked IP address the request goes to


def destination_check(url: str) -> Destination:
    """Resolve ``url`` and check every address it resolves to; raises DestinationRefused saying why."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DestinationRefused(f"{url!r} is not an http(s) URL such as https://hooks.example.com/onboarding")
    if parts.username or parts.password:
        raise DestinationRefused("credentials do not belong in the URL; the endpoint's secret signs each delivery")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise DestinationRefused(f"{parts.hostname} does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    allowed = [_is_allowed(_address(a)) for a in addresses]
    for address, ok in zip(addresses, allowed, strict=True):
        if not ok and _is_internal(_address(address)):
            raise DestinationRefused(
                f"{parts.hostname} resolves to {address}, an internal address; "
                "add its network to WEBHOOK_ALLOWED_NETWORKS if this is intended"
            )
    if parts.scheme == "http" and not all(allowed):
        raise DestinationRefused("use https; plain http is only for networks named in WEBHOOK_ALLOWED_NETWORKS")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, parts.hostname, port, path, addresses[0])


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
    """POST ``body`` to the checked address of ``url``; returns the HTTP status. Raises DestinationRefused, or
    urllib3's errors for a network failure or a timeout."""
    target = destination_check(url)
    limits = urllib3.Timeout(connect=min(timeout, 5.0), read=timeout)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            timeout=limits,
            retries=False,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=limits, retries=False)
    default_port = {"https": 443, "http": 80}[target.scheme]
    host = target.host if target.port == default_port else f"{target.host}:{target.port}"
    with pool:
        response = pool.urlopen(
            "POST", target.path, body=body, headers={"Host": host, **headers}, redirect=False, retries=False
        )
        return response.status


def _address(text: str) -> Address:
    address = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is not part of it
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _is_internal(address: Address) -> bool:
    # Not globally routable: loopback, private, link-local (cloud metadata), shared, reserved, unspecified.
    return not address.is_global or address.is_multicast


def _is_allowed(address: Address) -> bool:
    return any(address in ipaddress.ip_network(network) for network in settings.WEBHOOK_ALLOWED_NETWORKS)
