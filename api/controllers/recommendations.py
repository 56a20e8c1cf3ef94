"""/recommendations: free-text modes and more-like-these."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import anyio
from litestar import Request, Response, get, post
from litestar.params import JSONBody, QueryParameter

from api.auth import require_history_key
from api.contract import READ, errors
from api.impressions import serve_async
from api.metrics import MODE_STATE_KEY
from api.outage import page_headers
from api.params import LIST_QUERY, Injected, ListController, ListOptions, Mode, provide_query
from api.planner import Planner
from api.schemas import FromItems, Page
from db.recs import Filters


class RecommendationController(ListController):
    path = "/recommendations"
    tags = ("recommendations",)

    @get(
        "/",
        opt={"query": LIST_QUERY | {"mode", "q"}},
        summary="Recommendations for a text query",
        responses=errors(*READ),
    )
    async def recommend(
        self,
        request: Request[Any, Any, Any],
        planner: Injected[Planner],
        filters: Injected[Filters],
        options: Injected[ListOptions],
        mode: Annotated[
            Mode, QueryParameter(description="semantic, terms, title or hybrid (RRF of all three).")
        ] = "hybrid",
        q: Annotated[str | None, QueryParameter(description="Query text.", max_length=500)] = None,
    ) -> Response[Page]:
        """Semantic (embedding), terms (full text), title (typo-tolerant) or hybrid."""
        request.state[MODE_STATE_KEY] = mode
        text = provide_query(q)

        async def produce(opts: ListOptions) -> Page:
            page = await planner.recommend_fast(mode=mode, q=text, filters=filters, options=opts)
            if page is not None:
                return page
            find = partial(planner.recommend, mode=mode, q=text, filters=filters, options=opts)
            return await anyio.to_thread.run_sync(find)

        page = await serve_async(request, options, None, produce)
        return Response(page, headers=page_headers(page.snapshot_version, page.stale))

    @post(
        "/from-items",
        status_code=200,
        opt={"query": LIST_QUERY},
        summary="More like these items",
        responses=errors(*READ, 404, 413, 415),
    )
    async def from_items(
        self,
        request: Request[Any, Any, Any],
        planner: Injected[Planner],
        filters: Injected[Filters],
        options: Injected[ListOptions],
        data: JSONBody[FromItems],
    ) -> Response[Page]:
        """avg(positive) + (avg(positive) - avg(negative)); inputs are not recommended back.

        With `user_id` in the body: the user mode, these items added to the user's history.
        """
        request.state[MODE_STATE_KEY] = "more_like"
        require_history_key(request, data.user_id, options.explain)

        async def produce(opts: ListOptions) -> Page:
            find = partial(planner.from_items, body=data, filters=filters, options=opts)
            return await anyio.to_thread.run_sync(find)

        page = await serve_async(request, options, data.user_id, produce)
        return Response(page, headers=page_headers(page.snapshot_version, page.stale))
