"""Where the speech starts, and how much the models care.

    python onset.py data/kw-rv [runs/kw-rv-s0/model.quads ...]

For the corpus `real_halves.py` made: after the product's trim (35 dB under the loudest
frame, 0.15 s margins), the time from a clip's start to its first frame within 20 dB of
its loudest (the onset) and from its last such frame to its end (the tail), as 10th, 50th
and 90th percentiles, for the synthetic training clips and the real choosing half. Then
each model's accuracy on the choosing half with its clips moved later (faint noise before
the trimmed speech) or earlier (their first 80 or 160 ms dropped) (docs/robustness.md,
"Real people": `augment.shift_prob`).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

import quads
from quads.data.augment import move_onset
from quads.runtime.audio import Trim, load_audio, trim_silence

MOVES_MS = (-160, -80, 0, 80, 160, 320)


def onset_tail(audio: np.ndarray, db: float = 20.0) -> tuple[float, float]:
    """Seconds before the first and after the last 10 ms frame within `db` of the loudest."""
    n = audio.size // 160
    energy = 10 * np.log10((audio[: n * 160].reshape(n, 160) ** 2).mean(1) + 1e-12)
    loud = np.nonzero(energy > energy.max() - db)[0]
    return loud[0] * 0.01, (n - loud[-1] - 1) * 0.01


def main(corpus: Path, models: list[str]) -> None:
    for split, limit in (("train", 800), ("valid", None)):
        rows = list(csv.DictReader((corpus / f"{split}.csv").open()))[:limit]
        times = np.array(
            [onset_tail(trim_silence(load_audio(corpus / r["path"]), Trim())) for r in rows]
        )
        on, tail = (np.percentile(times[:, i], [10, 50, 90]).round(2) for i in (0, 1))
        print(f"{split} ({len(rows)} clips): onset {on} s, tail {tail} s (10/50/90 %)")
    rows = list(csv.DictReader((corpus / "valid.csv").open()))
    audio = [load_audio(corpus / r["path"]) for r in rows]
    print("choosing half, speech moved by " + " / ".join(f"{ms:+d}" for ms in MOVES_MS) + " ms:")
    for path in models:
        model = quads.load_model(path, threads=1)
        y = np.array([model.labels.index(r["label"]) for r in rows])
        accs = []
        for ms in MOVES_MS:
            rng = np.random.default_rng(0)  # the training shift's faint lead-in
            clips = [move_onset(trim_silence(a, model.trim), 16 * ms, rng) for a in audio]
            x = np.stack([model.fit(c) for c in clips])
            logits = np.concatenate([model.logits(x[i : i + 64]) for i in range(0, len(x), 64)])
            accs.append(f"{(logits.argmax(1) == y).mean() * 100:.2f}")
        print(f"{path}: " + " / ".join(accs) + " %")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
