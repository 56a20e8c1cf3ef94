"""db/recs/calls.py's binary query vector: bound through SQLAlchemy and psycopg, pgvector reads
exactly the float32 values the text form carries, on fresh and on prepared statements."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine, text

from db.recs.calls import vector_literal, vector_param
from db.recs.filters import InvalidInput

_ROUND_TRIP = text("SELECT CAST(:q AS vector)::text, CAST(:t AS vector)::text")


def test_the_binary_form_reads_back_exactly_what_the_text_form_does(engine: Engine) -> None:
    rng = np.random.default_rng(3)
    with engine.connect() as conn:
        for _ in range(8):  # past psycopg's prepare threshold (5): prepared statements too
            v = rng.standard_normal(384).astype(np.float32) * np.float32(1e-3)
            v[0] = np.float32(1 / 3)  # not exact in decimal
            binary, from_text = conn.execute(
                _ROUND_TRIP, {"q": vector_param(v), "t": vector_literal(v)}
            ).one()
            assert binary == from_text
            assert np.array_equal(np.array(binary[1:-1].split(","), dtype=np.float32), v)


@pytest.mark.parametrize(
    "bad", [np.array([]), np.zeros((2, 2)), np.array([1.0, np.nan]), np.zeros(16001)]
)
def test_bad_vectors_are_refused_before_the_database(bad: np.ndarray) -> None:
    with pytest.raises(InvalidInput):
        vector_param(bad)
