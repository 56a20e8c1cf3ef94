"""`pgrec db start|stop|status|url` and `pgrec migrate`: the database pgrec talks to."""

from __future__ import annotations

import argparse
from typing import Any

from db import embedded, embedded_replicas, migrate, vector_index
from db.engine import database_url, make_engine
from db.settings import get_settings
from pgrec.args import command, command_group, flag
from pgrec.errors import CommandError


def register(sub: Any) -> None:
    dbsub = command_group(sub, "db", help="the embedded PostgreSQL (or DATABASE_URL)")
    for name, fn, help_ in (
        ("start", _start, "start the embedded server (initdb on first use)"),
        ("stop", _stop, "stop the embedded server"),
        ("status", _status, "show whether it runs and where"),
        ("url", _url, "print the connection URL (for psql)"),
    ):
        p = command(dbsub, name, fn, help=help_)
        if name == "start":
            p.add_argument(
                "--replicas",
                type=int,
                default=0,
                metavar="N",
                help="also start N streaming replicas (pg_basebackup on first use)",
            )
        if name == "url":
            flag(p, "--replica", "the running replicas' URLs")

    m = command(sub, "migrate", _migrate, help="alembic upgrade to a revision (default head)")
    m.add_argument("revision", nargs="?", default="head")


def _start(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.database_url:
        print("DATABASE_URL is set: pgrec uses that server and starts none.")
        return 0
    print(embedded.start(settings.pgdata_dir))
    if args.replicas:
        try:
            urls = embedded_replicas.start(settings.pgdata_dir, args.replicas)
        except ValueError as err:
            raise CommandError(str(err)) from None
        for url in urls:
            print(url)
    return 0


def _stop(args: argparse.Namespace) -> int:
    settings = get_settings()
    replicas = embedded_replicas.stop(settings.pgdata_dir)
    stopped = embedded.stop(settings.pgdata_dir)
    print("stopped" if stopped else "not running")
    if replicas:
        print(f"stopped {replicas} replica(s)")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.database_url:
        print(f"external: DATABASE_URL={settings.database_url}")
        return 0
    st = embedded.status(settings.pgdata_dir)
    state = "running" if st.running else ("stopped" if st.initialized else "not initialized")
    print(f"embedded: {state} pgdata={st.pgdata}" + (f" pid={st.pid}" if st.pid else ""))
    if st.url is not None:
        print(f"url: {st.url}")
    for target in embedded_replicas.replica_dirs(settings.pgdata_dir):
        rep = embedded.status(target)
        print(f"replica: {'running' if rep.running else 'stopped'} pgdata={rep.pgdata}")
    return 0 if st.running else 1


def _url(args: argparse.Namespace) -> int:
    if not args.replica:
        print(database_url())
        return 0
    settings = get_settings()
    urls = (
        [u.strip() for u in settings.database_replica_urls.split(",") if u.strip()]
        if settings.database_url
        else embedded_replicas.urls(settings.pgdata_dir)
    )
    if not urls:
        raise CommandError("no replica is running (pgrec db start --replicas N)")
    for url in urls:
        print(url)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    url = database_url()
    try:
        migrate.upgrade(url, args.revision)
    except migrate.SquashedRevisionError as err:
        raise CommandError(str(err)) from err
    if args.revision == "head":
        # PGREC_VECTOR_STORAGE or PGREC_HNSW_EF_CONSTRUCTION changed since the indexes were
        # built (or they predate the setting): rebuild them, CONCURRENTLY (minutes at 1M).
        settings = get_settings()
        storage = settings.vector_storage
        engine = make_engine(url)
        try:
            for model in vector_index.sync_storage(engine, storage=storage):
                print(
                    f"rebuilt the HNSW index of model {model} with {storage} storage, "
                    f"ef_construction {settings.hnsw_ef_construction}"
                )
        finally:
            engine.dispose()
    return 0
