"""Validation-only rejection check: threshold on the top probability chosen on the valid split
(at most 0.5 % of the right answers rejected), share of the validation OOD set
(runs/exp/ood_valid, made by ood_valid_set.py; /tmp/exp/ood_valid when it ran) rejected.
Reads no test clip.

    python benchmarks/experiments/2026-11-27-rejection/ood_valid_only.py MODEL DATA
"""

import sys
from pathlib import Path

import numpy as np
import torch

from quads.audio import featurize
from quads.data.corpus import read_corpus
from quads.inference import load_model

torch.set_num_threads(1)
loaded = load_model(sys.argv[1])
m = loaded.model.eval()
labels = loaded.labels


def probs(paths):
    out = []
    for i in range(0, len(paths), 16):
        mel = torch.stack([featurize(p, loaded.settings) for p in paths[i : i + 16]])
        with torch.no_grad():
            out.append(torch.softmax(m(mel), -1).numpy())
    return np.concatenate(out)


us = read_corpus(sys.argv[2], "fsc", "valid").utterances
pv = probs([u.path for u in us])
y = np.array([labels.index(u.label) for u in us])
right = pv.argmax(1) == y
k = int(np.floor(0.005 * len(y)))
thr = np.sort(pv.max(1)[right])[k]
po = probs(sorted(Path("runs/exp/ood_valid").glob("*.wav")))
print(
    f"{sys.argv[1]}: valid acc {right.mean():.3f} threshold {thr:.3f} "
    f"ood_valid rejected {(po.max(1) < thr).mean():.3f}"
)
