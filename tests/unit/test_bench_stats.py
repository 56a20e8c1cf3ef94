"""Pure helpers of `pgrec bench`: percentiles, ratios, recall, sizes, buckets, COPY rows."""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

import numpy as np
import pytest

from bench.bench_catalog import BUCKETS, assign_buckets, embed_text, embeddings_copy, perturbed
from bench.bench_stats import (
    is_run,
    latency_summary,
    not_run,
    percentile,
    ratio,
    recall_at_k,
)
from bench.run import BenchConfig, parse_sizes
from db.ingest import ItemRecord
from pgrec.cmd_bench import DEFAULT_OUT, argv_of


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_summary_is_in_milliseconds() -> None:
    s = latency_summary([0.001, 0.002, 0.003])
    assert s["count"] == 3
    assert s["p50_ms"] == pytest.approx(2.0)
    assert s["mean_ms"] == pytest.approx(2.0)
    assert latency_summary([]) == {
        "count": 0,
        "mean_ms": None,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
    }


def test_ratio_refuses_missing_or_zero_bases() -> None:
    assert ratio(6.0, 2.0) == 3.0
    assert ratio(None, 2.0) is None
    assert ratio(1.0, None) is None
    assert ratio(1.0, 0.0) is None


def test_recall_at_k() -> None:
    assert recall_at_k([1, 2, 3], [3, 2, 1], k=3) == 1.0
    assert recall_at_k([1, 9, 8, 7], [1, 2, 3, 4], k=4) == 0.25
    # Only the top k of the answer count.
    assert recall_at_k([9, 9, 9, 1], [1], k=3) == 0.0
    # Fewer matching items than k: recall over what exists; nothing to find is perfect.
    assert recall_at_k([5, 6], [6], k=10) == 1.0
    assert recall_at_k([], [], k=10) == 1.0


def test_not_run_is_never_a_number() -> None:
    part = not_run("bench/embed.py is not there yet")
    assert part == {"status": "not run", "reason": "bench/embed.py is not there yet"}
    assert not is_run(part)
    assert not is_run(None)
    assert is_run({"p50_ms": 1.0})


def test_parse_sizes() -> None:
    assert parse_sizes("10k, 40k,1m,40k") == (10_000, 40_000, 1_000_000)
    assert parse_sizes("500") == (500,)
    for bad in ("", "abc", "5", "1.5k"):
        with pytest.raises(ValueError):
            parse_sizes(bad)


def test_main_size_prefers_40k() -> None:
    assert BenchConfig(sizes=(10_000, 40_000, 200_000)).main_size == 40_000
    assert BenchConfig(sizes=(500, 1000)).main_size == 1000
    assert BenchConfig(sizes=(200_000, 1_000_000)).main_size == 200_000


def test_argv_reproduces_the_command() -> None:
    args = argparse.Namespace(
        quick=True,
        sizes="10k,40k",
        out=DEFAULT_OUT,
        seed=0,
        fake_embedder=False,
        keep_databases=False,
    )
    assert argv_of(args) == ("--quick", "--sizes", "10k,40k")
    args.out, args.seed = Path("/tmp/x"), 3
    assert argv_of(args)[-4:] == ("--out", "/tmp/x", "--seed", "3")


def test_buckets_have_their_shares() -> None:
    labels = assign_buckets(20_000, seed=1)
    for name, share in BUCKETS.items():
        assert (labels == name).sum() == round(20_000 * share)
    tiny = assign_buckets(50, seed=1)
    assert all((tiny == name).sum() >= 1 for name in BUCKETS)
    assert (assign_buckets(50, seed=1) == tiny).all()


def test_perturbed_vectors_stay_near_their_original() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((5, 384)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    rows = np.array([0, 0, 3])
    out = perturbed(base, rows, seed=2)
    assert out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    cos = (out * base[rows]).sum(axis=1)
    assert (cos > 0.9).all() and (cos < 0.999).all()
    assert not np.allclose(out[0], out[1])  # two replicas of one item differ


def test_embed_text_mirrors_the_sql_function() -> None:
    r = ItemRecord(
        external_id="x",
        title=" Heat ",
        categories=["Crime", "Drama"],
        tags=["heist"],
        description="A crew.",
    )
    assert embed_text(r) == "Heat\nCategories: Crime, Drama\nA crew.\nTags: heist"
    assert embed_text(ItemRecord(external_id="y", title="Solo")) == "Solo"


def test_embeddings_copy_is_pg_binary_copy() -> None:
    ids = np.array([7, 8], dtype=np.int64)
    vectors = np.array([[1.0, 0.0], [0.5, -0.5]], dtype=np.float32)
    data = embeddings_copy(ids, vectors, ["a" * 32, "b" * 32])
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00") and data.endswith(b"\xff\xff")
    row = data[19:]
    assert struct.unpack(">h", row[:2])[0] == 4
    assert struct.unpack(">iq", row[2:14]) == (8, 7)
    model_len = struct.unpack(">i", row[14:18])[0]
    at = 18 + model_len
    length, dim, unused = struct.unpack(">ihh", row[at : at + 8])
    assert (length, dim, unused) == (4 + 4 * 2, 2, 0)
    assert struct.unpack(">2f", row[at + 8 : at + 16]) == (1.0, 0.0)
