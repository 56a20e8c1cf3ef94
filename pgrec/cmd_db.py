"""`pgrec db start|stop|status|url` and `pgrec migrate`: the database pgrec talks to."""

from __future__ import annotations

import argparse
from typing import Any

from db import embedded, migrate
from db.engine import database_url
from db.settings import get_settings
from pgrec.args import command_group


def register(sub: Any) -> None:
    dbsub = command_group(sub, "db", help="the embedded PostgreSQL (or DATABASE_URL)")
    for name, fn, help_ in (
        ("start", _start, "start the embedded server (initdb on first use)"),
        ("stop", _stop, "stop the embedded server"),
        ("status", _status, "show whether it runs and where"),
        ("url", _url, "print the connection URL (for psql)"),
    ):
        p = dbsub.add_parser(name, help=help_)
        p.set_defaults(func=fn)

    m = sub.add_parser("migrate", help="alembic upgrade to a revision (default head)")
    m.add_argument("revision", nargs="?", default="head")
    m.set_defaults(func=_migrate)


def _start(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.database_url:
        print("DATABASE_URL is set: pgrec uses that server and starts none.")
        return 0
    print(embedded.start(settings.pgdata_dir))
    return 0


def _stop(args: argparse.Namespace) -> int:
    settings = get_settings()
    stopped = embedded.stop(settings.pgdata_dir)
    print("stopped" if stopped else "not running")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.database_url:
        print(f"external: DATABASE_URL={settings.database_url}")
        return 0
    st = embedded.status(settings.pgdata_dir)
    state = "running" if st.running else ("stopped" if st.initialized else "not initialized")
    print(f"embedded: {state} pgdata={st.pgdata}" + (f" pid={st.pid}" if st.pid else ""))
    if st.running and st.socket_dir is not None:
        print(f"url: {embedded.url_for(st.socket_dir)}")
    return 0 if st.running else 1


def _url(args: argparse.Namespace) -> int:
    print(database_url())
    return 0


def _migrate(args: argparse.Namespace) -> int:
    migrate.upgrade(database_url(), args.revision)
    return 0
