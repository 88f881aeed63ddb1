"""Rejection: choosing when a model answers "unknown" ("I didn't catch that") instead of an
intent.

Two stages, both stored in the `.quads` meta under "rejection" and applied at prediction time
by `quads.runtime.predict`:

1. the **speech gate** on the audio, before the model (`quads.runtime.gate`);
2. a **confidence threshold** on the model's top probability, chosen here on the validation
   split (`calibrate`): the largest threshold that rejects at most `max_accuracy_drop` of
   the validation clips the model gets right (the gate's rejections included), and at most
   `max_threshold`. Speech the model was not trained for tends to get a lower top
   probability, and is rejected.

`calibrate` returns the meta entry; the training export stores it, and `quads calibrate`
writes it into an existing `.quads` file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np

from quads.config import RejectionConfig
from quads.runtime.gate import NO_SPEECH, Gate
from quads.runtime.predict import Model, all_read

if TYPE_CHECKING:
    from quads.data.types import Corpus


def gate_of(cfg: RejectionConfig) -> Gate:
    """The speech gate a rejection config asks for."""
    return Gate(cfg.min_speech_seconds, cfg.energy_floor_db, cfg.max_flatness)


THRESHOLD_MARGIN = 1e-5


def choose_threshold(confidences: Sequence[float], correct: Sequence[bool], budget: int) -> float:
    """The largest threshold t such that at most `budget` correct answers have confidence
    below t (answers with confidence < t are rejected)."""
    right = np.sort(np.asarray(confidences, dtype=np.float64)[np.asarray(correct, dtype=bool)])
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    if right.size == 0:
        return 0.0
    if budget >= right.size:
        return float(np.nextafter(right[-1], math.inf))
    # Just under the first kept answer's confidence (not on it): the same clip scored in a
    # batch of another size moves by float rounding and must not fall under the threshold.
    below = (right[budget - 1] + right[budget]) / 2 if budget else -math.inf
    return float(max(right[budget] - THRESHOLD_MARGIN, below))


def calibrate(
    confidences: Sequence[float],
    correct: Sequence[bool],
    gated: Sequence[bool],
    cfg: RejectionConfig,
    split: str = "valid",
) -> dict:
    """The .quads meta "rejection" entry from a validation run.

    `confidences[i]`, `correct[i]`: the model's top probability and whether its answer is
    right, for clip i of the validation split; `gated[i]`: the gate refused clip i (counted
    as rejected whatever the model says). The threshold rejects at most
    `cfg.max_accuracy_drop` of the clips in all, among those the model gets right, and is at
    most `cfg.max_threshold` (voices the validation split lacks are heard less surely)."""
    conf = np.asarray(confidences, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    gate_off = np.asarray(gated, dtype=bool)
    n = conf.size
    if n == 0 or not (right.size == gate_off.size == n):
        raise ValueError("calibrate needs one confidence, correct and gated flag per clip")
    budget = math.floor(cfg.max_accuracy_drop * n + 1e-9) - int((right & gate_off).sum())
    threshold = choose_threshold(conf[~gate_off], right[~gate_off], max(budget, 0))
    if budget < 0:  # the gate alone costs more than allowed: no threshold on top
        threshold = 0.0
    threshold = min(threshold, cfg.max_threshold)
    rejected = gate_off | (conf < threshold)
    return {
        "threshold": threshold,
        "score": cfg.score,
        "gate": asdict(gate_of(cfg)),
        "max_accuracy_drop": cfg.max_accuracy_drop,
        "max_threshold": cfg.max_threshold,
        "chosen_on": split,
        split: {
            "n": int(n),
            "accuracy": float(right.mean()),
            "accuracy_with_rejection": float((right & ~rejected).mean()),
            "rejected": float(rejected.mean()),
            "rejected_by_gate": float(gate_off.mean()),
        },
    }


def calibrate_model(
    model: Model,
    corpus: Corpus,
    cfg: RejectionConfig,
    batch_size: int = 16,
    split: str = "valid",
) -> dict:
    """Run `model` on `corpus` (the validation split) through the one prediction step, with
    the speech gate of `cfg` and no threshold, and return the .quads meta "rejection" entry
    (see `calibrate`). The training export stores it; `quads calibrate` rewrites it."""
    gate_only = {"threshold": 0.0, "gate": asdict(gate_of(cfg))}
    paths = [u.path for u in corpus.utterances]
    preds = all_read(model.predict(paths, 1, batch_size=batch_size, rejection=gate_only))
    gated = [p.reason == NO_SPEECH for p in preds]
    correct = [(p.best, p.heard) == u.command for p, u in zip(preds, corpus.utterances)]
    return calibrate([p.confidence for p in preds], correct, gated, cfg, split)
