"""Where several seeds of a keyword model go wrong on the real choosing half.

    python diagnose.py data/kw-rv runs/kw-rv-s0/model.quads runs/kw-rv-s1/model.quads ...

For the corpus `real_halves.py` made (its valid.csv: the half that chooses) and the models:
each model's accuracy and their seed ensemble's (mean probabilities), how many clips each
number of seeds gets wrong, the clips most seeds get wrong (with their level), accuracy by a
clip's dynamic range (loud frames over quiet ones) and by its peak level, and each model
again after removing DC, high-passing or peak-normalizing the audio (docs/robustness.md,
"Real people").
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt

import quads
from quads.runtime.audio import load_audio
from quads.runtime.predict import softmax


def dynamic_range_db(audio: np.ndarray) -> float:
    """95th over 10th percentile of the 10 ms frames' energy, in dB (a crude SNR)."""
    n = audio.size // 160
    energy = (audio[: n * 160].reshape(n, 160) ** 2).mean(1) + 1e-12
    return float(10 * np.log10(np.percentile(energy, 95) / np.percentile(energy, 10)))


def main(corpus: Path, models: list[str]) -> None:
    rows = list(csv.DictReader((corpus / "valid.csv").open()))
    audio = [load_audio(corpus / r["path"]) for r in rows]
    fronts = {"DC removed": lambda a: a - a.mean()}
    for hz in (60, 100):
        sos = butter(2, hz, "highpass", fs=16000, output="sos")
        fronts[f"high-pass {hz} Hz"] = lambda a, sos=sos: sosfilt(sos, a - a.mean()).astype(
            np.float32
        )
    fronts["peak at -3 dBFS"] = lambda a: 0.708 * (a - a.mean()) / np.abs(a - a.mean()).max()
    probs, labels, refronted = [], [], []
    for path in models:
        model = quads.load_model(path, threads=1)
        labels = model.labels
        x = np.stack([model.fit(a) for a in audio])
        logits = np.concatenate([model.logits(x[i : i + 32]) for i in range(0, len(x), 32)])
        probs.append(softmax(logits))
        scores = []
        for name, front in fronts.items():
            preds = model.predict([front(a) for a in audio], reject=False)
            acc = np.mean([q.top[0][0] == r["label"] for q, r in zip(preds, rows)])
            scores.append(f"{name} {acc * 100:.2f} %")
        refronted.append(f"{path}: " + ", ".join(scores))
    y = np.array([labels.index(r["label"]) for r in rows])
    right = np.array([p.argmax(1) == y for p in probs])
    for path, r in zip(models, right):
        print(f"{path}: {r.mean() * 100:.2f} %")
    ensemble = sum(probs) / len(probs)
    print(f"seed ensemble: {(ensemble.argmax(1) == y).mean() * 100:.2f} %")
    wrong = (~right).sum(0)
    print("clips wrong for k seeds, k = 0..:", np.bincount(wrong, minlength=len(models) + 1))
    for i in np.where(wrong >= max(1, len(models) - 1))[0]:
        a = audio[i]
        print(
            f"  {rows[i]['path']}: {rows[i]['label']} -> {labels[ensemble[i].argmax()]}, "
            f"peak {np.abs(a).max():.2f}, range {dynamic_range_db(a):.1f} dB"
        )
    ranges = np.array([dynamic_range_db(a) for a in audio])
    for lo, hi in ((0, 10), (10, 20), (20, 30), (30, 40), (40, 999)):
        k = (ranges >= lo) & (ranges < hi)
        if k.any():
            print(f"range {lo}-{hi} dB: {k.sum()} clips, {right[:, k].mean() * 100:.1f} % right")
    peaks = np.array([20 * np.log10(np.abs(a).max() + 1e-9) for a in audio])
    for lo, hi in ((-99, -20), (-20, -11), (-11, -5), (-5, 1)):
        k = (peaks >= lo) & (peaks < hi)
        if k.any():
            share = right[:, k].mean() * 100
            print(f"peak {lo} to {hi} dBFS: {k.sum()} clips, {share:.1f} % right")
    print("\n".join(refronted))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2:])
