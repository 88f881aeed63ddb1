"""Accuracy per Flite base voice of a .quads model on data/robust-flite-voices (a split)."""

import sys
from pathlib import Path

sys.path.insert(0, "benchmarks")
from robustness import by_group, predict  # noqa: E402

from quads.data.corpus import read_corpus  # noqa: E402
from quads.inference import load_model  # noqa: E402

loaded, split = load_model(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "valid"
utts = read_corpus(Path("data/robust-flite-voices"), "fsc", split).utterances
truth, pred = [u.label for u in utts], predict(loaded, utts, None)
voices = [u.speaker.split("-")[1] for u in utts]  # flite-<voice>-x<speed>-p<pitch>
for v, r in by_group(truth, pred, voices, loaded.labels).items():
    print(f"{v:6s} {r['n']:4d} {100 * r['accuracy']:5.1f} %")
