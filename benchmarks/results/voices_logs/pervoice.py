import sys, collections
sys.path.insert(0,'benchmarks')
from robustness import predict
from quads.inference import load_model
from quads.data.corpus import read_corpus
utts = read_corpus(sys.argv[1].split(':')[0], 'fsc', sys.argv[1].split(':')[1]).utterances
for m in sys.argv[2:]:
    pred = predict(load_model(m), utts, None)
    by = collections.defaultdict(lambda: [0,0])
    for u,p in zip(utts,pred):
        by[u.speaker][0] += p==u.label; by[u.speaker][1]+=1
    print(m)
    for k,(c,n) in sorted(by.items()): print(f'  {k:45s} {c}/{n}')
