"""/users/{user_id}/recommendations: the hybrid user mode (rec.for_user_explained)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import PathParameter

from api.auth import require_history_key
from api.contract import READ, errors
from api.impressions import serve
from api.metrics import MODE_STATE_KEY
from api.params import LIST_QUERY, Injected, ListController, ListOptions, check_text
from api.planner import Planner
from api.schemas import Page
from db.recs import Filters


class UserController(ListController):
    path = "/users"
    tags = ("users",)

    @get(
        "/{user_id:str}/recommendations",
        sync_to_thread=True,
        opt={"query": LIST_QUERY},
        summary="Recommendations for a user",
        responses=errors(*READ),
    )
    def recommend(
        self,
        request: Request[Any, Any, Any],
        planner: Injected[Planner],
        filters: Injected[Filters],
        options: Injected[ListOptions],
        user_id: Annotated[str, PathParameter(min_length=1, max_length=200)],
    ) -> Page:
        """Co-occurrence, interests, popular and fresh items scored by the ranking model.

        Items the user saw are left out; an unknown user gets popular items within the
        filters. `explain=true` says why each item is there (`source`, `reason`, `because`).
        """
        request.state[MODE_STATE_KEY] = "user"
        user_id = check_text("user_id", user_id)
        require_history_key(request, user_id, options.explain)
        return serve(
            request,
            options,
            user_id,
            lambda opts: planner.for_user(user_id=user_id, filters=filters, options=opts),
        )
