"""Where a webhook may be sent (SSRF): http(s) only, and never to a private, loopback,
link-local, multicast or reserved address unless the operator's allow-list names the host or
its network (``WEBHOOK_ALLOWED_HOSTS``, ``WEBHOOK_ALLOWED_NETWORKS``: on-premise partners).

The host is resolved when the endpoint is saved and again at each delivery, and the delivery
connects to the address that was checked: a name that resolves to a public address at save
time and to 127.0.0.1 later (DNS rebinding) is refused then.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _


class TargetRefused(Exception):
    """The URL may not be called; the message says why, in the reader's language."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str  # the checked IP address to connect to
    path: str


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _forbidden(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _allowed(host: str, address: IPAddress) -> bool:
    if host.lower() in {h.lower() for h in settings.WEBHOOK_ALLOWED_HOSTS}:
        return True
    return any(
        address in ipaddress.ip_network(net, strict=False) for net in settings.WEBHOOK_ALLOWED_NETWORKS
    )


def _resolve(host: str, port: int) -> list[str]:
    try:
        return [ipaddress.ip_address(host).compressed]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetRefused(_("The host %(host)s cannot be resolved.") % {"host": host}) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def target_check(url: str) -> Target:
    """The address to send to, or ``TargetRefused``. Every address the name resolves to must be
    allowed (an attacker's name may resolve to a public and a private one)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(_("Only http and https addresses are allowed."))
    host = parts.hostname or ""
    if not host:
        raise TargetRefused(_("The address has no host."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused(_("The address's port is not valid.")) from None
    if parts.username or parts.password:
        raise TargetRefused(_("The address may not contain a user name or password."))
    addresses = _resolve(host, port)
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if _forbidden(address) and not _allowed(host, address):
            raise TargetRefused(
                _("%(host)s is a private, loopback or reserved address (%(address)s): not allowed.")
                % {"host": host, "address": address}
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=parts.scheme, host=host, port=port, address=addresses[0], path=path)
