"""Issue 11's extra report rows: each target reads its own measurement and judges it."""

from __future__ import annotations

from typing import Any

from bench import serving_targets


def _data(filtered_p50: float, cold_fresh: float) -> dict[str, Any]:
    def scenario(name: str, conc: int, p50: float, p99: float) -> dict[str, Any]:
        return {"name": name, "concurrency": conc, "p50_ms": p50, "p99_ms": p99, "ok": 10}

    scenarios = [
        scenario("semantic_filtered_10%", 1, filtered_p50, 12.0),
        scenario("semantic_filtered_10%+movie", 1, 4.0, 9.0),
        scenario("semantic_filtered_10%", 8, 20.0, 39.0),
        scenario("semantic_filtered_10%+movie", 8, 20.0, 35.0),
        scenario("title", 1, 5.0, 29.0),
    ]
    passes = [
        {"server": "pgrec_w1", "mode": "semantic_repeated", "concurrency": 1, "p50_ms": 1.2},
        {"server": "pgrec_w1", "mode": "semantic_new", "concurrency": 1, "p50_ms": 13.0},
    ]
    return {
        "api": {"scenarios": scenarios, "cold_start_s": cold_fresh},
        "peer": {"passes": passes, "servers": {"pgrec_w1": {"cold_start_s": 2.0}}},
        "baselines": {
            "bare_encode": {"p50_ms": 12.0},
            "rec_semantic": {
                "by_selectivity": {"10%": {"recall_at_10": 0.99, "min_recall_at_10": 0.6}}
            },
            "recall_by_query": {
                "text": {"queries": 31, "10%": {"recall_at_10": 1.0}},
                "titles": {"queries": 40, "10%": {"recall_at_10": 0.981}},
            },
        },
    }


def _status(rows: list[tuple[str, str, str, str]], prefix: str) -> str:
    return next(r[3] for r in rows if r[0].startswith(prefix))


def test_every_target_met() -> None:
    rows = serving_targets.targets(_data(filtered_p50=9.0, cold_fresh=4.9))
    assert [r[3] for r in rows] == ["**met**"] * len(rows)


def test_the_worst_filter_and_the_slower_cold_start_decide() -> None:
    rows = serving_targets.targets(_data(filtered_p50=10.5, cold_fresh=5.2))
    assert _status(rows, "filtered p50") == "**not met**"
    assert _status(rows, "filtered p99") == "**met**"
    assert _status(rows, "cold start") == "**not met**"
    assert "10%+movie 4.00 ms" in next(r[2] for r in rows if r[0].startswith("filtered p50"))
    recall = next(r for r in rows if r[0].startswith("filtered recall@10 (rec.semantic"))
    assert recall[2] == "0.990 (worst single query 0.60)" and recall[3] == "**met**"


def test_recall_by_kind_of_query_is_judged_at_the_worst_kind() -> None:
    data = _data(filtered_p50=9.0, cold_fresh=4.9)
    kinds = data["baselines"]["recall_by_query"]
    kinds["titles"]["50%"] = {"recall_at_10": 0.948}
    row = next(r for r in serving_targets.targets(data) if "by kind of query" in r[0])
    assert row[2] == "text 1.000, titles 0.948" and row[3] == "**not met**"
    del kinds["text"]["10%"]  # a kind measured at fewer selectivities is not judged
    row = next(r for r in serving_targets.targets(data) if "by kind of query" in r[0])
    assert row[3] == "not run"


def test_a_missing_measurement_is_not_run() -> None:
    rows = serving_targets.targets({})
    assert {r[3] for r in rows} == {"not run"}


def test_the_filtered_targets_read_wrk_when_it_played_them() -> None:
    data = _data(filtered_p50=9.0, cold_fresh=4.9)  # bench_load: met at c=1 and c=8
    data["peer"]["filtered"] = [
        {"name": "semantic_filtered_10%", "concurrency": 1, "p50_ms": 10.5, "p99_ms": 12.0},
        {"name": "semantic_filtered_10%+movie", "concurrency": 1, "p50_ms": 6.0, "p99_ms": 8.0},
        {"name": "semantic_filtered_10%", "concurrency": 8, "p50_ms": 20.0, "p99_ms": 41.0},
        {"name": "semantic_filtered_10%+movie", "concurrency": 8, "p50_ms": 20.0, "p99_ms": 30.0},
    ]
    rows = serving_targets.targets(data)
    p50 = next(r for r in rows if r[0].startswith("filtered p50"))
    assert p50[3] == "**not met**" and "10% 10.50 ms" in p50[2] and p50[2].endswith("(wrk)")
    assert _status(rows, "filtered p99") == "**not met**"  # 41 ms on wrk, 39 on bench_load
    data["peer"]["filtered"][3]["errors"] = 2  # a failed pass is missing, never "met"
    assert _status(serving_targets.targets(data), "filtered p99") == "not run"
    del data["peer"]["filtered"]
    rows = serving_targets.targets(data)
    assert next(r[2] for r in rows if r[0].startswith("filtered p50")).endswith("(bench_load)")
    assert _status(rows, "filtered p99") == "**met**"
