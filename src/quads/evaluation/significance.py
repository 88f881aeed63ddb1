"""Is one model better than another on the same clips, or is the gap noise?

Both tests pair the two models clip by clip (same test clips, same seeds), which is far more
sensitive than comparing two accuracies with their separate error bars:

    mcnemar(a, b)            exact McNemar test: of the clips exactly one model gets right,
                             is the split between them further from 50:50 than chance allows?
    paired_interval(a, b)    bootstrap interval of accuracy(a) - accuracy(b), resampling clips
                             (the same clips in every seed: a clip's difficulty is shared)
    verdict(interval)        "better", "worse" or "tie" (the interval holds 0)
    compare(a, b)            all three, with the difference of the accuracies
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest


def _right(a: np.ndarray | list, b: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired results need the same clips: shapes {a.shape} and {b.shape}")
    return a, b


def mcnemar(a: np.ndarray | list, b: np.ndarray | list) -> dict:
    """a, b: per clip (any shape, e.g. seeds x clips), whether each model got it right.
    -> {"a_only", "b_only": clips only one model got right, "p": two-sided exact p-value}."""
    a, b = _right(a, b)
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    n = a_only + b_only
    p = binomtest(a_only, n, 0.5).pvalue if n else 1.0
    return {"a_only": a_only, "b_only": b_only, "p": float(p)}


def paired_interval(
    a: np.ndarray | list,
    b: np.ndarray | list,
    level: float = 0.95,
    rounds: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a) - mean(b): a, b are (seeds, clips) or
    (clips,) bools; the clips are resampled, each seed keeping the same draw."""
    a, b = _right(a, b)
    diff = (a.astype(np.float64) - b).reshape(-1, a.shape[-1]).mean(0)  # per clip, over seeds
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diff.size, (rounds, diff.size))
    means = diff[idx].mean(1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return float(lo), float(hi)


def verdict(interval: tuple[float, float]) -> str:
    """'better' / 'worse' when the whole interval of a - b is above / below 0, else 'tie'."""
    lo, hi = interval
    return "better" if lo > 0 else "worse" if hi < 0 else "tie"


def compare(a: np.ndarray | list, b: np.ndarray | list) -> dict:
    """{"difference", "interval_95", "mcnemar", "verdict"} of model a against model b."""
    a, b = _right(a, b)
    interval = paired_interval(a, b)
    return {
        "difference": float(a.mean() - b.mean()),
        "interval_95": interval,
        "mcnemar": mcnemar(a, b),
        "verdict": verdict(interval),
    }
