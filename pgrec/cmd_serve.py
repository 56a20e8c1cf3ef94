"""`pgrec serve`: the REST API under uvicorn (`api.app:app_from_env`, one app per worker)."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from typing import Any

from pgrec import serve_workers
from pgrec.args import command, flag, number
from pgrec.errors import CommandError

KEEP_ALIVE_SECONDS = 5
MAX_HEADER_BYTES = 64 * 1024


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    p = command(sub, "serve", _serve, help="serve the REST API (OpenAPI UI at /schema)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    number(p, "--port", 8000, "port")
    number(p, "--workers", 1, "worker processes")
    flag(p, "--lazy", "map or build the read model and load the model on first use, not at startup")
    number(
        p,
        "--refresh-interval",
        5.0,
        "seconds between liveness checks of the change listener when idle",
    )
    p.add_argument("--log-level", default="info", help="uvicorn log level (default info)")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import ENV_LAZY, ENV_REFRESH
    from api.auth import startup_problem
    from api.http_protocol import HeaderTimeoutProtocol
    from db.engine import database_url
    from db.settings import Settings

    if args.workers < 1:
        raise CommandError("--workers must be at least 1")
    if not 0 < args.port < 65536:
        raise CommandError("--port must be 1..65535")
    if args.refresh_interval <= 0:
        raise CommandError("--refresh-interval must be positive")
    problem = startup_problem(Settings())
    if problem is not None:
        raise CommandError(problem)
    os.environ[ENV_LAZY] = "1" if args.lazy else "0"
    os.environ[ENV_REFRESH] = str(args.refresh_interval)
    # Start the embedded server (when DATABASE_URL is unset) once, before workers race for it.
    os.environ.setdefault("DATABASE_URL", database_url())
    metrics_dir: str | None = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Workers share metric files so /metrics (answered by any worker) covers them all.
        metrics_dir = tempfile.mkdtemp(prefix="pgrec-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    _print_examples(args.host, args.port)
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "log_level": args.log_level,
        # TCP_NODELAY on every connection (api/http_protocol.set_nodelay: why). An idle
        # client is dropped after KEEP_ALIVE_SECONDS, one that stops in the middle of its
        # request head after HeaderTimeoutProtocol's deadline.
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "http": HeaderTimeoutProtocol,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        # uvloop, a dependency, when it imports; asyncio's loop otherwise (docs/serving.md).
        "loop": "auto",
    }
    try:
        if args.workers == 1:
            uvicorn.run("api.app:app_from_env", factory=True, **options)
        else:  # one listening socket per worker (pgrec/serve_workers.py: why)
            serve_workers.run(uvicorn.Config("api.app:app_from_env", factory=True, **options))
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _print_examples(host: str, port: int) -> None:
    shown = "localhost" if host in ("0.0.0.0", "::", "127.0.0.1") else host
    base = f"http://{shown}:{port}"
    print(
        "\n".join(
            [
                f"pgrec API on {base}  (OpenAPI UI: {base}/schema)",
                "try:",
                f"  curl '{base}/health/ready'",
                f"  curl '{base}/recommendations?mode=hybrid&q=space+adventure&n=5'",
                f"  curl '{base}/recommendations?mode=title&q=the+shawshenk+redemtion'",
                f"  curl '{base}/recommendations?mode=semantic&q=heist&category=Dramas"
                "&year_min=2015&fields=year,categories'",
                f"  curl '{base}/items/1/similar?n=5&diversity=0.3'",
                f"  curl -X POST '{base}/recommendations/from-items' "
                "-H 'content-type: application/json' -d '{\"positive\": [1, 2]}'",
                f"  curl '{base}/status'",
            ]
        ),
        flush=True,
    )
