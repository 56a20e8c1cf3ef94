"""What the load generator asks: one scenario per endpoint and mode, and how to play them.

Each scenario runs twice: at concurrency 1 (latency without queueing: the numbers the goals
are read from) and at concurrency `Profile.concurrency` (throughput and latency under load).
`play` writes the scenarios to a spec file and runs `bench.bench_load` as a separate process
with a hard timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from bench.bench_catalog import BUCKETS, Original
from bench.bench_load import Scenario

ROOT = Path(__file__).resolve().parent.parent

# Repeated queries (the encoder's cache answers after the warm-up).
CACHED_QUERIES = (
    "space adventure with astronauts",
    "heist thriller with a clever crew",
    "romantic comedy in new york",
    "serial killer detective investigation",
    "animated family movie with talking animals",
    "documentary about climate change",
    "zombie apocalypse survival",
    "high school coming of age drama",
    "martial arts revenge",
    "time travel science fiction",
    "haunted house horror",
    "war drama about soldiers",
    "stand-up comedy special",
    "cooking competition reality show",
    "superhero team saves the world",
    "political conspiracy thriller",
    "musical about a band on tour",
    "sports underdog story",
    "crime family drama mafia",
    "love story set in india",
)
COMBINED = "+movie"
FULL_SCENARIOS = (
    "item_to_item",
    "semantic_cached",
    "semantic_uncached",
    *(f"semantic_filtered_{share * 100:g}%" for share in BUCKETS.values()),
    # Combined filters: the bucket and kind=movie (80% of the bench catalog's items), so
    # 40 / 8 / 0.8 / 0.08% of the catalog matches two predicates at once.
    *(f"semantic_filtered_{share * 100:g}%{COMBINED}" for share in BUCKETS.values()),
    "terms",
    "title",
    "hybrid",
    "more_like_these",
    "user",
)
SCALE_SCENARIOS = ("item_to_item", "semantic_cached")
FILTERED = tuple(n for n in FULL_SCENARIOS if n.startswith("semantic_filtered_"))


@dataclass(frozen=True)
class Profile:
    """Request and time budgets of one load pass (per scenario)."""

    concurrency: int = 8
    c1_requests: int = 150
    c1_seconds: float = 3.0
    cn_requests: int = 400
    cn_seconds: float = 4.0
    warmup: int = 10
    cached_queries: int = len(CACHED_QUERIES)  # how many of the repeated queries to use


QUICK = Profile()
FULL = Profile(c1_requests=500, c1_seconds=8.0, cn_requests=2000, cn_seconds=10.0, warmup=20)
TINY = Profile(
    concurrency=4,
    c1_requests=8,
    c1_seconds=1.0,
    cn_requests=16,
    cn_seconds=1.0,
    warmup=1,
    cached_queries=4,
)


def distinct_queries(originals: list[Original], count: int, seed: int) -> list[str]:
    """Distinct query texts: the first words of distinct descriptions (never repeated)."""
    rng = np.random.default_rng(seed + 11)
    out: dict[str, None] = {}
    for i in rng.permutation(len(originals)):
        words = originals[int(i)].record.description.split()[:7]
        if len(words) >= 4:
            out.setdefault(" ".join(words), None)
        if len(out) >= count:
            break
    return list(out)


def _typo(title: str, rng: np.random.Generator) -> str:
    if len(title) < 6:
        return title
    i = int(rng.integers(1, len(title) - 1))
    return title[:i] + title[i + 1 :]  # one letter dropped


def _get(path: str, **params: Any) -> dict[str, Any]:
    return {"method": "GET", "url": f"{path}?{urlencode(params)}" if params else path}


def filtered_urls(name: str, queries: tuple[str, ...] = CACHED_QUERIES) -> list[str]:
    """The requests of a `semantic_filtered_<share>%[+movie]` scenario: every query with the
    bucket that selects that share of the catalog (and kind=movie for the combined ones)."""
    label = name.rsplit("_", 1)[1]
    share = float(label.removesuffix(COMBINED).rstrip("%")) / 100
    bucket = next(b for b, s in BUCKETS.items() if abs(s - share) < 1e-9)
    more = {"kind": "movie"} if label.endswith(COMBINED) else {}
    return [
        _get("/recommendations", mode="semantic", q=q, n=10, **{"attr.bucket": bucket}, **more)[
            "url"
        ]
        for q in queries
    ]


def requests_for(
    name: str,
    *,
    ids: np.ndarray,
    titles: list[str],
    uncached: list[str],
    users: list[str],
    seed: int,
    count: int,
    queries: tuple[str, ...] = CACHED_QUERIES,
) -> tuple[list[dict[str, Any]], bool]:
    """The request list of one scenario, and whether it may be cycled (repeated)."""
    rng = np.random.default_rng(seed + zlib.crc32(name.encode()) % 1000)
    pick = [int(i) for i in rng.choice(ids, size=min(count, len(ids)), replace=False)]
    rec = "/recommendations"
    cached = [_get(rec, mode="semantic", q=q, n=10) for q in queries]
    if name == "item_to_item":
        return [_get(f"/items/{i}/similar", n=10) for i in pick], True
    if name == "semantic_cached":
        return cached, True
    if name == "semantic_uncached":
        return [_get(rec, mode="semantic", q=q, n=10) for q in uncached], False
    if name.startswith("semantic_filtered_"):
        return [{"method": "GET", "url": u} for u in filtered_urls(name, queries)], True
    if name in ("terms", "hybrid"):
        return [_get(rec, mode=name, q=q, n=10) for q in queries], True
    if name == "title":
        picked = [titles[int(i)] for i in rng.choice(len(titles), size=min(40, len(titles)))]
        return [_get(rec, mode="title", q=_typo(t, rng), n=10) for t in picked], True
    if name == "more_like_these":
        groups = [pick[j : j + 3] for j in range(0, len(pick) - 2, 3)]
        return [
            {"method": "POST", "url": f"{rec}/from-items?n=10", "json": {"positive": g}}
            for g in groups
        ], True
    if name == "user":
        return [_get(f"/users/{u}/recommendations", n=10) for u in users], True
    raise ValueError(f"unknown scenario {name!r}")


def scenarios(names: tuple[str, ...], profile: Profile, **inputs: Any) -> list[Scenario]:
    """Each named scenario at concurrency 1, then at the profile's concurrency."""
    out = []
    count = max(profile.cn_requests, profile.c1_requests) + profile.warmup
    for name in names:
        queries = CACHED_QUERIES[: profile.cached_queries]
        reqs, cycle = requests_for(name, count=count, queries=queries, **inputs)
        for conc, limit, seconds in (
            (1, profile.c1_requests, profile.c1_seconds),
            (profile.concurrency, profile.cn_requests, profile.cn_seconds),
        ):
            warmup = profile.warmup if cycle else 0
            repeated = name == "semantic_cached" or name.startswith(("semantic_filtered", "hybrid"))
            if repeated and conc == 1:
                warmup = len(reqs)  # every query encoded once: the cache answers afterwards
            use = reqs
            if not cycle:  # distinct queries: each pass gets its own slice
                half = len(reqs) // 2
                use = reqs[:half] if conc == 1 else reqs[half:]
            out.append(
                Scenario(
                    name=name,
                    requests=use,
                    concurrency=conc,
                    max_requests=limit,
                    max_seconds=seconds,
                    warmup=warmup,
                    cycle=cycle,
                )
            )
    return out


def play(base_url: str, plays: list[Scenario], *, timeout: float) -> list[dict[str, Any]]:
    """Run the load generator process on the scenarios; its per-scenario results."""
    with tempfile.TemporaryDirectory(prefix="pgrec-load-") as tmp:
        spec, out = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec.write_text(json.dumps({"base_url": base_url, "scenarios": [asdict(s) for s in plays]}))
        subprocess.run(
            [sys.executable, "-m", "bench.bench_load", str(spec), str(out)],
            cwd=ROOT,
            check=True,
            timeout=timeout,
        )
        results: list[dict[str, Any]] = json.loads(out.read_text())["scenarios"]
    return results
