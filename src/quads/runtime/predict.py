"""The one prediction step of every runtime: clips in, `Prediction`s out.

    file or 16 kHz array -> speech gate -> trim the silence around the speech -> fit to the
    model's context -> log-mel -> logits (the backend) -> softmax -> top-k -> threshold

`Model` holds a backend, a function from audio at the model's context (B, samples) to
logits (B, intents), and what the model file says about itself (labels, context, rejection). The
backends are onnxruntime (`quads.runtime.session`, no torch) and torch (`quads.inference`);
`quads.load_model` picks one. The CLI, the Python API, evaluation and the export checks all
predict through `Model.predict`. Numpy only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from quads.runtime.audio import (
    SAMPLE_RATE,
    AudioError,
    Trim,
    fit_to_context,
    load_audio,
    trim_silence,
)
from quads.runtime.gate import Gate, has_speech, model_entry, rejected
from quads.runtime.heads import Heads

Source = str | os.PathLike | np.ndarray
Backend = Callable[[np.ndarray], np.ndarray]


@dataclass
class Prediction:
    """One clip's answer: an intent and its slots ({slot: value}, absent slots left out).

    `intent` is None, with no slots, for "unknown" (`reason` says why: "no speech" or "low
    confidence") and for a clip that could not be used (`error` names it). `top` (the best
    intents with their probabilities) and `heard` (the slot values the model heard) are
    filled whenever the model ran, rejected or not."""

    path: str
    intent: str | None = None
    slots: dict[str, str] = field(default_factory=dict)
    confidence: float = 0.0
    top: list[tuple[str, float]] = field(default_factory=list)
    heard: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    error: str | None = None

    @property
    def best(self) -> str | None:
        """The model's top label, whatever the rejection said (None if it did not run)."""
        return self.top[0][0] if self.top else None

    def to_json(self) -> dict:
        """The `quads predict --jsonl` record of this clip ("unknown" when rejected, null on
        an error)."""
        return {
            "file": self.path,
            "intent": "unknown" if self.reason else self.intent,
            "slots": self.slots,
            "confidence": round(self.confidence, 4),
            "reason": self.reason,
            "top": [{"intent": label, "p": round(p, 4)} for label, p in self.top],
            "error": self.error,
        }


def all_read(preds: list[Prediction]) -> list[Prediction]:
    """`preds`, or an AudioError naming the first clip that could not be used (a corpus was
    checked when it was read, so one failing now is an error, not a row to skip)."""
    bad = next((p.error for p in preds if p.error), None)
    if bad:
        raise AudioError(bad)
    return preds


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (logits (B, C) -> probabilities (B, C))."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


class Model:
    """A trained model ready to predict: `model.predict(["clip.wav"]) -> [Prediction]`.

    `backend` maps audio at the model's context (B, n_samples) to logits; `meta` is the
    model file's description of itself: "labels", "n_mels", "context_seconds", "slots"
    ({slot: values}, absent for a model without slots), optionally
    "rejection" (the speech gate and the confidence threshold) and "features" ("trim": the
    silence trimming it was trained with; absent: the default `Trim()`)."""

    def __init__(self, backend: Backend, meta: dict, engine: str, path: str = "<model>") -> None:
        self.backend = backend
        self.meta = meta
        self.engine = engine
        self.path = path
        self.labels: list[str] = list(meta["labels"])
        self.heads = Heads.of(self.labels, meta.get("slots"))
        self.n_mels = int(meta["n_mels"])
        self.context_seconds = float(meta["context_seconds"])
        self.n_samples = int(round(self.context_seconds * SAMPLE_RATE))
        self.trim = Trim.from_meta(meta.get("features", {}).get("trim"))

    def __repr__(self) -> str:
        return (
            f"Model({self.path!r}, engine={self.engine!r}, {len(self.labels)} intents, "
            f"{len(self.heads.slots)} slots, "
            f"{self.context_seconds:g} s context)"
        )

    @property
    def rejection(self) -> dict:
        """The model's rejection settings; a model without them still gets the default speech
        gate (threshold 0: every clip with speech gets an intent)."""
        return model_entry(self.meta)

    def audio(self, source: Source) -> np.ndarray:
        """A file or a 16 kHz mono float array, as the model hears it before the context is
        applied: decoded, mono, 16 kHz (AudioError names a file that cannot be used)."""
        if isinstance(source, np.ndarray):
            if source.ndim != 1 or source.size == 0 or not np.isfinite(source).all():
                raise AudioError("<array>: expected non-empty finite mono audio (samples,)")
            return source.astype(np.float32, copy=False)
        return load_audio(source)

    def fit(self, audio: np.ndarray, source: Source = "<array>") -> np.ndarray:
        """The speech of `audio` (silence trimmed) at exactly the model's context."""
        name = "<array>" if isinstance(source, np.ndarray) else str(source)
        return fit_to_context(trim_silence(audio, self.trim), self.n_samples, name)

    def logits(self, audio: np.ndarray) -> np.ndarray:
        """Audio (B, n_samples) at the model's context -> logits (B, intents)."""
        return self.backend(audio)

    def predict(
        self,
        sources: Iterable[Source],
        top: int = 3,
        reject: bool = True,
        batch_size: int = 16,
        rejection: dict | None = None,
    ) -> list[Prediction]:
        """A `Prediction` per clip (a path or a 16 kHz mono float array), in order.

        A clip that cannot be used gets `error` set and the others go on. With `reject`, a
        clip that fails the speech gate, or whose top probability is under the model's
        threshold, gets intent None and a `reason`. `rejection` replaces the model's own
        rejection settings (a meta "rejection" entry)."""
        return list(self.predict_iter(sources, top, reject, batch_size, rejection))

    def predict_iter(
        self,
        sources: Iterable[Source],
        top: int = 3,
        reject: bool = True,
        batch_size: int = 16,
        rejection: dict | None = None,
    ) -> Iterator[Prediction]:
        """`predict`, one clip at a time as each batch finishes (memory does not grow with
        the number of clips)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if top < 1:
            raise ValueError(f"top must be >= 1, got {top}")
        entry = (rejection or self.rejection) if reject else None
        gate = Gate.from_meta(entry) if entry else None
        batch: list[tuple[Prediction, np.ndarray | None, bool]] = []
        for source in sources:
            batch.append(self._prepare(source, gate))
            if len(batch) == batch_size:
                yield from self._finish(batch, top, entry)
                batch = []
        if batch:
            yield from self._finish(batch, top, entry)

    def _prepare(
        self, source: Source, gate: Gate | None
    ) -> tuple[Prediction, np.ndarray | None, bool]:
        """A clip's Prediction shell, its audio at the context (None on error) and whether it
        passed the speech gate."""
        pred = Prediction("<array>" if isinstance(source, np.ndarray) else str(source))
        try:
            audio = self.audio(source)
        except AudioError as e:
            pred.error = str(e)
            return pred, None, False
        except OSError as e:
            pred.error = f"{source}: {e.strerror or e}"
            return pred, None, False
        passed = gate is None or has_speech(audio, gate)
        return pred, self.fit(audio, source), passed

    def _finish(
        self, batch: list[tuple[Prediction, np.ndarray | None, bool]], top: int, entry: dict | None
    ) -> Iterator[Prediction]:
        ran = [(pred, audio, passed) for pred, audio, passed in batch if audio is not None]
        if ran:
            intents, *slots = self.heads.split(self.logits(np.stack([a for _, a, _ in ran])))
            probs = softmax(intents)
            order = np.argsort(-probs, axis=-1, kind="stable")[:, :top]
            values = np.stack([s.argmax(-1) for s in slots], -1) if slots else [[]] * len(ran)
            for (pred, _, passed), p, row, heard in zip(ran, probs, order, values):
                pred.top = [(self.labels[i], float(p[i])) for i in row]
                pred.heard = self.heads.slot_values([int(i) for i in heard])
                pred.confidence = pred.top[0][1]
                pred.reason = rejected(pred.confidence, passed, entry)
                if pred.reason is None:
                    pred.intent, pred.slots = pred.top[0][0], pred.heard
        for pred, _, _ in batch:
            yield pred
