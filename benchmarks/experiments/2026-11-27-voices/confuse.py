"""The confusions of a model on the Kokoro valid voices, and the intents it gets wrong most.

    python benchmarks/experiments/2026-11-27-voices/confuse.py MODEL

Run from the repository root (data/ paths are relative to it).
"""

import collections
import sys

from robustness_26dcfd5 import predict  # benchmarks/robustness.py at 26dcfd5

from quads.data.corpus import read_corpus
from quads.inference import load_model

utts = read_corpus("data/robust-kokoro-valid", "fsc", "valid").utterances
pred = predict(load_model(sys.argv[1]), utts, None)
wrong = collections.Counter()
per_text = collections.defaultdict(lambda: [0, 0])
for u, p in zip(utts, pred):
    per_text[u.label][1] += 1
    if p != u.label:
        wrong[(u.label, p)] += 1
        per_text[u.label][0] += 1
for (t, p), n in wrong.most_common(15):
    print(n, t, "->", p)
print(sorted(((w, n, label) for label, (w, n) in per_text.items()), reverse=True)[:10])
