"""The model-switch drift check: a model whose neighbour lists are rewritten is refused (and
its figure kept), one with the same vectors is accepted, --force overrides."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from db import embeddings as store
from db.engine import make_engine
from db.models import DEFAULT_MODEL as MODEL
from jobs.drift import DriftTooHigh, check_drift
from jobs.models import activate_model
from tests.support.cli import Cli
from tests.support.cli import pgrec as run_cli
from tests.support.fake_items import embed_fake_items


@pytest.fixture
def engine(fresh_db_url: str) -> Iterator[Engine]:
    eng = make_engine(fresh_db_url)
    themes = "(ARRAY['space ship', 'chef kitchen', 'police heist'])[g % 3 + 1]"
    embed_fake_items(eng, 120, themes + " || ' story ' || (g % 7)")
    with eng.begin() as conn:
        for name in ("same", "permuted"):
            store.register_model(conn, name=name, dim=384, path="fake:384")
        conn.execute(
            text(
                "INSERT INTO item_embeddings (item_id, model, embedding, content_hash)"
                " SELECT item_id, 'same', embedding, content_hash FROM item_embeddings"
                " WHERE model = :m"
            ),
            {"m": MODEL},
        )
        # Every item gets another item's vector: the lists are rewritten wholesale.
        conn.execute(
            text(
                "INSERT INTO item_embeddings (item_id, model, embedding, content_hash)"
                " SELECT a.item_id, 'permuted', b.embedding, a.content_hash FROM"
                " (SELECT item_id, content_hash, row_number() OVER (ORDER BY item_id) AS n"
                "  FROM item_embeddings WHERE model = :m) a JOIN"
                " (SELECT embedding, row_number() OVER (ORDER BY md5(item_id::text)) AS n"
                "  FROM item_embeddings WHERE model = :m) b USING (n)"
            ),
            {"m": MODEL},
        )
    yield eng
    eng.dispose()


@pytest.fixture
def pgrec(fresh_db_url: str) -> Cli:
    """The `pgrec` command in this process, pointed at the private database."""

    def run(*argv: str) -> tuple[int, str, str]:
        return run_cli(fresh_db_url, *argv)

    return run


def _active(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT name FROM embedding_models WHERE active")).scalar())


def _kept(engine: Engine, name: str) -> tuple[float | None, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT neighbor_overlap, overlap_against FROM embedding_models WHERE name = :n"),
            {"n": name},
        ).one()
    return row[0], row[1]


def test_a_rewritten_model_is_refused_and_the_same_vectors_pass(engine: Engine, pgrec: Cli) -> None:
    code, out, err = pgrec("models", "activate", "permuted")
    assert code == 2 and "below 0.50" in err and "--force" in err, err
    assert "neighbour overlap@10 all-MiniLM-L6-v2 -> permuted" in out
    assert "[" in out and "Item " in out and "was:" in out  # the movers, by title
    overlap, against = _kept(engine, "permuted")
    assert overlap is not None and overlap < 0.5 and against == MODEL
    assert _active(engine) == MODEL

    code, out, _ = pgrec("models", "activate", "same")
    assert code == 0 and "-> same: 1.000" in out, out
    assert _active(engine) == "same" and _kept(engine, "same") == (1.0, MODEL)

    code, out, _ = pgrec("models", "activate", "permuted", "--force")
    assert code == 0 and _active(engine) == "permuted"
    code, out, _ = pgrec("models", "list")
    assert code == 0 and re.search(r"^same .* 1\.00  ", out, re.M), out
    assert re.search(r"^permuted .* 0\.[0-4]\d  ", out, re.M), out

    code, out, _ = pgrec("impressions", "prune", "--days", "7")
    assert code == 0 and "deleted 0 impressions older than 7 days" in out
    code, _, err = pgrec("impressions", "prune", "--days", "0")
    assert code == 2 and "--days" in err
    code, out, _ = pgrec("impressions", "stats")
    assert code == 0 and "served coverage: 0 of 120 items" in out


def test_the_check_in_code(engine: Engine) -> None:
    drift = check_drift(engine, new="permuted", sample=50)
    assert drift is not None and drift.sample == 50 and drift.overlap < 0.5
    assert len(drift.movers) == 5 and all(m.title.startswith("Item ") for m in drift.movers)
    assert drift.movers[0].overlap <= drift.movers[-1].overlap
    with pytest.raises(DriftTooHigh, match="overlap@10"):
        activate_model(engine, name="permuted", min_overlap=0.9)
    # Without a threshold (code that does not ask for the check) nothing is compared.
    activate_model(engine, name="same")
    assert _kept(engine, "same") == (None, None) and check_drift(engine, new="same") is None
