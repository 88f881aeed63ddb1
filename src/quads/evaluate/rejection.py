"""Rejection: when a model answers "unknown" ("I didn't catch that") instead of an intent.

Two stages, both stored in the `.quads` meta under "rejection":

1. A **speech gate** on the audio, before the model: a clip needs at least
   `min_speech_seconds` of speech-like 25 ms frames, i.e. frames louder than
   `energy_floor_db` (dBFS) whose spectrum is not flat (spectral flatness below
   `max_flatness`: white noise is flat, voiced speech is not). Silence, a click, a few
   milliseconds of audio and white noise do not pass.
2. A **confidence threshold** on the model's top probability, chosen on the validation
   split (`calibrate`): the largest threshold that rejects at most `max_accuracy_drop` of
   the validation clips the model gets right (the gate's rejections included). Speech the
   model was not trained for tends to get a lower top probability, and is rejected.

`calibrate` returns the meta entry; the training export stores it, and `quads calibrate`
writes it into an existing `.quads` file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from quads.config import RejectionConfig

if TYPE_CHECKING:
    from quads.audio import FeatureSettings
    from quads.data.corpus import Corpus
    from quads.models.student import SLUModel

FRAME = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms
SAMPLE_RATE = 16000
BAND = (4, 160)  # FFT bins 100 Hz .. 4 kHz: where speech has its formants and harmonics

NO_SPEECH = "no speech"
LOW_CONFIDENCE = "low confidence"


@dataclass(frozen=True)
class Gate:
    min_speech_seconds: float = 0.15
    energy_floor_db: float = -50.0
    max_flatness: float = 0.35

    @classmethod
    def from_config(cls, cfg: RejectionConfig) -> Gate:
        return cls(cfg.min_speech_seconds, cfg.energy_floor_db, cfg.max_flatness)

    @classmethod
    def from_meta(cls, entry: dict) -> Gate:
        """From a .quads meta "rejection" entry (defaults for missing keys)."""
        return cls(**{k: float(v) for k, v in entry.get("gate", {}).items() if k in _GATE_KEYS})


_GATE_KEYS = {"min_speech_seconds", "energy_floor_db", "max_flatness"}


def frame_stats(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per 25 ms frame (10 ms hop) of 16 kHz audio: level in dBFS (RMS; a full-scale sine
    is -3 dB) and spectral flatness (geometric / arithmetic mean of the power spectrum over
    100 Hz-4 kHz, 0 = tonal, ~0.56 = white noise)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size < FRAME:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    n = 1 + (audio.size - FRAME) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(audio, FRAME)[::HOP][:n]
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    level = 20 * np.log10(np.maximum(rms, 1e-10))
    spec = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1)) ** 2
    band = spec[:, BAND[0] : BAND[1]] + 1e-20
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    return level.astype(np.float32), flatness.astype(np.float32)


def speech_seconds(audio: np.ndarray, gate: Gate = Gate()) -> float:
    """Seconds of speech-like frames in 16 kHz `audio` (loud enough and not flat)."""
    level, flatness = frame_stats(audio)
    speech = (level > gate.energy_floor_db) & (flatness < gate.max_flatness)
    return float(speech.sum()) * HOP / SAMPLE_RATE


def has_speech(audio: np.ndarray, gate: Gate = Gate()) -> bool:
    """Whether a clip passes the speech gate."""
    return speech_seconds(audio, gate) >= gate.min_speech_seconds


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
    return float(right[budget])


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
    `cfg.max_accuracy_drop` of the clips in all, among those the model gets right."""
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
    rejected = gate_off | (conf < threshold)
    return {
        "threshold": threshold,
        "score": cfg.score,
        "gate": asdict(Gate.from_config(cfg)),
        "max_accuracy_drop": cfg.max_accuracy_drop,
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
    model: SLUModel,
    settings: FeatureSettings,
    corpus: Corpus,
    cfg: RejectionConfig,
    batch_size: int = 16,
    split: str = "valid",
) -> dict:
    """Run `model` on `corpus` (the validation split) and return the .quads meta
    "rejection" entry (see `calibrate`). The training export stores it:
    `meta["rejection"] = calibrate_model(model, settings, valid_set, cfg.rejection)`."""
    from quads.inference import LoadedModel, classify_files

    was_training = model.training
    loaded = LoadedModel(model.eval(), settings, {})
    gate_only = {"threshold": 0.0, "gate": asdict(Gate.from_config(cfg))}
    paths = [u.path for u in corpus.utterances]
    preds = list(classify_files(loaded, paths, 1, batch_size, rejection=gate_only))
    model.train(was_training)
    for p in preds:
        if p.error:
            raise ValueError(p.error)
    gated = [p.reason == NO_SPEECH for p in preds]
    correct = [bool(p.top) and p.top[0][0] == u.label for p, u in zip(preds, corpus.utterances)]
    return calibrate([p.confidence for p in preds], correct, gated, cfg, split)


def model_entry(meta: dict) -> dict:
    """A model's rejection settings from its meta; a model without them still gets the
    default speech gate (and no confidence threshold)."""
    return meta.get("rejection") or {"threshold": 0.0, "gate": asdict(Gate())}


def rejected(confidence: float, passed_gate: bool, entry: dict | None) -> str | None:
    """Why an answer is rejected under a meta "rejection" entry (None: it is not)."""
    if entry is None:
        return None
    if not passed_gate:
        return NO_SPEECH
    if confidence < float(entry.get("threshold", 0.0)):
        return LOW_CONFIDENCE
    return None
