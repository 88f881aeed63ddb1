"""Right answers per speaker of one or more models on a corpus split.

    python benchmarks/experiments/2026-11-27-voices/pervoice.py DATA:SPLIT MODEL [MODEL ...]

Run from the repository root (data/ paths are relative to it).
"""

import collections
import sys

from robustness_26dcfd5 import predict  # benchmarks/robustness.py at 26dcfd5

from quads.data.corpus import read_corpus
from quads.inference import load_model

utts = read_corpus(sys.argv[1].split(":")[0], "fsc", sys.argv[1].split(":")[1]).utterances
for m in sys.argv[2:]:
    pred = predict(load_model(m), utts, None)
    by = collections.defaultdict(lambda: [0, 0])
    for u, p in zip(utts, pred):
        by[u.speaker][0] += p == u.label
        by[u.speaker][1] += 1
    print(m)
    for k, (c, n) in sorted(by.items()):
        print(f"  {k:45s} {c}/{n}")
