"""/items: read, similar items, batch upsert and delete."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.params import Body, PathParameter

import db.recs as recs
from api.auth import require_api_key
from api.errors import BadParameter
from api.metrics import MODE_STATE_KEY
from api.params import LIST_DEPENDENCIES, LIST_QUERY, Injected, ListOptions
from api.planner import Planner, json_value
from api.runtime import Runtime
from api.schemas import Item, ItemsWritten, Page
from db import catalog
from db.ingest import validate_items, write_items

ItemIdParam = Annotated[int, PathParameter(ge=1, description="items.id")]
MAX_BATCH = 5000


def _item(item_id: int, row: dict[str, Any]) -> Item:
    return Item(
        id=item_id,
        **{f: json_value(row.get(f)) for f in Item.__struct_fields__ if f != "id"},
    )


class ItemController(Controller):
    path = "/items"
    tags = ("items",)

    @get("/{item_id:int}", sync_to_thread=True, summary="One item")
    def get_item(self, runtime: Injected[Runtime], item_id: ItemIdParam) -> Item:
        with runtime.connect() as conn:
            row = recs.fetch_items(conn=conn, ids=[item_id]).get(item_id)
        if row is None:
            raise NotFoundException(f"item {item_id} not found")
        return _item(item_id, row)

    @get(
        "/{item_id:int}/similar",
        sync_to_thread=True,
        dependencies=LIST_DEPENDENCIES,
        opt={"query": LIST_QUERY},
        summary="Items similar to an item",
    )
    def similar(
        self,
        request: Request[Any, Any, Any],
        planner: Injected[Planner],
        filters: Injected[recs.Filters],
        options: Injected[ListOptions],
        item_id: ItemIdParam,
    ) -> Page:
        """Nearest neighbours by the active model's vectors, the item itself excluded."""
        request.state[MODE_STATE_KEY] = "similar"
        return planner.similar(item_id=item_id, filters=filters, options=options)

    @post(
        "/",
        sync_to_thread=True,
        status_code=200,
        guards=[require_api_key],
        summary="Upsert items by external_id (batch)",
    )
    def upsert(
        self,
        runtime: Injected[Runtime],
        data: Annotated[list[dict[str, Any]], Body(min_items=1, max_items=MAX_BATCH)],
    ) -> ItemsWritten:
        """Validated like `pgrec ingest`; the whole batch is refused when any item is invalid.

        New or changed items get their vectors from the embedding worker, and then appear in
        vector modes once the snapshot refreshes.
        """
        checked = validate_items(items=data, source="body", first=0)
        if checked.errors:
            first = checked.errors[0]
            where = f"body[{first.line}]" + (f".{first.field}" if first.field else "")
            more = f" (and {len(checked.errors) - 1} more)" if len(checked.errors) > 1 else ""
            raise BadParameter(where, f"{first.reason}{more}")
        with runtime.engine.begin() as conn:
            counts = write_items(conn=conn, records=checked.records)
            ids = catalog.item_ids_by_external(
                conn=conn, external_ids=[r.external_id for r in checked.records]
            )
        return ItemsWritten(
            received=len(data),
            inserted=counts.inserted,
            updated=counts.updated,
            unchanged=counts.unchanged,
            ids=ids,
        )

    @delete("/{item_id:int}", sync_to_thread=True, guards=[require_api_key], summary="Delete")
    def delete_item(self, runtime: Injected[Runtime], item_id: ItemIdParam) -> None:
        """Its vectors and interactions go with it; it leaves every result at once."""
        with runtime.engine.begin() as conn:
            if not catalog.delete_item(conn=conn, item_id=item_id):
                raise NotFoundException(f"item {item_id} not found")
