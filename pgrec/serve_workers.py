"""`pgrec serve --workers N`: uvicorn's supervisor, each worker with its own SO_REUSEPORT socket.

uvicorn's multiprocess mode binds one socket in the parent and shares it: every worker waits
on it, and the first to wake accepts every pending connection (asyncio accepts up to the
backlog per wake-up). Clients that keep connections alive, as every HTTP pool does, then
all talk to one worker while the others idle (measured: 2 workers served 1.06x the req/s of
one). Here every worker binds its own listening socket on the same port with SO_REUSEPORT
and the kernel spreads new connections over the workers that listen (by a hash of the
client address and port). A worker listens only once its app has started, so no connection
waits on a worker that is still loading. uvicorn's supervisor is kept as it is (restarts,
health pings, signals): the socket handed to each worker is a recipe that binds the
worker's own socket when the worker process unpickles it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from typing import Any, cast

from pgrec.errors import CommandError

log = logging.getLogger("uvicorn.error")


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT, not yet listening.

    proto=IPPROTO_TCP (uvicorn's own socket has 0) lets asyncio set TCP_NODELAY on every
    accepted connection.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_in_worker(host: str, port: int) -> socket.socket:
    """Run by unpickling in a new worker process: that worker's own socket."""
    from uvicorn.config import STARTUP_FAILURE

    try:
        return listening_socket(host, port)
    except OSError as err:
        log.error("worker could not bind %s:%d: %s", host, port, err)
        sys.exit(STARTUP_FAILURE)  # the supervisor stops instead of restarting it forever


class WorkerSocket:
    """Stands in for uvicorn's shared socket: each worker process binds its own on unpickling."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return _bind_in_worker, (self.host, self.port)


def check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on, another `pgrec serve` included.

    SO_REUSEPORT would otherwise let a second server (same user) join the first one's group
    and take half its connections. A plain bind fails against any listener on the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        try:
            probe.bind((host, port))
        except OSError as err:
            raise CommandError(f"cannot listen on {host}:{port}: {err.strerror}") from err


def run(config: Any) -> None:
    """Serve `config` (a uvicorn.Config with workers > 1) until SIGINT/SIGTERM."""
    from uvicorn.supervisors import Multiprocess

    check_port_free(config.host, config.port)
    recipe = cast("socket.socket", WorkerSocket(config.host, config.port))
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the workers stop, then we do
        Multiprocess(config, sockets=[recipe]).run()
