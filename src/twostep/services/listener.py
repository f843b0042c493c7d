"""The server's listening socket: bound before anything says "listening", handed to uvicorn."""

from __future__ import annotations

import errno
import socket

__all__ = ["PortUnavailable", "bind_listener", "where"]

# uvicorn's default: connections wait in this queue until a worker accepts them.
_BACKLOG = 2048


class PortUnavailable(Exception):
    """The address and port cannot be listened on; the message says why and what to change."""


def where(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_listener(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening (connections queue until workers accept),
    inheritable by uvicorn's worker processes; PortUnavailable when that cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a restart binds at once although the last run's connections linger in
    # TIME_WAIT (on Linux this never lets two live listeners share a port).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise PortUnavailable(_why(host, port, exc)) from exc
    sock.set_inheritable(True)
    return sock


def _why(host: str, port: int, exc: OSError) -> str:
    address = where(host, port)
    if isinstance(exc, socket.gaierror):
        return f"TWOSTEP_HOST {host!r} is not an address or a name that resolves"
    if exc.errno == errno.EADDRINUSE:
        return f"{address} is already in use by another process: stop it or change TWOSTEP_PORT"
    if exc.errno == errno.EACCES:
        return (
            f"{address}: a port below 1024 needs privileges (CAP_NET_BIND_SERVICE); "
            "use a higher TWOSTEP_PORT behind a proxy"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{address}: TWOSTEP_HOST {host} is not an address of this machine"
    return f"cannot listen on {address}: {exc.strerror or exc}"
