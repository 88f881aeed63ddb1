"""1-D k-means for codebook quantization: a layer's weights -> 2^b centroids + codes.

Plain numpy on the CPU in float64 (exact for float32 weights): sorting and binary searches
over a few million values take milliseconds, and numpy's single-threaded kernels do not stall
on a busy machine the way tiny multi-threaded torch ops can.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

_KMEANSPP_SAMPLE = 20_000  # k-means++ seeds from a random subsample of this many weights


def _assign_sorted(xs: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Cluster boundaries for sorted values `xs` and sorted centroids `c`.

    Returns `starts` (k + 1,): cluster j holds xs[starts[j]:starts[j + 1]]. In 1-D the nearest
    centroid is found by comparing with the midpoints between neighbouring centroids, so an
    assignment costs k binary searches instead of an N x k distance matrix.
    """
    inner = np.searchsorted(xs, (c[1:] + c[:-1]) / 2, side="right")  # ties at a midpoint go left
    return np.concatenate([[0], inner, [xs.size]])


def _reseed_empty(xs: np.ndarray, c: np.ndarray, starts: np.ndarray) -> tuple:
    """Move each empty centroid onto the value farthest from its own centroid, one at a time."""
    for _ in range(c.size):
        counts = np.diff(starts)
        empty = np.flatnonzero(counts == 0)
        if empty.size == 0:
            break
        lo = xs[np.minimum(starts[:-1], xs.size - 1)]  # smallest value of each cluster
        hi = xs[np.maximum(starts[1:] - 1, 0)]  # largest value of each cluster
        far = np.where(counts > 0, np.maximum(c - lo, hi - c), -1.0)
        j = int(far.argmax())
        if far[j] <= 0:  # every cluster is a single value: nothing left to split
            break
        c = c.copy()
        c[empty[0]] = lo[j] if c[j] - lo[j] >= hi[j] - c[j] else hi[j]
        c.sort()
        starts = _assign_sorted(xs, c)
    return c, starts


def _kmeanspp(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means++ seeding (D^2 sampling) on a random subsample of `x`."""
    rng = np.random.default_rng(seed)
    if x.size > _KMEANSPP_SAMPLE:
        x = rng.choice(x, _KMEANSPP_SAMPLE, replace=False)
    chosen = [x[rng.integers(x.size)]]
    d2 = (x - chosen[0]) ** 2
    for _ in range(k - 1):
        cum = np.cumsum(d2)  # pick a value with probability proportional to d2
        if cum[-1] > 0:
            pick = x[min(np.searchsorted(cum, rng.random() * cum[-1], side="right"), x.size - 1)]
        else:  # fewer distinct values in the sample than k: the duplicates get re-seeded later
            pick = x[rng.integers(x.size)]
        chosen.append(pick)
        d2 = np.minimum(d2, (x - pick) ** 2)
    return np.array(chosen)


def kmeans(
    values: Tensor,
    k: int,
    init: str = "kmeans++",
    iters: int = 25,
    init_centroids: Tensor | None = None,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means on a 1-D tensor -> (centroids (k,) sorted ascending, codes (N,) int64).

    `init` is "kmeans++" (seeded on a subsample) or "linear" (evenly spaced between min and
    max); `init_centroids` warm-starts from a previous codebook instead. `iters` bounds the
    Lloyd iterations (it stops early once assignments settle). Empty clusters are re-seeded at
    the value farthest from its centroid. When `values` has at most k distinct values, they
    become the centroids and `centroids[codes]` reproduces `values` exactly.
    """
    if values.dim() != 1 or values.numel() == 0:
        raise ValueError(f"kmeans needs a non-empty 1-D tensor, got shape {tuple(values.shape)}")
    if k < 1:
        raise ValueError(f"kmeans needs k >= 1, got {k}")
    if init not in ("kmeans++", "linear"):  # config.KMEANS_INITS, checked here without config
        raise ValueError(f"kmeans init must be 'kmeans++' or 'linear', got {init!r}")
    v = values.detach().cpu()
    v = (v if v.dtype in (torch.float32, torch.float64) else v.float()).numpy()
    xs = np.sort(v).astype(np.float64)  # numpy sorts float32 ~3x faster than float64
    x = v.astype(np.float64)

    distinct = xs[np.concatenate([[True], xs[1:] != xs[:-1]])]  # np.unique would sort again
    if distinct.size <= k:
        pad = np.full(k - distinct.size, distinct[-1])  # unused duplicates of the largest value
        return _back(np.concatenate([distinct, pad]), np.searchsorted(distinct, x), values)

    if init_centroids is not None:
        c = init_centroids.detach().cpu().double().flatten().numpy()
        if c.size != k:
            raise ValueError(f"init_centroids has {c.size} values, expected k={k}")
    elif init == "linear":
        c = np.linspace(xs[0], xs[-1], k)
    else:
        c = _kmeanspp(x, k, seed)
    c = np.sort(c)

    # prefix[i] = xs[0] + ... + xs[i-1], so a cluster's sum is a difference of two entries.
    prefix = np.concatenate([[0.0], np.cumsum(xs)])
    starts = _assign_sorted(xs, c)
    for _ in range(iters):
        c, starts = _reseed_empty(xs, c, starts)
        counts = np.diff(starts)
        sums = prefix[starts[1:]] - prefix[starts[:-1]]
        c = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), c))  # centroid -> mean
        new_starts = _assign_sorted(xs, c)
        if np.array_equal(new_starts, starts):
            break
        starts = new_starts
    c, _ = _reseed_empty(xs, c, _assign_sorted(xs, c))
    codes = np.searchsorted((c[1:] + c[:-1]) / 2, x, side="left")  # nearest; ties go left
    return _back(c, codes, values)


def _back(c: np.ndarray, codes: np.ndarray, like: Tensor) -> tuple[Tensor, Tensor]:
    return (
        torch.from_numpy(c).to(like.device, like.dtype),
        torch.from_numpy(codes.astype(np.int64)).to(like.device),
    )
