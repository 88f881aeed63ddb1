"""Accuracy per Flite base voice of a .quads model on data/robust-flite-voices (a split)."""
import sys
from collections import defaultdict
from pathlib import Path
sys.path.insert(0, "benchmarks")
from robustness import predict  # noqa: E402
from quads.data.corpus import read_corpus  # noqa: E402

model, split = Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "valid"
utts = read_corpus(Path("data/robust-flite-voices"), "fsc", split).utterances
pred = predict(model, utts, None)
hit = defaultdict(list)
for u, p in zip(utts, pred):
    hit[u.speaker.split("-")[1]].append(p == u.label)
for v, h in sorted(hit.items()):
    print(f"{v:6s} {len(h):4d} {100 * sum(h) / len(h):5.1f} %")
print(f"all    {len(pred):4d} {100 * sum(p == u.label for u, p in zip(utts, pred)) / len(pred):5.1f} %")
