"""uvicorn's h11 protocol with a deadline for request headers (slow-header clients are dropped).

uvicorn arms its keep-alive timer only after a response; a client that connects and sends
half a request head (or nothing) holds the connection, and a worker slot, forever. This
protocol closes a connection whose request head has not fully arrived within
`HEADER_TIMEOUT_SECONDS` of the connection opening or of the previous response.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_SECONDS = 10.0


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle off on a TCP transport (a no-op for Unix sockets).

    With `--workers N`, uvicorn binds the socket itself as `socket.socket(AF_INET)`, whose
    `proto` is 0; asyncio only sets TCP_NODELAY on sockets whose proto is IPPROTO_TCP, so the
    accepted connections keep Nagle's algorithm. A response written as two segments (headers,
    then body) then waits for the ACK of the first, which the client delays by up to 40 ms on
    a kept-alive connection: 44 ms per request instead of 3 (a fresh connection per request
    hides it). One worker listens through `loop.create_server`, which gets this right.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class HeaderTimeoutProtocol(H11Protocol):
    """H11Protocol plus a request-head deadline; `pgrec serve` passes it as `http=`."""

    header_timeout = HEADER_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        # Still waiting for (the rest of) a request head: give up on this client.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # a whole request head arrived

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
