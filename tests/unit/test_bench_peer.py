"""The pure parts of the side-by-side benchmark: wrk output, PSS, ratios, the peer's index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import bench_wrk, peer_measure, peer_report
from bench.peer_app import PeerIndex

WRK_OUT = """Running 3s test @ http://127.0.0.1:8123
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.10ms    1.20ms  30.00ms   90.00%
  2400 requests in 3.00s, 1.20MB read
  Non-2xx or 3xx responses: 12
Requests/sec:    800.00
Transfer/sec:    400.00KB
WRK_JSON {"requests":2400,"duration_us":3000000,"bytes":1258291,"connect":0,"read":0,\
"write":0,"status":12,"timeout":0,"mean_us":4100.5,"max_us":30000,"p50_us":3900,\
"p90_us":5200,"p99_us":9100}
"""

SMAPS = """55d0c0000000-7ffd00000000 ---p 00000000 00:00 0                          [rollup]
Rss:              612340 kB
Pss:              503210 kB
Pss_Dirty:        400000 kB
Pss_Anon:         390000 kB
Shared_Clean:      90000 kB
"""


def test_wrk_summary_line_is_parsed() -> None:
    got = bench_wrk.parse(WRK_OUT)
    assert got["ok"] == 2388  # non-2xx answers are errors, not served requests
    assert got["errors"] == 12 and got["non_2xx"] == 12
    assert got["rps"] == 796.0
    assert (got["p50_ms"], got["p90_ms"], got["p99_ms"]) == (3.9, 5.2, 9.1)
    assert got["error_sample"] == "Non-2xx or 3xx responses: 12"


def test_wrk_output_without_summary_is_an_error() -> None:
    with pytest.raises(ValueError, match="WRK_JSON"):
        bench_wrk.parse("Running 3s test @ http://127.0.0.1:1\nunable to connect\n")


def test_pss_reads_the_pss_line_only() -> None:
    assert peer_measure.parse_pss(SMAPS) == 503210 * 1024
    with pytest.raises(ValueError):
        peer_measure.parse_pss("Rss: 10 kB\n")


def test_process_roles_and_worker_sums() -> None:
    pss = {10: 50, 11: 400, 12: 300, 13: 5}
    tree = [
        (10, ["python", "-m", "pgrec", "serve", "--workers", "2"]),
        (11, ["python", "-c", "from multiprocessing.spawn import spawn_main"]),
        (12, ["python", "-c", "from multiprocessing.spawn import spawn_main"]),
        (13, ["python", "-c", "from multiprocessing.resource_tracker import main"]),
    ]
    two = peer_measure.classify(10, tree, pss.get)
    assert [p["role"] for p in two["processes"]] == ["supervisor", "worker", "worker", "helper"]
    assert two["workers"] == 2 and two["workers_pss_bytes"] == 700
    assert two["total_pss_bytes"] == 755
    one = peer_measure.classify(10, tree[:1], pss.get)
    assert one["processes"][0]["role"] == "worker" and one["workers_pss_bytes"] == 50
    assert peer_measure.second_worker(one, two) == 650
    assert peer_measure.second_worker(one, {"status": "not run"}) is None


def test_side_by_side_ratios() -> None:
    passes = [
        {"server": "peer", "mode": "item_to_item", "concurrency": 1, "rps": 400.0,
         "p50_ms": 2.0, "p99_ms": 4.0},
        {"server": "pgrec_w1", "mode": "item_to_item", "concurrency": 1, "rps": 200.0,
         "p50_ms": 4.0, "p99_ms": 10.0},
        {"server": "pgrec_w2", "mode": "item_to_item", "concurrency": 1, "rps": 300.0,
         "p50_ms": 3.0, "p99_ms": 8.0},
        {"server": "peer", "mode": "semantic_new", "concurrency": 1, "rps": 50.0},
        {"server": "pgrec_w1", "mode": "semantic_new", "concurrency": 1,
         "status": "not run", "reason": "wrk failed"},
    ]  # fmt: skip
    item, semantic = peer_measure.side_by_side(passes)
    assert item["pgrec_w1_vs_peer_rps"] == 0.5
    assert item["pgrec_w1_vs_peer_p50_ms"] == 2.0
    assert item["pgrec_w1_vs_peer_p99_ms"] == 2.5
    assert item["pgrec_w2_vs_peer_rps"] == 0.75
    assert item["w2_vs_w1_rps"] == 1.5
    assert semantic["pgrec_w1_vs_peer_rps"] is None  # a side that did not run has no ratio


def test_peer_index_leaves_the_item_out_and_ranks_by_cosine() -> None:
    vectors = np.eye(4, dtype=np.float32)
    vectors[1] = [0.8, 0.6, 0, 0]
    vectors[2] = [0.6, 0.8, 0, 0]
    index = PeerIndex(np.array([7, 8, 9, 10]), vectors)
    hits = index.search(vectors[0], 2, exclude=7)
    assert [h["id"] for h in hits] == [8, 9]
    with pytest.raises(ValueError):
        PeerIndex(np.array([1, 2]), vectors)


def test_report_section_says_not_run_with_its_reason(tmp_path: Path) -> None:
    lines = peer_report.markdown({"peer": {"status": "not run", "reason": "wrk missing"}})
    assert lines[0] == "_not run: wrk missing_"
    assert peer_report.draw({"peer": None}, tmp_path, plt=None) == {}


def test_workers_are_compared_on_the_best_c_of_each() -> None:
    passes = [
        {"server": "pgrec_w1", "mode": "item_to_item", "concurrency": 1, "rps": 900.0},
        {"server": "pgrec_w1", "mode": "item_to_item", "concurrency": 8, "rps": 1000.0},
        {"server": "pgrec_w2", "mode": "item_to_item", "concurrency": 1, "rps": 850.0},
        {"server": "pgrec_w2", "mode": "item_to_item", "concurrency": 8, "rps": 1600.0},
        {"server": "pgrec_w2", "mode": "semantic_new", "concurrency": 8, "rps": 5000.0},
    ]
    assert peer_report.best_over_c(passes, "item_to_item") == 1.6
    assert peer_report.best_over_c(passes[2:], "item_to_item") is None  # no 1-worker run
