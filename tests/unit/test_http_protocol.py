"""A client that sends half a request head is dropped (issue 15: held open > 70 s before)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from litestar import Litestar, get

from api.http_protocol import HeaderTimeoutProtocol


class QuickTimeout(HeaderTimeoutProtocol):
    header_timeout = 0.5


@get("/ping", sync_to_thread=False)
def ping() -> str:
    return "pong"


@pytest.fixture
def port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = int(s.getsockname()[1])
    config = uvicorn.Config(
        Litestar([ping]), host="127.0.0.1", port=free, http=QuickTimeout, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield free
    server.should_exit = True
    thread.join(timeout=20)


def _closed_by_server(sock: socket.socket) -> bool:
    """True when the server closes the connection (recv sees EOF or a reset)."""
    sock.settimeout(15)  # far beyond the server's deadline: a hang fails the test
    try:
        while sock.recv(1024):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_half_sent_head_is_dropped(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")  # never finished
        assert _closed_by_server(sock)


def test_silent_connection_is_dropped(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert _closed_by_server(sock)


def test_whole_requests_are_served_on_a_kept_alive_connection(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(2):
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"pong" not in data:
                data += sock.recv(1024)
            assert data.startswith(b"HTTP/1.1 200")
