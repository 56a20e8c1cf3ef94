"""The Litestar app factory: routes, errors, metrics, OpenAPI, and the snapshot lifespan.

`create_app(settings)` builds an app; its lifespan creates the engine, starts the refresher
(which maps or builds the read model and loads the model: at once by default, on demand
when lazy, then keeps it fresh) and stops it on shutdown. `app_from_env()` is the factory
`pgrec serve` gives uvicorn.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from api.auth import startup_problem
from api.background import running
from api.bodies import check_body
from api.console import console_routes, template_config
from api.controllers import CONTROLLERS
from api.errors import exception_handlers
from api.impressions import STATE_KEY as ONLINE_KEY
from api.impressions import Online
from api.metrics import Metrics
from api.options_allow import fix_options_allow
from api.planner import Planner
from api.ratelimit import rate_limit_middleware
from api.refresher import Refresher
from api.routing import LSN_HEADER, lsn_middleware
from api.runtime import EmbedderFactory, Runtime
from api.watchdog import watch_analysts
from db.settings import Settings, get_settings

log = logging.getLogger(__name__)

# `pgrec serve` passes its options to the worker processes through these variables.
ENV_LAZY = "PGREC_SERVE_LAZY"
ENV_REFRESH = "PGREC_SERVE_REFRESH_INTERVAL"
# Bodies above this answer 413 before they are read whole (a 5,000-item batch fits).
MAX_BODY_BYTES = 16 * 1024 * 1024


def create_app(
    settings: Settings | None = None,
    *,
    embedder_factory: EmbedderFactory | None = None,
    lazy: bool = False,
    refresh_interval: float = 5.0,
    debug: bool = False,
) -> Litestar:
    """A pgrec API app; `embedder_factory(model)` defaults to the real model loader."""
    settings = settings or get_settings()
    runtime = Runtime(settings, embedder_factory=embedder_factory, lazy=lazy, metrics=Metrics())
    planner = Planner(runtime)
    refresher = Refresher(runtime, interval=refresh_interval)
    online = Online(runtime)  # impressions, variants, online metrics (issue 17)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime.start()
        if not settings.write_keys:
            log.warning("no API key (PGREC_API_KEY), dev mode: write endpoints are open to anyone")

        async def refresh() -> None:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(watch_analysts, runtime)  # bounds analyst queries
                await refresher.run()
                tasks.cancel_scope.cancel()

        try:
            async with running(
                refresh, name="pgrec-read-model-refresher", what="the read model refresher"
            ):
                yield
        finally:
            await runtime.fast.close()
            await anyio.to_thread.run_sync(runtime.close)

    def provide_runtime() -> Runtime:
        return runtime

    def provide_planner() -> Planner:
        return planner

    app = Litestar(
        route_handlers=[*CONTROLLERS, *console_routes()],
        template_config=template_config(),
        dependencies={
            "runtime": Provide(provide_runtime, sync_to_thread=False, use_cache=True),
            "planner": Provide(provide_planner, sync_to_thread=False, use_cache=True),
        },
        exception_handlers=exception_handlers(),
        middleware=[
            runtime.metrics.middleware,
            rate_limit_middleware(settings),
            online.middleware,
            lsn_middleware,
        ],
        before_request=check_body,
        request_max_body_size=MAX_BODY_BYTES,
        lifespan=[lifespan, online.lifespan],
        state=State({"runtime": runtime, "refresher": refresher, ONLINE_KEY: online}),
        openapi_config=OpenAPIConfig(
            title="pgrec",
            version="0.1.0",
            description=(
                "Recommendations from Postgres + pgvector: semantic, full-text, title, hybrid, "
                "item-to-item, more-like-these and per-user, all under metadata filters. "
                f"Writes need an API key in the `{settings.api_key_header}` header; reads need"
                " one when a read key is configured (see the README's security section)."
                f"Writes answer with `{LSN_HEADER}` (their commit LSN); a read that sends it "
                "back sees that write, also when a replica serves it."
            ),
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        # Logging belongs to the host (`pgrec` CLI, uvicorn, pytest): don't replace its handlers.
        logging_config=None,
        debug=debug,
    )
    fix_options_allow(app)
    return app


def app_from_env() -> Litestar:
    """The uvicorn factory: settings from the environment, serve options from PGREC_SERVE_*."""
    lazy = os.environ.get(ENV_LAZY, "").lower() in {"1", "true", "yes"}
    interval = float(os.environ.get(ENV_REFRESH) or 5.0)
    settings = get_settings()
    problem = startup_problem(settings)
    if problem is not None:  # fail closed: `pgrec serve` checks first, this guards uvicorn
        raise SystemExit(problem)
    return create_app(settings, lazy=lazy, refresh_interval=interval)
