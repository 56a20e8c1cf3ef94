"""/interactions: batch of user events (view, click, like, purchase, rating)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, post
from litestar.params import Body

from api.auth import require_api_key
from api.errors import BadParameter
from api.params import Injected, check_text
from api.runtime import Runtime
from api.schemas import InteractionIn, InteractionsWritten
from db import catalog
from db.interactions import InteractionRow, insert_interactions

MAX_BATCH = 10_000


class InteractionController(Controller):
    path = "/interactions"
    tags = ("interactions",)

    @post(
        "/",
        sync_to_thread=True,
        status_code=200,
        guards=[require_api_key],
        summary="Record user interactions (batch)",
    )
    def record(
        self,
        runtime: Injected[Runtime],
        data: Annotated[list[InteractionIn], Body(min_items=1, max_items=MAX_BATCH)],
    ) -> InteractionsWritten:
        """Events on unknown items are reported back, not fatal; exact repeats are skipped."""
        for i, event in enumerate(data):
            if (event.item_id is None) == (event.external_id is None):
                raise BadParameter(f"body[{i}]", "give exactly one of item_id and external_id")
            if not event.user_id.strip():
                raise BadParameter(f"body[{i}].user_id", "must not be blank")
            check_text(f"body[{i}].user_id", event.user_id)
            check_text(f"body[{i}].external_id", event.external_id or "")
            if event.occurred_at is not None and event.occurred_at.tzinfo is None:
                raise BadParameter(f"body[{i}].occurred_at", "needs a timezone (e.g. Z)")
        with runtime.engine.begin() as conn:
            external = [e.external_id for e in data if e.external_id is not None]
            by_external = catalog.item_ids_by_external(conn=conn, external_ids=external)
            wanted = [e.item_id for e in data if e.item_id is not None]
            existing = catalog.existing_item_ids(conn=conn, ids=wanted)
            rows: list[InteractionRow] = []
            for e in data:
                if e.item_id is not None:
                    item_id = e.item_id if e.item_id in existing else None
                else:
                    item_id = by_external.get(e.external_id or "")
                if item_id is None:
                    continue
                rows.append(InteractionRow(e.user_id, item_id, e.event, e.value, e.occurred_at))
            inserted = insert_interactions(conn=conn, rows=rows)
        return InteractionsWritten(
            received=len(data),
            inserted=inserted,
            duplicates=len(rows) - inserted,
            missing_item_ids=sorted({i for i in wanted if i not in existing}),
            missing_external_ids=sorted({x for x in external if x not in by_external}),
        )
