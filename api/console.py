"""/console: one server-rendered page for operators: catalog and embedding coverage, job runs,
the snapshot, latency and throughput, online metrics per variant, and a "try it" panel.

Charts are inline SVG made here (api/charts.py); the panel is a little plain JavaScript
served from /console/static (no build step, nothing from a CDN). With PGREC_READ_KEY set
the page needs a read or write key: in the X-API-Key header, or once as `?key=` (then
kept in an HTTP-only cookie for the session).
"""

from __future__ import annotations

import datetime as dt
import hmac
import time
from pathlib import Path
from typing import Any

from litestar import Controller, MediaType, Request, Response, get
from litestar.datastructures import Cookie
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler

from api.charts import bar_chart, line_chart
from api.controllers.system import status_report
from api.impressions import STATE_KEY, Online
from api.online_metrics import QUALITY_SAMPLE
from api.params import Injected
from api.runtime import Runtime
from db import console as queries
from db import impressions as store
from db.settings import Settings

HERE = Path(__file__).parent
COOKIE = "pgrec_key"
MODES = ("hybrid", "semantic", "terms", "title", "similar", "more_like", "user")
LOGIN = """<!doctype html><meta charset="utf-8"><title>pgrec console</title>
<h1>pgrec console</h1><p>{why}</p>
<form method="get" action="/console"><label>Read key <input name="key" type="password"></label>
<button>Open</button></form>"""


def read_keys(settings: Settings) -> tuple[str, ...]:
    """Keys that open the console: the read keys and the write keys (a write key reads too)."""
    writes = tuple(k.strip() for k in (settings.api_key or "").split(",") if k.strip())
    return settings.read_keys + writes


def key_matches(given: str, keys: tuple[str, ...]) -> bool:
    """`given` is one of `keys`, every key compared in constant time."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(given.encode(), key.encode())
    return found


def given_key(request: Request[Any, Any, Any], settings: Settings) -> tuple[str | None, bool]:
    """(the key the browser sent, whether it came in the query and should become a cookie)."""
    if key := request.query_params.get("key"):
        return key, True
    return request.headers.get(settings.api_key_header) or request.cookies.get(COOKIE), False


def _coverage(status: dict[str, Any]) -> list[dict[str, Any]]:
    items = int(status["counts"].get("items") or 0)
    return [{**m, "coverage": (m["vectors"] / items) if items else 0.0} for m in status["models"]]


def _online(online: Online, runtime: Runtime) -> dict[str, Any]:
    window = online.window
    with runtime.connect() as conn:
        rates = store.variant_rates(conn=conn, window=window)
        served, catalog = store.served_coverage(conn=conn, window=window)
        found = store.list_quality(conn=conn, window=window, sample=QUALITY_SAMPLE)
        quality = {(q.mode, q.variant): q for q in found}
        hourly = queries.hourly_impressions(conn=conn, window=window)
        runs = queries.recent_job_runs(conn=conn, limit=10)
        jobs = queries.interaction_jobs(conn=conn)
    per_variant: dict[str, list[tuple[float, float]]] = {}
    for h in hourly:
        per_variant.setdefault(h["variant"], []).append((h["hour"].timestamp(), h["impressions"]))
    return {
        "rates": [{"r": r, "q": quality.get((r.mode, r.variant))} for r in rates],
        "served": served,
        "catalog": catalog,
        "ctr_chart": bar_chart(
            "CTR by mode/variant", [(f"{r.mode}/{r.variant}", r.ctr) for r in rates]
        ),
        "impressions_chart": line_chart("Impressions per hour by variant", per_variant),
        "runs": runs,
        "jobs": jobs,
        "recorder": online.recorder,
        "window_hours": window.total_seconds() / 3600,
    }


def _traffic(online: Online) -> dict[str, Any]:
    points = online.timeline.series()
    now = time.time()
    minutes = [(p.start - now) / 60 for p in points]
    return {
        "latency_chart": line_chart(
            "Latency (ms), last hour",
            {
                "p50": [(m, p.p50_ms) for m, p in zip(minutes, points, strict=True)],
                "p95": [(m, p.p95_ms) for m, p in zip(minutes, points, strict=True)],
            },
            unit=" ms",
        ),
        "throughput_chart": line_chart(
            "Throughput (req/s), last hour",
            {"req/s": [(m, p.requests_per_second) for m, p in zip(minutes, points, strict=True)]},
        ),
    }


class ConsoleController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/", sync_to_thread=True, media_type=MediaType.HTML)
    def page(
        self, request: Request[Any, Any, Any], runtime: Injected[Runtime]
    ) -> Template | Response[str]:
        settings = runtime.settings
        key, from_query = given_key(request, settings)
        if settings.read_keys:
            if key is None:
                return Response(LOGIN.format(why="This console needs a read key."), status_code=401)
            if not key_matches(key, read_keys(settings)):
                return Response(LOGIN.format(why="That key is not valid."), status_code=401)
        online: Online = request.app.state[STATE_KEY]
        status = status_report(runtime)
        context = {
            "status": status,
            "models": _coverage(status),
            "now": dt.datetime.now(dt.UTC),
            "online": _online(online, runtime),
            "traffic": _traffic(online),
            "modes": MODES,
            "variants": online.variants.names,
            "key": key if settings.read_keys else "",
            "key_header": settings.api_key_header,
        }
        cookies = []
        if from_query and key is not None and settings.read_keys:
            cookies.append(
                Cookie(key=COOKIE, value=key, httponly=True, samesite="strict", path="/console")
            )
        return Template(template_name="console.html", context=context, cookies=cookies)


def console_routes() -> list[ControllerRouterHandler]:
    """The page and its static files (the try-it script and the style sheet)."""
    static = create_static_files_router(
        path="/console/static", directories=[HERE / "static"], include_in_schema=False
    )
    return [ConsoleController, static]


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)
