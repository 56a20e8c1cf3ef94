"""uvicorn's HTTP protocol with TCP_NODELAY on every connection, whatever the listening socket.

With `--workers N`, uvicorn binds the socket itself as `socket.socket(AF_INET)`, whose
`proto` is 0; asyncio only sets TCP_NODELAY on sockets whose proto is IPPROTO_TCP, so the
accepted connections keep Nagle's algorithm. A response written as two segments (headers,
then body) then waits for the ACK of the first, which the client delays by up to 40 ms on a
kept-alive connection: 44 ms per request instead of 3 (a fresh connection per request
hides it). One worker listens through `loop.create_server`, which gets this right.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle off on a TCP transport (a no-op for Unix sockets)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """The protocol uvicorn would pick ("auto"), with TCP_NODELAY set on connection."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        set_nodelay(transport)
        super().connection_made(transport)
