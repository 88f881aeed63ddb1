"""A model soup of keyword runs (docs/robustness.md, "Real people"): the uniform average of
the deployed weights of several seeds' best models (same recipe, same pretrained init; Wortsman
et al. 2022), clustered again to the runs' bits (k-means, no training), scored on the real
choosing half against its ingredients.

    python soup.py runs/kw-rv-s0 runs/kw-rv-s1
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from quads.audio import FeatureSettings
from quads.config import Config, from_dict
from quads.data.corpus import read_corpus
from quads.inference import commands_of, corpus_logits
from quads.quant.surgery import dequantize, drop_latents, post_training_quantize
from quads.train import checkpoint
from quads.train.mct import build_student
from quads.train.transition import restore_student


def main(runs: list[Path]) -> None:
    torch.set_num_threads(1)
    cfg = from_dict(Config, json.loads((runs[0] / "config.json").read_text()))
    train = read_corpus(cfg.data.root, cfg.data.layout, "train")
    valid = read_corpus(cfg.data.root, cfg.data.layout, "valid")

    def accuracy(model: torch.nn.Module) -> float:
        settings = FeatureSettings.from_config(cfg.audio, model.n_mels)
        logits, _ = corpus_logits(model, valid, settings, 32)
        pred = commands_of(model, logits)
        return sum(u.command == p for u, p in zip(valid.utterances, pred)) / len(pred)

    states = []
    for run in runs:
        model = build_student(cfg, train.labels, train.slots)
        restore_student(model, checkpoint.load(run / "best.pt"), cfg)
        drop_latents(model)  # the weights it ships: centroids[codes]
        print(f"{run}: {accuracy(model) * 100:.2f} %")
        states.append(dequantize(model).state_dict())
    soup = build_student(cfg, train.labels, train.slots)
    soup.load_state_dict({k: sum(s[k] for s in states) / len(states) for k in states[0]})
    print(f"soup, full precision: {accuracy(soup) * 100:.2f} %")
    post_training_quantize(soup, cfg.quant)
    print(f"soup, {cfg.quant.bits} bits: {accuracy(soup) * 100:.2f} %")


if __name__ == "__main__":
    main([Path(r) for r in sys.argv[1:]])
