"""The speech gate: does a clip hold speech at all? Numpy only; it runs at prediction time,
before the model, in every runtime.

A clip needs at least `min_speech_seconds` of speech-like 25 ms frames: frames louder than
`energy_floor_db` (dBFS) whose spectrum is not flat (spectral flatness below `max_flatness`:
white noise is flat, voiced speech is not). Silence, a click, a few milliseconds of audio
and white noise do not pass. A model's gate settings and confidence threshold are its meta
"rejection" entry (`model_entry`); `quads.evaluation.rejection` chooses them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

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
