"""`pgrec serve`: the REST API under uvicorn (`api.app:app_from_env`, one app per worker)."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from typing import Any

from pgrec.errors import CommandError


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    p = sub.add_parser("serve", help="serve the REST API (OpenAPI UI at /schema)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--lazy",
        action="store_true",
        help="load the model and build the vector snapshot on first use, not at startup",
    )
    p.add_argument(
        "--refresh-interval",
        type=float,
        default=5.0,
        help="seconds between snapshot freshness checks when no NOTIFY arrives (default 5)",
    )
    p.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import ENV_LAZY, ENV_REFRESH
    from db.engine import database_url

    if args.workers < 1:
        raise CommandError("--workers must be at least 1")
    if not 0 < args.port < 65536:
        raise CommandError("--port must be 1..65535")
    if args.refresh_interval <= 0:
        raise CommandError("--refresh-interval must be positive")
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
    try:
        uvicorn.run(
            "api.app:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
        )
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
