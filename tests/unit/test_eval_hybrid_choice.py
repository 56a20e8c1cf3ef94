"""The hybrid served by the eval is the tuning half's argmax, feedback or not."""

from __future__ import annotations

from typing import Any, cast

from api import fusion
from bench.eval_text import TextModes


def _modes() -> TextModes:
    # The choice reads only the grid's rows: no connection, no embedder.
    return TextModes(cast(Any, None), cast(Any, None))


def test_the_argmax_row_chooses_feedback_and_its_constants() -> None:
    how = {"seeds": 10, "beta": 4.0, "depth": 20, "alpha": 0.5}
    table = [
        {"method": "rrf", "precision": 0.9, "ndcg": 0.8},
        {"method": "rrf", "feedback": how, "precision": 0.95, "ndcg": 0.8},
        {"method": "rrf", "feedback": {**how, "alpha": 0.7}, "precision": 0.9, "ndcg": 0.84},
    ]
    modes = _modes()
    modes._keep_best(table)
    assert modes.feedback == fusion.Feedback(seeds=10, beta=4.0, depth=20, alpha=0.5)


def test_a_feedback_row_only_equal_to_the_first_pass_does_not_win() -> None:
    how = {"seeds": 5, "beta": 1.0, "depth": 10, "alpha": 0.4}
    table = [
        {"method": "rrf", "precision": 0.9, "ndcg": 0.8},
        {"method": "rrf", "feedback": how, "precision": 0.9, "ndcg": 0.8},
    ]
    modes = _modes()
    modes.feedback = fusion.Feedback(1, 1.0, 1, 1.0)
    modes._keep_best(table)
    assert modes.feedback is None
