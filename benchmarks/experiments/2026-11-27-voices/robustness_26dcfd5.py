"""`predict` and `by_group` of benchmarks/robustness.py as they were at commit 26dcfd5, which
the scripts of this folder import as a sibling module (they were run with them)."""

from __future__ import annotations

import numpy as np
import torch

from quads.audio import load_audio, log_mel
from quads.data.augment import add_noise
from quads.data.corpus import Utterance
from quads.data.dataset import fit
from quads.evaluate.metrics import breakdown
from quads.inference import LoadedModel


@torch.inference_mode()
def predict(loaded: LoadedModel, utterances: list[Utterance], snr: float | None) -> list[str]:
    """Labels predicted for the clips, with pink noise at `snr` dB (seeded per clip)."""
    s, model = loaded.settings, loaded.model
    preds: list[str] = []
    for start in range(0, len(utterances), 32):
        mels = []
        for k, u in enumerate(utterances[start : start + 32]):
            audio = load_audio(u.path, s.sample_rate)[: s.n_samples]
            if snr is not None:
                audio = add_noise(audio, np.random.default_rng(start + k), snr, "pink")
            mels.append(log_mel(fit(audio, s.n_samples), s.n_mels))
        preds += [model.labels[int(i)] for i in model(torch.stack(mels)).argmax(-1)]
    return preds


def by_group(truth: list[str], pred: list[str], groups: list[str], labels: list[str]) -> dict:
    """Utterances, accuracy and macro-F1 per group, and of all of them ("all")."""
    by = breakdown(truth, pred, groups, labels, "fsc")
    by["all"] = breakdown(truth, pred, ["all"] * len(truth), labels, "fsc")["all"]
    return by
