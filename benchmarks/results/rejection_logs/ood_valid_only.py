"""Validation-only rejection check: threshold on the top probability chosen on the valid split
(at most 0.5 % of the right answers rejected), share of the validation OOD set
(/tmp/exp/ood_valid, rejection_logs/ood_valid_set.py) rejected. Reads no test clip."""
import sys
import numpy as np
import torch
from quads.inference import load_model
from quads.data.corpus import read_corpus
from quads.audio import featurize
from pathlib import Path
torch.set_num_threads(1)
loaded = load_model(sys.argv[1]); m = loaded.model.eval(); labels = loaded.labels
def probs(paths):
    out = []
    for i in range(0, len(paths), 16):
        mel = torch.stack([featurize(p, loaded.settings) for p in paths[i:i + 16]])
        with torch.no_grad():
            out.append(torch.softmax(m(mel), -1).numpy())
    return np.concatenate(out)
us = read_corpus(sys.argv[2], "fsc", "valid").utterances
pv = probs([u.path for u in us]); y = np.array([labels.index(u.label) for u in us])
right = pv.argmax(1) == y
k = int(np.floor(0.005 * len(y))); thr = np.sort(pv.max(1)[right])[k]
po = probs(sorted(Path("/tmp/exp/ood_valid").glob("*.wav")))
print(f"{sys.argv[1]}: valid acc {right.mean():.3f} threshold {thr:.3f} ood_valid rejected {(po.max(1) < thr).mean():.3f}")
