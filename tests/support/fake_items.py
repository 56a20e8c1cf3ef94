"""Items embedded by the fake embedder in a private database, for the model-version tests."""

from __future__ import annotations

from sqlalchemy import Engine, text

from jobs.worker import run_embed


def embed_fake_items(engine: Engine, n: int, description: str) -> None:
    """Point every registered model at `fake:384`, insert items m1..mN titled `Item g` whose
    description is the SQL expression `description` of g, and embed them all."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE embedding_models SET path = 'fake:384'"))
        conn.execute(
            text(
                "INSERT INTO items (external_id, title, description)"
                f" SELECT 'm' || g, 'Item ' || g, {description} FROM generate_series(1, :n) g"
            ),
            {"n": n},
        )
    run_embed(engine)
