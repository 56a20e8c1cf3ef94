"""The ranker's activation gate: a paired bootstrap interval of the per-user nDCG gain."""

from __future__ import annotations

import numpy as np

from jobs.ranker_fit import beats_fallback, gain_interval


def test_a_clear_gain_is_served_and_noise_is_not() -> None:
    rng = np.random.default_rng(0)
    fallback = rng.uniform(0, 0.3, size=120)
    clear = gain_interval(fallback + 0.05, fallback, seed=0)
    assert clear["mean"] == 0.05 and clear["ci95"][0] > 0
    assert beats_fallback({"ndcg_gain_over_fallback": clear})
    # Half the users gain what the other half lose: a mean near 0, an interval across it.
    noise = fallback + np.where(np.arange(120) % 2 == 0, 0.1, -0.1)
    tied = gain_interval(noise, fallback, seed=0)
    assert tied["ci95"][0] < 0 < tied["ci95"][1]
    assert not beats_fallback({"ndcg_gain_over_fallback": tied})
    same = gain_interval(fallback, fallback, seed=0)
    assert same["ci95"] == [0.0, 0.0] and not beats_fallback({"ndcg_gain_over_fallback": same})


def test_the_interval_is_reproducible_for_a_seed() -> None:
    rng = np.random.default_rng(1)
    model, fallback = rng.uniform(0, 1, 50), rng.uniform(0, 1, 50)
    assert gain_interval(model, fallback, seed=3) == gain_interval(model, fallback, seed=3)
