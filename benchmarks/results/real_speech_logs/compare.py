"""Two recipes on the real choosing half, seed for seed (docs/robustness.md, "Real people").

    python compare.py data/kw-rv runs/new-s0,runs/new-s1 runs/kw-rv-s0,runs/kw-rv-s1

Each run folder's `model.quads` answers the corpus's valid.csv (the half that chooses,
`real_halves.py`); the two lists pair by position (same seeds). Prints each recipe's
accuracy, the paired bootstrap interval and McNemar test of the difference
(`quads.evaluation.significance.compare`), and, from each run's `log.csv`, the mean
choosing-half accuracy over its epochs that could ship and over its last three: a recipe's level
without the pick of one epoch, which flatters whichever run fluctuates most.

Where a run has no `model.quads` (the stored logs of an earlier machine), the comparison is
by seed instead: each run's pick and shippable mean from `run.json` and `log.csv`, and the
mean difference over seeds with its t interval.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

import quads
from quads.evaluation.significance import compare


def rights(corpus: Path, run: Path) -> np.ndarray:
    rows = list(csv.DictReader((corpus / "valid.csv").open()))
    model = quads.load_model(run / "model.quads", threads=1)
    preds = model.predict([corpus / r["path"] for r in rows], reject=False)
    return np.array([p.top[0][0] == r["label"] for p, r in zip(preds, rows)])


def epoch_means(run: Path) -> tuple[float, float]:
    """Mean val_acc over the epochs that could ship (the quantized ones; every epoch of a
    full-precision run) and over the last three."""
    rows = list(csv.DictReader((run / "log.csv").open()))
    acc = [float(r["val_acc"]) for r in rows]
    shippable = [a for a, r in zip(acc, rows) if r["phase"] in ("qat", "quantize")] or acc
    return float(np.mean(shippable)), float(np.mean(acc[-3:]))


def by_seed(a: list[Path], b: list[Path]) -> None:
    """Per seed: the pick's choosing-half accuracy, the shippable mean and the reporting half's
    accuracy (run.json); the A - B differences' mean and 95 % t interval over seeds."""
    table = {}
    for name, runs in (("A", a), ("B", b)):
        rows = []
        for r in runs:
            j = json.loads((r / "run.json").read_text())
            rows.append((j["best_val_acc"], epoch_means(r)[0], j["accuracy"]))
        table[name] = np.array(rows) * 100
        print(f"{name} (pick, shippable mean, reporting half):")
        for r, (pick, ship, report) in zip(runs, table[name]):
            print(f"  {r.name}: {pick:.2f} {ship:.2f} {report:.2f}")
    diff = table["A"] - table["B"]
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(0, ddof=1) / np.sqrt(len(diff))
    for k, what in enumerate(("pick", "shippable mean", "reporting half")):
        mean = diff[:, k].mean()
        lo, hi = mean - half[k], mean + half[k]
        print(f"A - B, {what}: {mean:+.2f} points, 95 % t interval [{lo:+.2f}, {hi:+.2f}]")


def main(corpus: Path, a: list[Path], b: list[Path]) -> None:
    if not all((r / "model.quads").is_file() for r in a + b):
        by_seed(a, b)
        return
    right = {}
    for name, runs in (("A", a), ("B", b)):
        right[name] = np.stack([rights(corpus, r) for r in runs])
        shippable, last = np.array([epoch_means(r) for r in runs]).mean(0) * 100
        seeds = ", ".join(f"{x * 100:.2f}" for x in right[name].mean(1))
        print(
            f"{name}: {right[name].mean() * 100:.2f} % ({len(runs)} seeds: {seeds}); "
            f"shippable epochs {shippable:.2f} %, last three {last:.2f} %"
        )
    c = compare(right["A"], right["B"])
    lo, hi = c["interval_95"]
    m = c["mcnemar"]
    print(
        f"A - B: {c['difference'] * 100:+.2f} points, paired 95 % interval [{lo * 100:+.2f}, "
        f"{hi * 100:+.2f}], {m['a_only']} clips right only in A, {m['b_only']} only in B, "
        f"McNemar p {m['p']:.3f}: {c['verdict']}"
    )


if __name__ == "__main__":
    corpus, a, b = sys.argv[1], sys.argv[2], sys.argv[3]
    main(Path(corpus), [Path(r) for r in a.split(",")], [Path(r) for r in b.split(",")])
