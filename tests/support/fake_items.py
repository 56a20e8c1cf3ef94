"""Items embedded by the fake embedder in a private database, for the model-version tests."""

from __future__ import annotations

from sqlalchemy import Engine, text

from jobs.worker import run_embed


def embed_fake_items(engine: Engine, insert_items: str) -> None:
    """Point every registered model at `fake:384`, run `insert_items`, embed all the items."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE embedding_models SET path = 'fake:384'"))
        conn.execute(text(insert_items))
    run_embed(engine)
