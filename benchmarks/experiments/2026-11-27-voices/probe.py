"""Linear probe on frozen Whisper encoder features: train on espeak (train split), score
Kokoro valid. Run from the repository root (data/ paths are relative to it).

    python benchmarks/experiments/2026-11-27-voices/probe.py tiny.en|base
"""

import sys

import numpy as np
import torch
from torch.utils.data import DataLoader

from quads.audio import FeatureSettings
from quads.data.corpus import read_corpus
from quads.data.dataset import SpeechDataset
from quads.models.whisper_weights import load_whisper

torch.set_num_threads(1)
ref = sys.argv[1]
w = load_whisper(ref)
enc = w.encoder(3.0).eval()
st = FeatureSettings(n_mels=w.n_mels, context_seconds=3.0)


def feats(root, split):
    utts = read_corpus(root, "fsc", split).utterances
    labels = sorted({u.label for u in utts})
    out = []
    with torch.inference_mode():
        for mel, _, _ in DataLoader(SpeechDataset(utts, labels, st), 32):
            hs = enc(mel, output_hidden_states=True).hidden_states
            out.append(torch.stack([h.mean(1) for h in hs], 1).numpy())
    return np.concatenate(out), [u.label for u in utts]


Xtr, ytr = feats("data/robust-espeak", "train")
Xev, yev = feats("data/robust-espeak", "valid")
Xk, yk = feats("data/robust-kokoro-valid", "valid")
labels = sorted(set(ytr))
idx = {label: i for i, label in enumerate(labels)}


def fit(X, y):
    X = torch.tensor(X)
    y = torch.tensor([idx[v] for v in y])
    W = torch.nn.Linear(X.shape[1], len(labels))
    opt = torch.optim.LBFGS(W.parameters(), max_iter=500)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(W(X), y) + 1e-3 * W.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W


def acc(W, X, y):
    right = W(torch.tensor(X)).argmax(-1).numpy() == np.array([idx[v] for v in y])
    return round(100 * right.mean(), 1)


for layer in range(Xtr.shape[1]):
    m, s = Xtr[:, layer].mean(0), Xtr[:, layer].std(0) + 1e-6
    W = fit((Xtr[:, layer] - m) / s, ytr)
    with torch.no_grad():
        espeak_acc = acc(W, (Xev[:, layer] - m) / s, yev)
        kokoro_acc = acc(W, (Xk[:, layer] - m) / s, yk)
        print(
            ref, "layer", layer, "espeak valid", espeak_acc, "kokoro valid", kokoro_acc, flush=True
        )
