"""Whose address a request carries (spec 3b.4): the one place the routers learn it.

The peer's address is the TCP connection's. ``X-Forwarded-For`` and ``Forwarded`` are read only
when the peer is one of ``TWOSTEP_TRUSTED_PROXIES``, from the right: the first address that is
not itself a trusted proxy is the end user's (anything to its left could be forged by them).
A backend calling the management API may name its end user in ``Twostep-Forwarded-For``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address

from fastapi import Request

from twostep.errors import ValidationFailed
from twostep.services.runtime import Actor
from twostep.settings import Network

__all__ = [
    "BACKEND_FORWARDED_FOR",
    "BAD_FORWARDED_FOR",
    "Address",
    "backend_actor",
    "client_address",
    "end_user_actor",
]

BACKEND_FORWARDED_FOR = "Twostep-Forwarded-For"
BAD_FORWARDED_FOR = "The Twostep-Forwarded-For header must be one IP address."
# RFC 7239 section 4: the for= parameter of one forwarded-element, maybe quoted.
_FORWARDED_FOR = re.compile(r'(?i)(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)')

Address = IPv4Address | IPv6Address


def _address(value: str) -> Address | None:
    """A bare IP address, or None; an IPv4 address tunnelled in IPv6 is counted as itself."""
    try:
        address = ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# Every request parses its peer's address, and most come from a few (a backend, the proxies):
# remembered, bounded against a flood of distinct forged headers.
@lru_cache(maxsize=4096)
def _parse(value: str) -> Address | None:
    """An address of a forwarding header (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``)."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:
        value = value.split(":")[0]
    return _address(value)


def _hops(request: Request) -> list[str]:
    """The forwarding chain the proxies wrote, left (first client) to right (last proxy)."""
    forwarded = request.headers.getlist("forwarded")
    if forwarded:
        elements = [e for header in forwarded for e in header.split(",")]
        return [m.group(1) if (m := _FORWARDED_FOR.search(e)) else "" for e in elements]
    return [
        hop for header in request.headers.getlist("x-forwarded-for") for hop in header.split(",")
    ]


def _trusted(address: Address, proxies: tuple[Network, ...]) -> bool:
    return any(address in network for network in proxies)


def client_address(request: Request, proxies: tuple[Network, ...]) -> str | None:
    """The address of whoever sent the request: the peer's, or past trusted proxies the
    right-most forwarded address that is not one of them."""
    peer = _parse(request.client.host) if request.client else None
    if peer is None:
        return request.client.host if request.client else None
    address = peer
    if not proxies:
        return str(address)
    hops = _hops(request)
    while _trusted(address, proxies) and hops:
        hop = _parse(hops.pop())
        if hop is None:
            # An unreadable hop ("unknown", an obfuscated name): the last proxy is all we know.
            break
        address = hop
    return str(address)


def _runtime_proxies(request: Request) -> tuple[Network, ...]:
    proxies: tuple[Network, ...] = request.app.state.runtime.settings.trusted_proxies
    return proxies


def end_user_actor(request: Request, name: str) -> Actor:
    """Who asks on the journey API, the hosted pages or OAuth: an end user, whose address the
    per-IP limits count."""
    return Actor.end_user(name, client_address(request, _runtime_proxies(request)))


def backend_actor(request: Request, name: str) -> Actor:
    """Who asks on the management API: a tenant's backend, never counted by its own address;
    the end user it names in ``Twostep-Forwarded-For`` is."""
    ip = client_address(request, _runtime_proxies(request))
    named = request.headers.getlist(BACKEND_FORWARDED_FOR)
    if not named:
        return Actor(name, ip)
    end_user = _address(named[0]) if len(named) == 1 else None
    if end_user is None:
        raise ValidationFailed(
            BAD_FORWARDED_FOR,
            errors=[
                {"loc": ["header", BACKEND_FORWARDED_FOR], "msg": "not an IP address", "type": "ip"}
            ],
        )
    return Actor(name, ip, str(end_user))
