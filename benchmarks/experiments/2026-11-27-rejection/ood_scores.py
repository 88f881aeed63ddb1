"""Confidence scores for out-of-domain rejection on the pooled encoder features and logits of
a model, thresholds chosen on the valid split.

    python benchmarks/experiments/2026-11-27-rejection/ood_scores.py MODEL DATA

Run from the repository root. Scratch files (the feature cache, the OOD clips of
benchmarks/rejection.py) go to runs/exp/ (/tmp/exp/ when it ran); the validation OOD set is
runs/exp/ood_valid (ood_valid_set.py).
"""

import sys
from pathlib import Path

import numpy as np
import torch
from rejection_e9d71d8 import make_ood  # benchmarks/rejection.py at e9d71d8

from quads.audio import featurize
from quads.data.corpus import read_corpus
from quads.inference import load_model
from quads.models.student import mean_pool

torch.set_num_threads(1)
model_path, data = sys.argv[1], sys.argv[2]
loaded = load_model(model_path)
m = loaded.model.eval()
labels = loaded.labels


def feats(paths):
    out_f, out_l = [], []
    for i in range(0, len(paths), 16):
        mel = torch.stack([featurize(p, loaded.settings) for p in paths[i : i + 16]])
        with torch.no_grad():
            x, mask, _ = m.features(mel)
            pooled = mean_pool(x, mask) if m.pool is None else m.pool(x, mask)
            out_f.append(pooled.numpy())
            out_l.append(m.head(pooled).numpy())
    return np.concatenate(out_f), np.concatenate(out_l)


scratch = Path("runs/exp")
scratch.mkdir(parents=True, exist_ok=True)
cache = scratch / ("feats_" + model_path.replace("/", "_") + ".npz")
if cache.exists():
    z = np.load(cache, allow_pickle=True)
    D = z["D"].item()
else:
    D = {}
    for split in ("train", "valid", "test"):
        us = read_corpus(data, "fsc", split).utterances
        f, lg = feats([u.path for u in us])
        D[split] = (f, lg, np.array([labels.index(u.label) for u in us]))
        print(split, len(us), flush=True)
    ood = make_ood(scratch / "ood", 3, 0)
    f, lg = feats(ood)
    D["ood"] = (f, lg, None)
    f, lg = feats(sorted((scratch / "ood_valid").glob("*.wav")))
    D["ood_valid"] = (f, lg, None)
    np.savez(cache, D=np.array(D, dtype=object))
ftr, ltr, ytr = D["train"]
C = len(labels)
mu = np.stack([ftr[ytr == c].mean(0) for c in range(C)])
cen = ftr - mu[ytr]
cov = cen.T @ cen / len(ftr)


def maha_fn(shrink):
    S = cov + shrink * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
    P = np.linalg.inv(S)

    def f(x):
        d = x[:, None, :] - mu[None]
        return -np.einsum("ncd,de,nce->nc", d, P, d).min(1)

    return f


def norm(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


mun = norm(mu)
trn = norm(ftr)


def lse(lg):
    mx = lg.max(1)
    return mx + np.log(np.exp(lg - mx[:, None]).sum(1))


def msp(f, lg):
    p = np.exp(lg - lg.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return p.max(1)


scores = {
    "msp": msp,
    "energy": lambda f, lg: lse(lg),
    "maxlogit": lambda f, lg: lg.max(1),
    "cos_mean": lambda f, lg: (norm(f) @ mun.T).max(1),
    "knn5": lambda f, lg: np.sort(norm(f) @ trn.T, axis=1)[:, -5],
    "knn1": lambda f, lg: np.sort(norm(f) @ trn.T, axis=1)[:, -1],
}
for s in (0.01,):
    mf = maha_fn(s)
    scores[f"maha{s}"] = lambda f, lg, mf=mf: mf(f)
fv, lv, yv = D["valid"]
ft, lt, yt = D["test"]
fo, lo, _ = D["ood"]
fov, lov, _ = D["ood_valid"]
acc_t = (lt.argmax(1) == yt).mean()
print(f"valid acc {(lv.argmax(1) == yv).mean():.3f} test acc {acc_t:.3f}")
for budget in (0.005, 0.01):
    for name, fn in scores.items():
        sv = fn(fv, lv)
        right = lv.argmax(1) == yv
        k = int(np.floor(budget * len(yv)))
        r = np.sort(sv[right])
        thr = r[k] if k < len(r) else np.inf
        st, so = fn(ft, lt), fn(fo, lo)
        acc_rej = ((lt.argmax(1) == yt) & (st >= thr)).mean()
        # AUROC test in-domain vs ood
        a = np.concatenate([st, so])
        lab = np.r_[np.ones(len(st)), np.zeros(len(so))]
        order = np.argsort(a)
        ranks = np.empty(len(a))
        ranks[order] = np.arange(len(a))
        auc = (ranks[lab == 1].sum() - len(st) * (len(st) - 1) / 2) / (len(st) * len(so))
        print(
            f"budget {budget} {name:10s} ood_valid_rej {(fn(fov, lov) < thr).mean():.3f} "
            f"ood_rej {(so < thr).mean():.3f} test drop {100 * (acc_t - acc_rej):.2f} pts  "
            f"auroc {auc:.3f}"
        )
