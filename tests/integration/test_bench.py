"""`pgrec bench` end to end in a tiny mode: 500 items, FakeEmbedder, a real server subprocess.

Checks that the harness runs every phase against a real PostgreSQL and a real `serve`
process and that REPORT.md, report.json and the plots hold every section.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import bench_report, run
from bench import bench_scenarios as sc
from db.settings import get_settings


@pytest.fixture
def server_env(server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """pgrec's settings point at the test server, where the bench creates its databases."""
    monkeypatch.setenv("DATABASE_URL", server_url)
    get_settings.cache_clear()
    yield server_url
    get_settings.cache_clear()


def test_tiny_bench_writes_every_section(server_env: str, tmp_path: Path) -> None:
    config = run.BenchConfig(
        sizes=(500,),
        quick=True,
        out=tmp_path,
        fake=True,
        profile=sc.TINY,
        baseline_queries=3,
        ingest_items=300,
        users=3,
        originals_per_source=300,
        budget_s=None,
        peer_seconds=1.0,
        peer_changes=4,
        argv=("--sizes", "500", "--fake-embedder"),
    )
    data = run.run(config)

    saved = json.loads((tmp_path / "report.json").read_text())
    for key in (
        "machine",
        "versions",
        "catalogs",
        "api",
        "baselines",
        "scale",
        "ingest",
        "embedding",
        "eval",
        "ratios",
        "goals",
        "plots",
        "phases",
    ):
        assert key in saved, key
    assert saved["command"] == "pgrec bench --sizes 500 --fake-embedder"
    assert saved["versions"]["pgvector"].startswith("0.")

    api = data["api"]
    assert api["cold_start_s"] > 0 and api["api_rss_bytes"] > 0
    played = {(s["name"], s["concurrency"]) for s in api["scenarios"]}
    for name in sc.FULL_SCENARIOS:
        assert (name, 1) in played and (name, sc.TINY.concurrency) in played, name
    failed = [(s["name"], s["error_sample"]) for s in api["scenarios"] if s["errors"]]
    assert not failed
    assert bench_report.scenario(data, "item_to_item")["p50_ms"] > 0

    rec = data["baselines"]["rec_semantic"]["by_selectivity"]
    assert set(rec) == {"100%", "50%", "10%", "1%", "0.1%"}
    assert all(v["recall_at_10"] == 1.0 for v in rec.values())  # exact at this size
    other = data["baselines"]["rec_semantic_other_storage"]  # halfvec: the default is vector
    assert other["storage"] == "halfvec" and set(other["by_selectivity"]) == set(rec)
    assert all(v["recall_at_10"] == 1.0 for v in other["by_selectivity"].values())
    assert [p["size"] for p in data["scale"]] == [500]
    assert data["scale"][0]["hnsw_build_s"] > 0 and data["scale"][0]["hnsw_index_bytes"] > 0
    assert data["ingest"]["first_load_items_per_s"] > 0
    assert data["embedding"]["status"] == "not run"
    assert len(data["goals"]) == 7

    peer = data["peer"]
    ran = {(p["server"], p["mode"], p["concurrency"]) for p in peer["passes"] if "rps" in p}
    for server in ("peer", "pgrec_w1", "pgrec_w2"):
        assert (server, "item_to_item", 1) in ran and (server, "item_to_item", 8) in ran, server
    assert ("peer", "semantic_new", 1) in ran and ("pgrec_w1", "semantic_repeated", 8) in ran
    assert not [p for p in peer["passes"] if p.get("errors")]
    filtered = {(p["name"], p["concurrency"]) for p in peer["filtered"] if "rps" in p}
    assert filtered == {(n, c) for n in sc.FILTERED for c in (1, 8)}
    assert not [p for p in peer["filtered"] if p.get("errors")]
    assert peer["servers"]["pgrec_w2"]["pss"]["workers"] == 2
    assert peer["ratios"][0]["pgrec_w1_vs_peer_rps"] > 0
    assert peer["freshness"]["count"] + peer["freshness"]["not_visible_within_timeout"] == 4
    assert "peer_side_by_side" in data["plots"]

    md = (tmp_path / "REPORT.md").read_text()
    for section in bench_report.SECTIONS:
        assert f"\n## {section}\n" in md, section
    for path in data["plots"].values():
        assert (tmp_path / path).is_file()
