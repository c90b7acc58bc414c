"""Where a webhook may send: checked when it is registered and again at each delivery.

A target is an ``http`` or ``https`` URL whose host resolves only to addresses the Hub may call:

- public (globally routable) addresses always;
- private, loopback, link-local, shared or reserved ones only when ``COVE_WEBHOOK_ALLOW`` names them
  (comma-separated IP addresses, CIDR blocks or host names; ``*`` allows every address);
- never the Hub itself (its own port on a local address, or its public URL), whatever the list says:
  a webhook must not make the Hub call its own API.

At delivery the host is resolved again and the request goes to the address just checked (the URL's host
name stays in ``Host`` and in TLS's SNI), so a DNS answer that changes after the check (DNS rebinding)
cannot point a delivery at an address the list refuses.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from cove.errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL = 2048
HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?")


@dataclass(frozen=True)
class Allow:
    """``COVE_WEBHOOK_ALLOW`` parsed: networks, host names, or everything."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    hosts: frozenset[str] = frozenset()
    everything: bool = False

    @classmethod
    def parse(cls, text: str) -> Allow:
        networks, hosts, everything = [], set(), False
        for item in (i.strip() for i in text.split(",")):
            if not item:
                continue
            if item == "*":
                everything = True
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                if not HOST_NAME.fullmatch(item.lower()):
                    raise ValueError(f"COVE_WEBHOOK_ALLOW: {item!r} is neither an address, a CIDR block "
                                     "nor a host name") from None
                hosts.add(item.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts), everything)

    def permits(self, host: str, address: IPAddress) -> bool:
        if self.everything or address.is_global or host in self.hosts:
            return True
        address = getattr(address, "ipv4_mapped", None) or address
        return any(address in net for net in self.networks)


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``connect_url``, the address in place of the host) and what to
    tell the server (``host_header``, ``sni``)."""

    url: str
    connect_url: str
    host_header: str
    sni: str | None


def _host_port(url: str) -> tuple[str, str, int]:
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise BadRequest(f"A webhook needs a 'url' of at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BadRequest("A webhook's url must be http:// or https://")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise BadRequest(f"Invalid port in webhook url {url!r}") from None
    if not host or parts.username or parts.password:
        raise BadRequest("A webhook's url needs a host, and no user name or password in it")
    return parts.scheme, host.lower().rstrip("."), port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise BadRequest(f"The webhook's host {host!r} does not resolve") from None
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))


def _local(address: IPAddress) -> bool:
    if address.is_loopback or address.is_unspecified:
        return True
    try:
        return str(address) in {i[4][0] for i in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        return False


def check(url: str, allow: Allow, hub_port: int, hub_origins: tuple[str, ...]) -> Target:
    """The target of ``url`` if the Hub may deliver to it now; BadRequest (400) with the reason if not."""
    scheme, host, port = _host_port(url)
    origin = f"{scheme}://{host}:{port}"
    if origin in hub_origins:
        raise BadRequest("A webhook cannot point at this Hub itself")
    addresses = resolve(host, port)
    for address in addresses:
        if port == hub_port and _local(address):
            raise BadRequest("A webhook cannot point at this Hub itself")
        if not allow.permits(host, address):
            raise BadRequest(f"The webhook's host {host} resolves to {address}, an address this Hub does not "
                             "deliver to (an administrator may allow it with COVE_WEBHOOK_ALLOW)")
    address = addresses[0]
    parts = urlsplit(url)
    literal = f"[{address}]" if address.version == 6 else str(address)
    connect_url = urlunsplit((scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    default_port = port == (443 if scheme == "https" else 80)
    host_header = parts.hostname if default_port else f"{parts.hostname}:{port}"
    return Target(url, connect_url, host_header or host, host if scheme == "https" else None)


def origin_of(url: str) -> str:
    """``scheme://host:port`` of a URL, as :func:`check` compares them."""
    scheme, host, port = _host_port(url)
    return f"{scheme}://{host}:{port}"
