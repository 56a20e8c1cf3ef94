"""Model versions on real Postgres: add a second model with its own index, fill it side by
side, refuse to activate it early, switch atomically, drop the old one; dimension checks."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text

from db import embeddings as store
from db import vector_index
from db.engine import get_engine, make_engine
from db.models import DEFAULT_MODEL as MODEL
from db.settings import get_settings
from jobs.embedder import DimensionMismatch
from jobs.models import ModelExists, activate_model, add_model
from jobs.worker import run_embed
from pgrec import cli
from tests.support.cli import Cli
from tests.support.fake_items import embed_fake_items

SIDE = "mini-8"


@pytest.fixture
def engine(fresh_db_url: str) -> Iterator[Engine]:
    eng = make_engine(fresh_db_url)
    embed_fake_items(eng, 300, "'plot ' || g")
    yield eng
    eng.dispose()


@pytest.fixture
def pgrec(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    """The `pgrec` command in this process, pointed at the private database."""
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    get_settings.cache_clear()

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    get_engine().dispose()
    get_settings.cache_clear()


def active_models(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT name FROM embedding_models WHERE active")).scalars())


def test_second_model_side_by_side_then_atomic_switch(
    engine: Engine, pgrec: Cli, fresh_db_url: str
) -> None:
    code, out, _ = pgrec("models", "add", SIDE, "--path", "fake:8")
    assert code == 0 and "dim 8" in out and "ix_item_embeddings_hnsw_mini_8" in out
    with engine.connect() as conn:
        assert vector_index.hnsw_index_exists(conn, model=SIDE)
        assert store.get_model(conn, name=SIDE) == store.ModelInfo(SIDE, 8, "fake:8", False)

    code, _, err = pgrec("models", "activate", SIDE)
    assert code == 2 and "covers 0 of 300 items" in err and "--force" in err
    assert active_models(engine) == [MODEL]

    code, out, _ = pgrec("embed", "--model", SIDE, "--no-progress")
    assert code == 0 and "embedded 300 items for mini-8" in out
    assert active_models(engine) == [MODEL]  # the active model kept serving meanwhile
    code, out, _ = pgrec("jobs", "status")
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines[MODEL][1:6] == ["yes", "300", "300", "0", "100.00"]
    assert lines[SIDE][0:5] == [SIDE, "300", "300", "0", "100.00"]

    with psycopg.connect(fresh_db_url, autocommit=True) as listener:
        listener.execute("LISTEN pgrec_vectors")
        with engine.begin() as conn, engine.connect() as other:
            store.activate_model(conn, name=SIDE)
            # Not committed yet: everyone else still sees the old model, never none or two.
            assert list(
                other.execute(text("SELECT name FROM embedding_models WHERE active")).scalars()
            ) == [MODEL]
        notes = [json.loads(n.payload) for n in listener.notifies(timeout=0.5)]
    assert active_models(engine) == [SIDE]
    assert [(n["model"], n["reason"]) for n in notes] == [(SIDE, "activated")]

    # The active model is now the one `pgrec embed` keeps current.
    with engine.begin() as conn:
        conn.execute(text("UPDATE items SET description = 'new' WHERE external_id = 'm7'"))
    assert run_embed(engine).model == SIDE

    code, _, err = pgrec("models", "drop", SIDE)
    assert code == 2 and "is active" in err
    code, out, _ = pgrec("models", "drop", MODEL)
    assert code == 0 and "300 vectors deleted" in out
    with engine.connect() as conn:
        assert not vector_index.hnsw_index_exists(conn, model=MODEL)
        left = conn.execute(text("SELECT DISTINCT model FROM item_embeddings")).scalars().all()
    assert left == [SIDE]
    code, out, _ = pgrec("models", "list")
    assert code == 0 and SIDE in out and MODEL not in out


def test_force_activates_an_incomplete_model(engine: Engine) -> None:
    add_model(engine, name=SIDE, path="fake:8")
    cov = activate_model(engine, name=SIDE, force=True)
    assert (cov.items, cov.embedded) == (300, 0)
    assert active_models(engine) == [SIDE]


def test_dimension_mismatch_is_a_clear_error(engine: Engine, pgrec: Cli) -> None:
    add_model(engine, name=SIDE, path="fake:8")
    with pytest.raises(ModelExists, match="already registered"):
        add_model(engine, name=SIDE, path="fake:8")
    # The files at the registered path changed to a model of another size.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE embedding_models SET path = 'fake:16' WHERE name = :n"), {"n": SIDE}
        )
    with pytest.raises(DimensionMismatch, match=r"produces 16-d vectors .* registered with dim 8"):
        run_embed(engine, model_name=SIDE)
    code, _, err = pgrec("embed", "--model", SIDE)
    assert code == 2 and "produces 16-d vectors but is registered with dim 8" in err
    with engine.connect() as conn:
        assert store.coverage(conn, model=SIDE).embedded == 0
        status = conn.execute(
            text("SELECT status, error FROM job_runs WHERE model = :n"), {"n": SIDE}
        ).all()
    assert status == []  # refused before a run started: nothing half-done to record


def test_unknown_model_and_bad_names(pgrec: Cli, engine: Engine) -> None:
    code, _, err = pgrec("embed", "--model", "nope")
    assert code == 2 and "no embedding model named 'nope'" in err
    code, _, err = pgrec("models", "add", "bad name", "--path", "fake:8")
    assert code == 2 and "letters, digits" in err
    code, _, err = pgrec("models", "add", "x", "--path", "/no/such/dir")
    assert code == 2 and "no sentence-transformers model" in err
