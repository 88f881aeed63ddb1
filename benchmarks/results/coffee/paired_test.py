"""Paired command acceptance of two recipes on one test split, seeds pooled clip by clip:
the difference with a bootstrap 95 % interval and McNemar's exact p.

    python paired_test.py CORPUS RUN_A0,RUN_A1,... RUN_B0,RUN_B1,...
    # e.g. data/coffee-kokoro-en runs/3it-s0,runs/3it-s1,runs/3it-s2 runs/big-s0,...
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

import quads

corpus = Path(sys.argv[1])
with open(corpus / "test.csv", newline="") as f:
    rows = list(csv.DictReader(f))
paths = [str(corpus / r["path"]) for r in rows]


def right(run: str) -> np.ndarray:
    model = quads.load_model(Path(run) / "model.quads", threads=1)
    return np.array(
        [
            p.intent == r["label"] and p.slots == json.loads(r["slots"] or "{}")
            for p, r in zip(model.predict(paths), rows)
        ]
    )


a = np.concatenate([right(run) for run in sys.argv[2].split(",")])
b = np.concatenate([right(run) for run in sys.argv[3].split(",")])
d = b.astype(float) - a
rng = np.random.default_rng(0)
boots = [d[rng.integers(0, d.size, d.size)].mean() for _ in range(10000)]
lo, hi = np.percentile(boots, [2.5, 97.5])
only_b, only_a = int((b & ~a).sum()), int((a & ~b).sum())
p = binomtest(only_b, only_b + only_a).pvalue if only_a + only_b else 1.0
print(
    f"A {100 * a.mean():.2f} %, B {100 * b.mean():.2f} %: B - A {100 * d.mean():+.2f} points "
    f"[{100 * lo:+.2f}, {100 * hi:+.2f}]; right only in B {only_b}, only in A {only_a}; "
    f"McNemar p {p:.2g}"
)
