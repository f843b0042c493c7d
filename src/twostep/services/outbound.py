"""Calls to the outside world (spec 3b.6): only to public addresses, checked on the address
actually connected to.

A destination is judged on every address its host resolves to: each must be public (not
loopback, private, link-local, unique-local, multicast, unspecified or reserved, also when
wrapped in IPv6) unless a network of ``TWOSTEP_WEBHOOK_ALLOWED_NETWORKS`` admits it; plain
http is only for admitted addresses. ``post`` resolves once, checks, and connects to the
checked address itself, keeping the name for TLS (SNI, certificate) and the Host header, so
that a second answer of the DNS (rebinding) is never asked for.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Final, Literal

import httpx

from twostep.services.runtime import Runtime
from twostep.settings import Network, Settings

__all__ = [
    "INTERNAL",
    "NOT_A_URL",
    "NOT_HTTPS",
    "DestinationRefused",
    "IPAddress",
    "Refusal",
    "admitted",
    "check_destination",
    "post",
]

IPAddress = IPv4Address | IPv6Address

# Why a destination is refused: a stable code each (the admin console shows its own text for
# it), and the English message of the API.
Refusal = Literal["not_https", "not_http_url", "internal_address"]
NOT_HTTPS: Final = "not_https"
NOT_A_URL: Final = "not_http_url"
INTERNAL: Final = "internal_address"
_REASONS: dict[Refusal, str] = {
    NOT_HTTPS: "must be an https URL (http only for networks the server allows)",
    NOT_A_URL: "must be an http or https URL",
    INTERNAL: "must not reach a loopback, private or otherwise internal address",
}
_NAT64 = IPv6Network("64:ff9b::/96")
_LOOPBACK = IPv4Address("127.0.0.1")


class DestinationRefused(Exception):
    """The URL may not be called: ``code`` says why, ``reason`` in English."""

    def __init__(self, code: Refusal) -> None:
        self.code: Refusal = code
        self.reason = _REASONS[code]
        super().__init__(self.reason)


class _Unresolved(Exception):
    """The host name does not resolve at this moment."""


def _embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), else the address itself."""
    if isinstance(address, IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _public(address: IPAddress) -> bool:
    inner = _embedded(address)
    return all(
        candidate.is_global
        and not (
            candidate.is_multicast
            or candidate.is_private
            or candidate.is_reserved
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_unspecified
            or (isinstance(candidate, IPv6Address) and candidate.is_site_local)
        )
        for candidate in {address, inner}
    )


def admitted(address: IPAddress, *, https: bool, allowed: tuple[Network, ...]) -> bool:
    """Whether a call may connect to ``address``: an allowed network, or public over https."""
    inner = _embedded(address)
    if any(candidate in network for network in allowed for candidate in {address, inner}):
        return True
    return https and _public(address)


def _is_localhost(host: str) -> bool:
    # RFC 6761: localhost names are loopback whatever a resolver says about them (we take
    # 127.0.0.1, the address connected to, whether or not ::1 would answer too).
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


async def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` stands for; OSError (socket.gaierror) when it does not resolve."""
    try:
        return [ip_address(host)]
    except ValueError:
        pass
    if _is_localhost(host):
        return [_LOOPBACK]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # An IPv6 answer may carry a zone ("fe80::1%eth0"): the address is what comes before it.
    return list(dict.fromkeys(ip_address(str(info[4][0]).split("%")[0]) for info in infos))


def _parse(url: str) -> httpx.URL:
    """``url`` as the HTTP client reads it (what is checked is what is called)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise DestinationRefused(NOT_A_URL) from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise DestinationRefused(NOT_A_URL)
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise DestinationRefused(NOT_A_URL)
    return parsed


async def _checked(settings: Settings, url: httpx.URL) -> list[IPAddress]:
    """The addresses of ``url``'s host, all admitted; else DestinationRefused (or _Unresolved
    when the name does not resolve at this moment)."""
    https = url.scheme == "https"
    try:
        host = url.raw_host.decode("ascii")
        addresses = await _resolve(host, url.port or (443 if https else 80))
    except (OSError, UnicodeError, ValueError):
        raise _Unresolved() from None
    if not addresses:
        raise _Unresolved()
    for address in addresses:
        if not admitted(address, https=https, allowed=settings.webhook_allowed_networks):
            raise DestinationRefused(INTERNAL if https else NOT_HTTPS)
    return addresses


async def check_destination(settings: Settings, url: str) -> None:
    """Refuse ``url`` now if it is or resolves to an address no call may reach.

    A name that does not resolve at this moment is accepted when it is https (``post`` judges
    it again); plain http must resolve to an allowed network.
    """
    parsed = _parse(url)
    try:
        await _checked(settings, parsed)
    except _Unresolved:
        if parsed.scheme != "https":
            raise DestinationRefused(NOT_HTTPS) from None


@asynccontextmanager
async def post(
    rt: Runtime,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeouts: httpx.Timeout,
) -> AsyncIterator[httpx.Response]:
    """POST to ``url`` on a checked address, streamed (the body is never read).

    DestinationRefused when the host is or resolves to an address no call may reach (a name
    that does not resolve is httpx.ConnectError); redirects are never followed.
    """
    target = _parse(url)
    try:
        addresses = await _checked(rt.settings, target)
    except _Unresolved:
        raise httpx.ConnectError("the host name does not resolve") from None
    address = addresses[0]
    request = rt.http.build_request(
        "POST",
        target.copy_with(host=str(address)),
        content=content,
        headers={
            **headers,
            "Host": target.netloc.decode("ascii"),
            # A fresh connection each time: a pooled one may have been opened (and its
            # certificate checked) for another name on the same address.
            "Connection": "close",
        },
        timeout=timeouts,
        extensions={"sni_hostname": target.raw_host.decode("ascii")},
    )
    response = await rt.http.send(request, stream=True, follow_redirects=False)
    try:
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if peer is not None and ip_address(str(peer[0]).split("%")[0]) != address:
            # Something between (a proxy) chose another address: not the one we checked.
            raise DestinationRefused(INTERNAL)
        yield response
    finally:
        await response.aclose()
