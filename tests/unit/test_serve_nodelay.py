"""`pgrec serve --workers N`: connections accepted on uvicorn's own socket get TCP_NODELAY."""

from __future__ import annotations

import asyncio
import socket

from api.http_protocol import HeaderTimeoutProtocol, set_nodelay


async def _accepted_nodelay(*, fix: bool) -> int:
    """TCP_NODELAY of a server-side connection accepted on a socket bound as uvicorn's
    multi-worker mode binds it (`socket.socket(AF_INET)`: proto 0)."""
    listener = socket.socket(family=socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            if fix:
                set_nodelay(transport)
            sock = transport.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
    try:
        _reader, writer = await asyncio.open_connection(*listener.getsockname())
        value = await asyncio.wait_for(seen, timeout=5)
        writer.close()
        return value
    finally:
        server.close()


def test_uvicorns_worker_socket_keeps_nagle_and_the_protocol_turns_it_off() -> None:
    assert asyncio.run(_accepted_nodelay(fix=False)) == 0  # why set_nodelay exists
    assert asyncio.run(_accepted_nodelay(fix=True)) != 0
    assert "set_nodelay" in HeaderTimeoutProtocol.connection_made.__code__.co_names
