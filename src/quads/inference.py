"""Run a trained model: load a `.quads` file (or a training checkpoint) and predict intents.

Loading a `.quads` file needs only the model code (no training code): the file carries the
architecture, the labels, the feature settings and the rejection settings.

`classify_files` is the user-facing path: files go through in batches (memory does not grow
with their number), a bad file gives an error for that file only, and an answer can be
"unknown" (no speech, or confidence under the model's calibrated threshold).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from quads.audio import AudioError, FeatureSettings, load_clip, log_mel
from quads.data.corpus import Corpus
from quads.data.dataset import SpeechDataset
from quads.evaluate.rejection import Gate, has_speech, model_entry, rejected
from quads.models.student import SLUModel
from quads.quant.packing import load_quads


@dataclass
class LoadedModel:
    model: SLUModel
    settings: FeatureSettings
    meta: dict

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    @property
    def rejection(self) -> dict:
        """The model's rejection settings; a model without them still gets the default
        speech gate (threshold 0: every clip with speech gets an intent)."""
        return model_entry(self.meta)


@dataclass
class Prediction:
    """One file's answer. `intent` is None for "unknown" (see `reason`) or an error."""

    path: str
    intent: str | None = None
    confidence: float = 0.0
    top: list[tuple[str, float]] = field(default_factory=list)
    reason: str | None = None  # "no speech" or "low confidence" when intent is None
    error: str | None = None  # the file could not be used (message names it)


def load_model(path: str | Path) -> LoadedModel:
    """A `.quads` file -> model in eval mode with its feature settings."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    model, meta = load_quads(path)
    f = meta.get("features", {})
    settings = FeatureSettings(
        n_mels=f.get("n_mels", model.n_mels),
        context_seconds=f.get("context_seconds", model.context_seconds),
    )
    return LoadedModel(model.eval(), settings, meta)


@torch.inference_mode()
def predict_corpus(
    model: SLUModel, corpus: Corpus, settings: FeatureSettings, batch_size: int = 16
) -> list[str]:
    """The predicted label of every utterance of `corpus`, in order."""
    was_training = model.training
    model.eval()
    ds = SpeechDataset(corpus.utterances, model.labels, settings, None)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size)
    device = next(model.parameters()).device
    preds = [int(i) for mel, _, _ in loader for i in model(mel.to(device)).argmax(-1)]
    model.train(was_training)
    return [model.labels[i] for i in preds]


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@torch.inference_mode()
def classify_files(
    loaded: LoadedModel,
    paths: Iterable[str | Path],
    top: int = 3,
    batch_size: int = 16,
    reject: bool = True,
    rejection: dict | None = None,
) -> Iterator[Prediction]:
    """A `Prediction` per file, in order, `batch_size` files at a time.

    A file that cannot be used yields a Prediction with `error` set, and the others go
    on. With `reject`, a clip that fails the speech gate or whose top probability is under
    the model's threshold gets intent None and a `reason` (its `top` is still filled when
    the model ran). `rejection` replaces the model's own rejection settings."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    entry = (rejection or loaded.rejection) if reject else None
    gate = Gate.from_meta(entry) if entry else None
    for batch in _batches(paths, batch_size):
        results, mels, ran = [], [], []
        for path in batch:
            pred = Prediction(str(path))
            results.append(pred)
            try:
                audio = load_clip(path, loaded.settings)
            except AudioError as e:
                pred.error = str(e)
                continue
            except OSError as e:
                pred.error = f"{path}: {e.strerror or e}"
                continue
            passed = gate is None or has_speech(audio, gate)
            if not passed:
                pred.reason = rejected(0.0, False, entry)
                continue
            mels.append(log_mel(audio, loaded.settings.n_mels))
            ran.append(pred)
        if mels:
            device = next(loaded.model.parameters()).device
            probs = torch.softmax(loaded.model(torch.stack(mels).to(device)), dim=-1).cpu()
            values, idx = probs.topk(min(top, probs.shape[-1]), dim=-1)
            for pred, vs, ix in zip(ran, values, idx):
                pred.top = [(loaded.labels[int(i)], float(v)) for v, i in zip(vs, ix)]
                pred.confidence = pred.top[0][1]
                pred.reason = rejected(pred.confidence, True, entry)
                if pred.reason is None:
                    pred.intent = pred.top[0][0]
        yield from results


def predict_files(
    loaded: LoadedModel, paths: list[str | Path], top: int = 3
) -> list[list[tuple[str, float]]]:
    """For each audio file, the `top` intents with their probabilities (no rejection; the
    first bad file raises its AudioError)."""
    out = []
    for pred in classify_files(loaded, paths, top, reject=False):
        if pred.error:
            raise AudioError(pred.error)
        out.append(pred.top)
    return out
