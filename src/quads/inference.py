"""The torch backend: a `.quads` file (or a model in memory) as a `quads.runtime.predict.Model`.

Loading a `.quads` file needs only the model code (no training code): the file carries the
architecture, the labels, the feature settings and the rejection settings. Prediction itself
is the runtime's one step (`Model.predict`); this module only supplies the logits.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from quads.audio import FeatureSettings
from quads.data.dataset import SpeechDataset, trim_batch
from quads.data.types import Corpus
from quads.models.student import SLUModel
from quads.quant.packing import load_quads
from quads.runtime.audio import Trim, log_mel
from quads.runtime.predict import Model


def as_model(
    model: SLUModel, settings: FeatureSettings, meta: dict | None = None, path: str = "<model>"
) -> Model:
    """A torch student as a `Model` (in eval mode while it predicts) with `settings`' input
    shapes; `meta` adds what the model file says beyond them (rejection, layout, ...)."""
    device = next(model.parameters()).device

    @torch.inference_mode()
    def backend(audio: np.ndarray) -> np.ndarray:
        was_training = model.training
        model.eval()
        mel = torch.from_numpy(log_mel(audio, settings.n_mels)).to(device)
        logits = model(mel).float().cpu().numpy()
        model.train(was_training)
        return logits

    info = {
        **(meta or {}),
        "labels": model.labels,
        "slots": model.heads.to_spec(),
        "n_mels": settings.n_mels,
        "context_seconds": settings.context_seconds,
        "features": settings.to_meta(),
    }
    return Model(backend, info, "torch", path)


def load_student(path: str | os.PathLike) -> tuple[SLUModel, FeatureSettings, dict]:
    """A `.quads` file as the torch student (eval mode), its input settings and its meta."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    model, meta = load_quads(path)
    f = meta.get("features", {})
    settings = FeatureSettings(
        n_mels=f.get("n_mels", model.n_mels),
        context_seconds=f.get("context_seconds", model.context_seconds),
        trim=Trim.from_meta(f.get("trim")),
    )
    return model.eval(), settings, meta


def load(path: str | os.PathLike) -> Model:
    """A `.quads` file on torch, ready to predict."""
    return as_model(*load_student(path), str(path))


@torch.inference_mode()
def corpus_logits(
    model: SLUModel, corpus: Corpus, settings: FeatureSettings, batch_size: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, the heads' widths) and targets (N, heads) of every utterance of `corpus`,
    in order: the training loop's validation, batched through the training dataset (the
    same features as training)."""
    was_training = model.training
    model.eval()
    ds = SpeechDataset(corpus.utterances, model.heads, settings, None)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, collate_fn=trim_batch)
    device = next(model.parameters()).device
    logits, targets = [], []
    for mel, y, _ in loader:
        logits.append(model(mel.to(device)).float().cpu())
        targets.append(y)
    model.train(was_training)
    return torch.cat(logits), torch.cat(targets)


def commands_of(model: SLUModel, logits: torch.Tensor) -> list[tuple[str, dict[str, str]]]:
    """Each row of logits -> its command (intent, {slot: value}): every head's argmax."""
    best = [part.argmax(-1).tolist() for part in model.heads.split(logits)]
    return [(model.labels[i], model.heads.slot_values(slots)) for i, *slots in zip(*best)]
