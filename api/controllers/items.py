"""/items: read, facets (what the filters match), similar items, batch upsert and delete."""

from __future__ import annotations

import time
from functools import partial
from typing import Annotated, Any

import anyio
from litestar import Controller, Request, Response, delete, get
from litestar.exceptions import NotFoundException
from litestar.params import Body, PathParameter, QueryParameter
from sqlalchemy import Connection

import db.recs as recs
from api.auth import require_api_key, require_read_key
from api.contract import READ, batch_write, errors
from api.errors import BadParameter
from api.impressions import serve_async
from api.metrics import MODE_STATE_KEY
from api.outage import page_headers
from api.params import LIST_DEPENDENCIES, LIST_QUERY, Injected, ListOptions, check_texts
from api.planner import Planner, json_value
from api.runtime import Runtime
from api.schemas import INT64_MAX, Facets, FacetValue, Item, ItemsWritten, Page
from db import catalog
from db.ingest import WriteCounts, validate_items, write_items
from db.interactions import retrying

# schema_extra: Litestar writes `le` as a float, which rounds 2**63 - 1 up to 2**63.
ItemIdParam = Annotated[
    int,
    PathParameter(ge=1, le=INT64_MAX, description="items.id", schema_extra={"maximum": INT64_MAX}),
]
MAX_BATCH = 5000
FACETS_MAX_AGE = 60.0  # seconds: facets also change with columns the read model does not hold


def _item(item_id: int, row: dict[str, Any]) -> Item:
    return Item(
        id=item_id,
        **{f: json_value(row.get(f)) for f in Item.__struct_fields__ if f != "id"},
    )


class ItemController(Controller):
    path = "/items"
    tags = ("items",)
    guards = (require_read_key,)

    @get(
        "/facets",
        sync_to_thread=True,
        summary="What the filters can match: kinds, categories and tags with counts",
        responses=errors(*READ),
    )
    def facets(
        self,
        runtime: Injected[Runtime],
        limit: Annotated[
            int, QueryParameter(ge=1, le=1000, description="values per facet, most common first")
        ] = 50,
    ) -> Facets:
        """The most common kinds, categories and tags, each with its number of items (ties by
        value): the spellings `kind`, `category` and `tag` filter on. Kinds match in any case
        (their most common spelling is shown); categories and tags match exactly."""
        # Kept per read model view (every change it applies makes a new one), a minute at
        # most: counting reads every item. While the view may miss changes (Postgres down
        # or not caught up), Postgres is asked.
        view = runtime.view
        entry = None if view is None or runtime.stale else view.facets.get(limit)
        if entry is not None and time.monotonic() - entry[0] <= FACETS_MAX_AGE:
            cached: Facets = entry[1]
            return cached
        at = time.monotonic()
        with runtime.read() as conn:
            found = recs.facets(conn=conn, k=limit)

        def values(facet: str) -> list[FacetValue]:
            return [FacetValue(value=v, items=n) for v, n in found[facet]]

        page = Facets(kinds=values("kind"), categories=values("category"), tags=values("tag"))
        if view is not None:
            view.facets[limit] = (at, page)
        return page

    @get("/{item_id:int}", sync_to_thread=True, summary="One item", responses=errors(*READ, 404))
    def get_item(self, runtime: Injected[Runtime], item_id: ItemIdParam) -> Item:
        with runtime.read() as conn:
            row = recs.fetch_items(conn=conn, ids=[item_id]).get(item_id)
        if row is None:
            raise NotFoundException(f"item {item_id} not found")
        return _item(item_id, row)

    @get(
        "/{item_id:int}/similar",
        dependencies=LIST_DEPENDENCIES,
        opt={"query": LIST_QUERY},
        summary="Items similar to an item",
        responses=errors(*READ, 404),
    )
    async def similar(
        self,
        request: Request[Any, Any, Any],
        planner: Injected[Planner],
        filters: Injected[recs.Filters],
        options: Injected[ListOptions],
        item_id: ItemIdParam,
    ) -> Response[Page]:
        """Nearest neighbours by the active model's vectors, the item itself excluded."""
        request.state[MODE_STATE_KEY] = "similar"

        async def produce(opts: ListOptions) -> Page:
            # A neighbour list from the read model costs microseconds: no thread hop for it.
            page = planner.similar_from_lists(item_id=item_id, filters=filters, options=opts)
            if page is None:
                find = partial(planner.similar, item_id=item_id, filters=filters, options=opts)
                page = await anyio.to_thread.run_sync(find)
            return page

        page = await serve_async(request, options, None, produce)
        return Response(page, headers=page_headers(page.snapshot_version, page.stale))

    @batch_write("Upsert items by external_id (batch)")
    def upsert(
        self,
        runtime: Injected[Runtime],
        data: Annotated[list[dict[str, Any]], Body(min_items=1, max_items=MAX_BATCH)],
    ) -> ItemsWritten:
        """Validated like `pgrec ingest`; the whole batch is refused when any item is invalid.

        New or changed items get their vectors from the embedding worker, and then appear in
        vector modes once the snapshot refreshes.
        """
        for i, item in enumerate(data):
            check_texts(f"body[{i}]", item)
        checked = validate_items(items=data, source="body", first=0)
        if checked.errors:
            first = checked.errors[0]
            where = f"body[{first.line}]" + (f".{first.field}" if first.field else "")
            more = f" (and {len(checked.errors) - 1} more)" if len(checked.errors) > 1 else ""
            raise BadParameter(where, f"{first.reason}{more}")

        def write(conn: Connection) -> tuple[WriteCounts, dict[str, int]]:
            counts = write_items(conn=conn, records=checked.records)
            external = [r.external_id for r in checked.records]
            return counts, catalog.item_ids_by_external(conn=conn, external_ids=external)

        counts, ids = retrying(runtime.write, write)  # deadlocks retried, then 409
        runtime.written(sorted(ids.values()))
        return ItemsWritten(
            received=len(data),
            inserted=counts.inserted,
            updated=counts.updated,
            unchanged=counts.unchanged,
            ids=ids,
        )

    @delete(
        "/{item_id:int}",
        sync_to_thread=True,
        guards=[require_api_key],
        summary="Delete",
        responses=errors(*READ, 404, 409),
    )
    def delete_item(self, runtime: Injected[Runtime], item_id: ItemIdParam) -> None:
        """Its vectors and interactions go with it; it leaves every result at once."""
        with runtime.write() as conn:
            if not catalog.delete_item(conn=conn, item_id=item_id):
                raise NotFoundException(f"item {item_id} not found")
        runtime.written([item_id])
