"""Run a trained model: load a `.quads` file (or a training checkpoint) and predict intents.

Loading a `.quads` file needs only the model code (no training code): the file carries the
architecture, the labels and the feature settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from quads.audio import FeatureSettings, featurize
from quads.data.corpus import Corpus
from quads.data.dataset import SpeechDataset
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


@torch.inference_mode()
def predict_files(
    loaded: LoadedModel, paths: list[str | Path], top: int = 3
) -> list[list[tuple[str, float]]]:
    """For each audio file, the `top` intents with their probabilities."""
    mel = torch.stack([featurize(p, loaded.settings) for p in paths])
    probs = torch.softmax(loaded.model(mel), dim=-1)
    values, idx = probs.topk(min(top, probs.shape[-1]), dim=-1)
    return [
        [(loaded.labels[int(i)], float(v)) for v, i in zip(vs, ix)] for vs, ix in zip(values, idx)
    ]
