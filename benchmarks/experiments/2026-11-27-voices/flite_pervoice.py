"""Accuracy per Flite base voice of a .quads model on data/robust-flite-voices (a split).

    python benchmarks/experiments/2026-11-27-voices/flite_pervoice.py MODEL [SPLIT]

Run from the repository root (data/ paths are relative to it).
"""

import sys
from pathlib import Path

from robustness_26dcfd5 import by_group, predict  # benchmarks/robustness.py at 26dcfd5

from quads.data.corpus import read_corpus
from quads.inference import load_model

loaded, split = load_model(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "valid"
utts = read_corpus(Path("data/robust-flite-voices"), "fsc", split).utterances
truth, pred = [u.label for u in utts], predict(loaded, utts, None)
voices = [u.speaker.split("-")[1] for u in utts]  # flite-<voice>-x<speed>-p<pitch>
for v, r in by_group(truth, pred, voices, loaded.labels).items():
    print(f"{v:6s} {r['n']:4d} {100 * r['accuracy']:5.1f} %")
