"""The scale bench's pure parts: the synthetic catalog and the REPORT.md section."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import scale_catalog as syn
from bench import scale_report
from bench.scale_catalog import hnsw_settings


def test_synthetic_catalog_is_seeded_clustered_and_skewed() -> None:
    spec = syn.make_spec(2000, seed=3)
    again = syn.make_spec(2000, seed=3)
    assert np.array_equal(syn.vectors(spec, 100, 200), syn.vectors(again, 100, 200))
    v = syn.vectors(spec, 0, 500)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    same = spec.cluster_of[:500][:, None] == spec.cluster_of[:500][None, :]
    sims = v @ v.T
    assert sims[same].mean() > sims[~same].mean() + 0.3  # clustered
    sizes = np.bincount(spec.cluster_of)
    assert sizes.max() > 3 * np.median(sizes)  # skewed cluster sizes
    lines = syn.item_lines(spec, 0, 50).splitlines()
    assert len(lines) == 50 and all(len(line.split("\t")) == 9 for line in lines)
    assert lines[0].split("\t")[:2] == ["1", "syn-0"]


def test_hnsw_settings_hold_the_graph_within_a_cap() -> None:
    assert hnsw_settings(40_000)["maintenance_work_mem"] == "151MB"
    assert hnsw_settings(10_000_000)["maintenance_work_mem"] == "4096MB"
    assert hnsw_settings(1_000)["max_parallel_maintenance_workers"] == "1"


def test_report_section_is_replaced_not_duplicated(tmp_path: Path) -> None:
    (tmp_path / "REPORT.md").write_text("# bench\n\nmain part\n")
    point = {"size": 1000, "hnsw_build_s": 2.0, "hnsw_index_bytes": 2**21, "command": "x"}
    data = {"command": "pgrec bench --scale 1k", "generated_at": "now", "points": [point]}
    scale_report.write(data, tmp_path)
    scale_report.write(data, tmp_path)
    text = (tmp_path / "REPORT.md").read_text()
    assert text.startswith("# bench") and text.count(scale_report.BEGIN) == 1
    assert "| 1,000 | - | 2.0 |" in text and (tmp_path / "plots" / "scale.png").exists()
    assert scale_report.kept_section(text).startswith(scale_report.BEGIN)
    assert scale_report.earlier_points(tmp_path, (2000,)) == [point]
    assert scale_report.earlier_points(tmp_path, (1000,)) == []


def test_targets_are_judged_at_the_largest_size_and_a_miss_says_why() -> None:
    def point(size: int, filtered_ms: float) -> dict[str, object]:
        scenarios = [
            {"name": "semantic_filtered_1%", "concurrency": 1, "p50_ms": filtered_ms},
            {"name": "semantic_filtered_1%", "concurrency": 8, "p50_ms": 999.0},
            {"name": "item_to_item", "concurrency": 1, "p50_ms": 4.0},
        ]
        return {"size": size, "api": {"scenarios": scenarios, "api_pss_bytes": 2**30}}

    small_miss, large_met = point(1000, 80.0), point(1_000_000, 30.0)
    lines = scale_report.targets_table([small_miss, large_met])
    assert "1,000,000 items" in lines[0]
    filtered = next(line for line in lines if line.startswith("| filtered"))
    assert "1% 30.0" in filtered and "| met |" in filtered  # c=8's 999 is not judged
    lines = scale_report.targets_table([point(1_000_000, 56.4)])
    filtered = next(line for line in lines if line.startswith("| filtered"))
    assert "**not met**" in filtered and "docs/scaling.md" in filtered
    assert any(line.startswith("| API PSS") and "| met |" in line for line in lines)
