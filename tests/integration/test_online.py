"""Impressions and online metrics on a real database: request ids join clicks to what was
shown, CTR per variant matches a direct count, a full queue drops (counted) without failing
a request, variants are honoured by name, retention prunes."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter
from typing import Any

import psycopg
from litestar.testing import TestClient

from api.app import create_app
from api.impressions import Online
from db.settings import Settings
from jobs.embedder import FakeEmbedder
from tests.support.api import API_KEY, Catalog, seed, wait_ready, wait_until

KEY = {"X-API-Key": API_KEY}
VARIANTS = (
    '{"control": {"share": 0.5}, "diverse": {"share": 0.5, "diversity": 0.5},'
    ' "fallback": {"share": 0, "ranker": "fallback"}, "ghost": {"share": 0, "ranker": "v0"}}'
)


def _client(url: str, **settings: Any) -> TestClient[Any]:
    app = create_app(
        Settings(database_url=url, api_key=API_KEY, variants=VARIANTS, **settings),
        embedder_factory=lambda model: FakeEmbedder(dim=model.dim, name=model.name),
        refresh_interval=60,
    )
    return TestClient(app)


def _online(client: TestClient[Any]) -> Online:
    online: Online = client.app.state["online"]
    return online


def _count(url: str, sql: str = "SELECT count(*) FROM impressions") -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def _metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert match, f"{name}{labels} not in /metrics"
    return float(match.group(1))


def _serve_lists(client: TestClient[Any], catalog: Catalog) -> list[dict[str, Any]]:
    pages = []
    for n in range(24):
        resp = client.get(f"/users/u{n}/recommendations", params={"n": 5})
        assert resp.status_code == 200, resp.text
        page = resp.json()
        assert resp.headers["x-request-id"] == page["request_id"]
        pages.append(page)
    some = next(iter(catalog.ids.values()))
    for _ in range(6):
        page = client.get(f"/items/{some}/similar", params={"n": 4}).json()
        pages.append(page)
    return pages


def test_ctr_per_variant_matches_a_direct_count(fresh_db_url: str) -> None:
    catalog = seed(fresh_db_url)
    with _client(fresh_db_url) as client:
        wait_ready(client)
        pages = _serve_lists(client, catalog)
        assert {p["variant"] for p in pages} == {"control", "diverse"}
        # The same user lands in the same variant every time.
        again = client.get("/users/u3/recommendations", params={"n": 5}).json()
        assert again["variant"] == pages[3]["variant"]
        pages.append(again)
        wait_until(lambda: _count(fresh_db_url) == len(pages))

        events, expect = [], Counter[tuple[str, str, str]]()
        for n, page in enumerate(pages):
            ids = [r["id"] for r in page["results"]]
            key = (page["mode"], page["variant"])
            expect[(*key, "shown")] += 1
            if n % 3 == 0 and ids:  # a click on a served item
                events.append({"user_id": f"c{n}", "item_id": ids[-1], "event": "click"})
                events[-1]["request_id"] = page["request_id"]
                expect[(*key, "clicked")] += 1
            if n % 5 == 0 and ids:
                events.append(
                    {"user_id": f"c{n}", "item_id": ids[0], "event": "purchase"}
                    | {"request_id": page["request_id"]}
                )
                expect[(*key, "converted")] += 1
            if n % 4 == 1:  # clicks on items that were not in the list do not count
                shown = set(ids)
                other = next(i for i in catalog.ids.values() if i not in shown)
                events.append(
                    {"user_id": f"c{n}", "item_id": other, "event": "click"}
                    | {"request_id": page["request_id"]}
                )
        written = client.post("/interactions", json=events, headers=KEY)
        assert written.status_code == 200 and written.json()["inserted"] == len(events)

        with psycopg.connect(fresh_db_url) as conn:
            view = conn.execute(
                "SELECT mode, variant, impressions, clicked, converted, ctr FROM rec.online_ctr"
            ).fetchall()
        assert view, "no rows in rec.online_ctr"
        for mode, variant, shown, clicked, converted, ctr in view:
            assert shown == expect[(mode, variant, "shown")]
            assert clicked == expect[(mode, variant, "clicked")]
            assert converted == expect[(mode, variant, "converted")]
            assert abs(ctr - clicked / shown) < 1e-12

        _online(client).refresh()
        text = client.get("/metrics").text
        for mode, variant, shown, clicked, _, _ in view:
            labels = f'{{mode="{mode}",variant="{variant}"}}'
            assert abs(_metric(text, "pgrec_ctr", labels) - clicked / shown) < 1e-9
        served = _count(fresh_db_url, "SELECT count(DISTINCT item_id) FROM rec.impression_items")
        assert _metric(text, "pgrec_served_items") == served
        assert abs(_metric(text, "pgrec_served_coverage") - served / len(catalog.ids)) < 1e-9
        assert _metric(text, "pgrec_list_diversity", '{mode="user",variant="control"}') > 0
        assert _metric(text, "pgrec_list_novelty", '{mode="user",variant="control"}') > 0
        assert 0 <= _metric(text, "pgrec_cache_hit_ratio") <= 1


def test_interactions_reject_a_bad_request_id(fresh_db_url: str) -> None:
    catalog = seed(fresh_db_url)
    item = next(iter(catalog.ids.values()))
    with _client(fresh_db_url) as client:
        bad = [{"user_id": "u", "item_id": item, "event": "click", "request_id": "nope"}]
        resp = client.post("/interactions", json=bad, headers=KEY)
        assert resp.status_code == 400 and "body[0].request_id" in resp.text
        # Any spelling Python reads as a UUID is stored in the canonical form.
        urn = "urn:uuid:12345678-1234-5678-1234-567812345678"
        good = [{"user_id": "u", "item_id": item, "event": "click", "request_id": urn}]
        assert client.post("/interactions", json=good, headers=KEY).json()["inserted"] == 1
        stored = _count(
            fresh_db_url,
            "SELECT count(*) FROM interactions WHERE request_id ="
            " '12345678-1234-5678-1234-567812345678'",
        )
        assert stored == 1


def test_a_named_variant_is_served_and_an_unknown_one_is_a_400(fresh_db_url: str) -> None:
    catalog = seed(fresh_db_url)
    item = next(iter(catalog.ids.values()))
    with _client(fresh_db_url) as client:
        wait_ready(client)
        for _ in range(3):
            page = client.get(f"/items/{item}/similar", params={"variant": "diverse"}).json()
            assert page["variant"] == "diverse"
        resp = client.get(f"/items/{item}/similar", params={"variant": "nope"})
        assert resp.status_code == 400 and "variant" in resp.text
        # A variant's ranker reaches the user mode's SQL (pgrec.ranker): 'fallback' scores,
        # a version that does not exist is refused by rec.ranker() itself.
        page = client.get("/users/alice/recommendations", params={"variant": "fallback"})
        assert page.status_code == 200 and page.json()["ranker"] == "fallback"
        bad = client.get("/users/alice/recommendations", params={"variant": "ghost"})
        assert bad.status_code == 400 and "pgrec.ranker" in bad.text, bad.text


def test_a_full_queue_drops_and_counts_without_failing_requests(fresh_db_url: str) -> None:
    catalog = seed(fresh_db_url)
    item = next(iter(catalog.ids.values()))
    with _client(fresh_db_url, impression_queue=3) as client:
        wait_ready(client)
        online = _online(client)
        # A slow database: the writer's COPY waits on this lock, the queue fills up.
        with psycopg.connect(fresh_db_url) as blocker:
            blocker.execute("LOCK TABLE impressions IN ACCESS EXCLUSIVE MODE")
            statuses = [
                client.get(f"/items/{item}/similar", params={"n": 3}).status_code for _ in range(25)
            ]
            assert statuses == [200] * 25
            assert online.recorder.dropped >= 25 - 2 * 3
        wait_until(lambda: online.recorder.depth == 0 and online.recorder.written > 0)
        wait_until(lambda: online.recorder.written + online.recorder.dropped == 25)
        assert _count(fresh_db_url) == online.recorder.written
        text = client.get("/metrics").text
        assert _metric(text, "pgrec_impressions_dropped_total") == online.recorder.dropped
        shown = _metric(text, "pgrec_impressions_total", '{mode="similar",variant="control"}')
        shown += _metric(text, "pgrec_impressions_total", '{mode="similar",variant="diverse"}')
        assert shown == 25


def test_recording_off_writes_nothing_and_prune_keeps_the_window(fresh_db_url: str) -> None:
    catalog = seed(fresh_db_url)
    item = next(iter(catalog.ids.values()))
    with _client(fresh_db_url, impressions=False) as client:
        wait_ready(client)
        page = client.get(f"/items/{item}/similar").json()
        assert page["request_id"]
        assert _online(client).recorder.written == 0
    assert _count(fresh_db_url) == 0

    now = dt.datetime.now(dt.UTC)
    _insert_served(fresh_db_url, [now - dt.timedelta(days=d) for d in (1, 40)], item)
    assert _prune(fresh_db_url, dt.timedelta(days=30)) == 1
    assert _count(fresh_db_url) == 1


def _insert_served(url: str, stamps: list[dt.datetime], item: int) -> None:
    """One impression (mode 'x', variant 'v') of `item` served at each of `stamps`."""
    with psycopg.connect(url) as conn:
        for at in stamps:
            conn.execute(
                "INSERT INTO impressions (request_id, served_at, mode, variant, item_ids)"
                " VALUES (gen_random_uuid(), %s, 'x', 'v', %s)",
                (at, [item]),
            )


def _prune(url: str, age: dt.timedelta) -> int:
    from db.engine import make_engine
    from db.impressions import prune_impressions

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            return prune_impressions(conn=conn, older_than=age)
    finally:
        engine.dispose()


def test_prune_cuts_whole_hours_so_the_rollup_keeps_only_whole_hours(fresh_db_url: str) -> None:
    """Impressions on both sides of the retention's cut, in one UTC hour: prune keeps or
    deletes that hour whole, and every hour impression_counts keeps equals its impressions."""
    catalog = seed(fresh_db_url)
    item = next(iter(catalog.ids.values()))
    age = dt.timedelta(hours=5)
    with psycopg.connect(fresh_db_url) as conn:
        row = conn.execute(
            "SELECT now() - %s::interval, date_trunc('hour', now() - %s::interval, 'UTC')",
            (age, age),
        ).fetchone()
        assert row is not None
        cut, hour = row
        # Both sides of the cut inside its hour (when the cut is not right at the hour's
        # start), and one impression an hour before it.
        after = cut + (hour + dt.timedelta(hours=1) - cut) / 2
    _insert_served(
        fresh_db_url, [hour, cut - (cut - hour) / 2, after, hour - dt.timedelta(hours=1)], item
    )
    assert _prune(fresh_db_url, age) == 1  # only the earlier hour
    with psycopg.connect(fresh_db_url) as conn:
        kept = conn.execute(
            "SELECT date_trunc('hour', served_at, 'UTC'), count(*) FROM impressions"
            " WHERE mode = 'x' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        counted = conn.execute(
            "SELECT hour, impressions FROM impression_counts WHERE mode = 'x' ORDER BY hour"
        ).fetchall()
    assert kept == counted and [n for _, n in kept] == [3]


def _exact_rates(conn: psycopg.Connection[Any], hours: int) -> list[tuple[Any, ...]]:
    """rec.impression_outcomes' figures over every impression of the window (the definition)."""
    return conn.execute(
        "SELECT mode, variant, count(*), count(*) FILTER (WHERE clicked),"
        " count(*) FILTER (WHERE converted) FROM rec.impression_outcomes"
        " WHERE served_at >= now() - make_interval(hours => %s)"
        " GROUP BY mode, variant ORDER BY mode, variant",
        (hours,),
    ).fetchall()


def test_the_rollups_answer_what_every_impression_of_the_window_does(fresh_db_url: str) -> None:
    """variant_rates and served_coverage read the rollups the trigger keeps (migration 0019):
    across the window's edge (an impression just outside, one in its partial first hour),
    COPY and INSERT alike, they equal the exact count over every impression."""
    import threading

    from db.engine import make_engine
    from db.impressions import ImpressionRow, served_coverage, variant_rates, write_impressions

    catalog = seed(fresh_db_url)
    ids = sorted(catalog.ids.values())
    now = dt.datetime.now(dt.UTC)
    ages = [dt.timedelta(hours=30), dt.timedelta(hours=24, minutes=1)]  # outside
    ages += [dt.timedelta(hours=24) - dt.timedelta(minutes=4), dt.timedelta(hours=5)]
    ages += [dt.timedelta(minutes=m) for m in range(0, 60, 7)]
    rows = [
        ImpressionRow(
            request_id=str(uuid.uuid4()),
            served_at=now - age,
            user_id=None,
            mode=("semantic", "similar")[n % 2],
            variant=("control", "diverse")[n % 3 == 0],
            ranker=None,
            snapshot_version=1,
            item_ids=tuple(ids[(n * 3 + k) % len(ids)] for k in range(4)),
        )
        for n, age in enumerate(ages)
    ]
    engine = make_engine(fresh_db_url)
    try:
        write_impressions(engine=engine, rows=rows[: len(rows) // 2])  # COPY
        with psycopg.connect(fresh_db_url) as conn:
            for r in rows[len(rows) // 2 :]:  # plain INSERTs
                conn.execute(
                    "INSERT INTO impressions (request_id, served_at, mode, variant, item_ids)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (r.request_id, r.served_at, r.mode, r.variant, list(r.item_ids)),
                )
            events = []
            for n, r in enumerate(rows):
                later = r.served_at + dt.timedelta(seconds=5)
                if n % 2 == 0:  # a click on an item of the list (rows[0]: outside the window)
                    events.append((f"c{n}", r.item_ids[1], "click", r.request_id, later))
                if n == 3:  # dated an hour before its list (a client clock behind the API's)
                    early = r.served_at - dt.timedelta(hours=1)
                    events.append((f"e{n}", r.item_ids[2], "click", r.request_id, early))
                if n % 3 == 1:  # a purchase, and a click on an item not in the list
                    events.append((f"p{n}", r.item_ids[0], "purchase", r.request_id, later))
                    other = next(i for i in ids if i not in r.item_ids)
                    events.append((f"o{n}", other, "click", r.request_id, later))
            conn.cursor().executemany(
                "INSERT INTO interactions (user_id, item_id, event, request_id, occurred_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                events,
            )
            conn.commit()
            exact = _exact_rates(conn, 24)
            distinct = conn.execute(
                "SELECT count(*) FROM (SELECT DISTINCT unnest(item_ids) FROM impressions"
                " WHERE served_at >= now() - interval '24 hours') s"
            ).fetchone()
        assert exact and any(clicked for *_, clicked, _ in exact)
        with engine.connect() as conn:
            rates = variant_rates(conn=conn, window=dt.timedelta(hours=24))
            served, total = served_coverage(conn=conn, window=dt.timedelta(hours=24))
        got = [(r.mode, r.variant, r.impressions, r.clicked, r.converted) for r in rates]
        assert got == [tuple(row) for row in exact]
        assert distinct is not None and (served, total) == (distinct[0], len(ids))

        # Workers flushing at once share rollup rows: no deadlock, nothing counted twice.
        def flush(worker: int) -> None:
            for batch in range(15):
                write_impressions(
                    engine=engine,
                    rows=[
                        ImpressionRow(
                            str(uuid.uuid4()),
                            dt.datetime.now(dt.UTC),
                            None,
                            ("semantic", "similar", "user")[(worker + j) % 3],
                            ("control", "diverse")[j % 2],
                            None,
                            1,
                            tuple(ids[(batch + j + k) % len(ids)] for k in range(5)),
                        )
                        for j in range(40)
                    ],
                )

        threads = [threading.Thread(target=flush, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with psycopg.connect(fresh_db_url) as conn:
            counted = (
                "SELECT date_trunc('hour', served_at, 'UTC') AS hour, mode, variant, count(*)"
                " FROM impressions GROUP BY 1, 2, 3"
            )
            rolled = "SELECT hour, mode, variant, impressions FROM impression_counts"
            per_hour = conn.execute(
                f"({counted} EXCEPT {rolled}) UNION ALL ({rolled} EXCEPT {counted})"
            ).fetchall()
            assert _count(fresh_db_url) == len(rows) + 3 * 15 * 40
        assert per_hour == []
    finally:
        engine.dispose()
