"""/interactions: batch of user events (view, click, like, purchase, rating)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller
from litestar.params import Body

from api.contract import batch_write
from api.errors import BadParameter
from api.params import Injected, check_text
from api.runtime import Runtime
from api.schemas import InteractionIn, InteractionsWritten
from db.interactions import Event, retrying
from db.interactions import record_interactions as record

MAX_BATCH = 10_000
RATING_RANGE = (0.0, 5.0)


def check_value(i: int, event: InteractionIn) -> None:
    """A rating is on the 0..5 scale (MovieLens' and Netflix's) and needs its value."""
    if event.event != "rating":
        return
    low, high = RATING_RANGE
    if event.value is None:
        raise BadParameter(f"body[{i}].value", "a rating needs a value (0..5)")
    if not low <= event.value <= high:
        raise BadParameter(f"body[{i}].value", f"rating {event.value} is out of range 0..5")


def _request_id(name: str, value: str) -> str:
    """The X-Request-ID of a served list: a UUID, in the form Postgres reads."""
    try:
        return str(uuid.UUID(value))
    except ValueError as err:
        raise BadParameter(name, f"{value[:60]!r} is not a request id (a UUID)") from err


class InteractionController(Controller):
    path = "/interactions"
    tags = ("interactions",)

    @batch_write("Record user interactions (batch)")
    def record(
        self,
        runtime: Injected[Runtime],
        data: Annotated[list[InteractionIn], Body(min_items=1, max_items=MAX_BATCH)],
    ) -> InteractionsWritten:
        """Events on unknown items are reported back, not fatal; exact repeats are skipped.

        `outcomes[i]` says what became of event i: stored, duplicate (already stored, or
        repeated in the batch) or unknown_item (no such item, or deleted meanwhile).
        A batch that keeps colliding with concurrent writes answers 409: send it again.
        """
        request_ids: list[str | None] = []
        for i, event in enumerate(data):
            if (event.item_id is None) == (event.external_id is None):
                raise BadParameter(f"body[{i}]", "give exactly one of item_id and external_id")
            if not event.user_id.strip():
                raise BadParameter(f"body[{i}].user_id", "must not be blank")
            check_text(f"body[{i}].user_id", event.user_id)
            check_text(f"body[{i}].external_id", event.external_id or "")
            if event.occurred_at is not None and event.occurred_at.tzinfo is None:
                raise BadParameter(f"body[{i}].occurred_at", "needs a timezone (e.g. Z)")
            check_value(i, event)
            request_ids.append(
                None
                if event.request_id is None
                else _request_id(f"body[{i}].request_id", event.request_id)
            )
        events = [
            Event(e.user_id, e.event, e.item_id, e.external_id, e.value, e.occurred_at, rid)
            for e, rid in zip(data, request_ids, strict=True)
        ]
        # On the primary (runtime.write: its commit LSN goes back in X-Pgrec-LSN).
        outcomes = retrying(runtime.write, lambda conn: record(conn=conn, events=events))
        unknown = [e for e, o in zip(data, outcomes, strict=True) if o == "unknown_item"]
        return InteractionsWritten(
            received=len(data),
            inserted=outcomes.count("stored"),
            duplicates=outcomes.count("duplicate"),
            missing_item_ids=sorted({e.item_id for e in unknown if e.item_id is not None}),
            missing_external_ids=sorted({e.external_id for e in unknown if e.external_id}),
            outcomes=outcomes,
        )
