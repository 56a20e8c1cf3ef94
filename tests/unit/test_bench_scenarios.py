"""The load generator's scenarios: every endpoint at two concurrencies, uncached never repeats."""

from __future__ import annotations

import numpy as np

from bench import bench_scenarios as sc

INPUTS = {
    "ids": np.arange(1, 201, dtype=np.int64),
    "titles": ["The Shawshank Redemption", "Heat", "Alien"],
    "uncached": [f"query number {i}" for i in range(60)],
    "users": ["bench-user-0", "bench-user-1"],
    "seed": 0,
}


def test_every_scenario_runs_at_both_concurrencies() -> None:
    plays = sc.scenarios(sc.FULL_SCENARIOS, sc.TINY, **INPUTS)
    assert {(p.name, p.concurrency) for p in plays} == {
        (name, c) for name in sc.FULL_SCENARIOS for c in (1, sc.TINY.concurrency)
    }
    for p in plays:
        assert p.requests and p.max_requests > 0 and p.max_seconds > 0
        for req in p.requests:
            assert req["url"].startswith(("/items/", "/recommendations", "/users/"))


def test_uncached_queries_are_distinct_across_passes() -> None:
    plays = sc.scenarios(("semantic_uncached",), sc.TINY, **INPUTS)
    assert all(not p.cycle and p.warmup == 0 for p in plays)
    urls = [r["url"] for p in plays for r in p.requests]
    assert len(urls) == len(set(urls)) == 60


def test_repeated_queries_are_warmed_before_measuring() -> None:
    plays = sc.scenarios(("semantic_filtered_1%",), sc.TINY, **INPUTS)
    first = plays[0]
    assert first.concurrency == 1 and first.warmup == len(first.requests)
    assert all("attr.bucket=b1&" in r["url"] or r["url"].endswith("b1") for r in first.requests)


def test_more_like_these_posts_item_ids() -> None:
    reqs, cycle = sc.requests_for("more_like_these", count=30, **INPUTS)  # type: ignore[arg-type]
    assert cycle and all(r["method"] == "POST" for r in reqs)
    assert all(len(r["json"]["positive"]) == 3 for r in reqs)
