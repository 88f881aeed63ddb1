import sys, collections, torch
sys.path.insert(0, 'benchmarks')
from robustness import predict
from quads.inference import load_model
from quads.data.corpus import read_corpus
utts = read_corpus('data/robust-kokoro-valid', 'fsc', 'valid').utterances
pred = predict(load_model(sys.argv[1]), utts, None)
wrong = collections.Counter()
per_text = collections.defaultdict(lambda: [0, 0])
for u, p in zip(utts, pred):
    per_text[u.label][1] += 1
    if p != u.label:
        wrong[(u.label, p)] += 1
        per_text[u.label][0] += 1
for (t, p), n in wrong.most_common(15):
    print(n, t, '->', p)
print(sorted(((w, n, l) for l, (w, n) in per_text.items()), reverse=True)[:10])
