"""One epoch of training, and the optimizer that carries across phases.

Parameters are grouped by what they are: centroids (train.centroid_lr, no decay), the intent
head, pooling and alignment projections (train.head_lr), other matrices, latent weights
included (train.lr with weight decay), and vectors: biases, LayerNorms (train.lr, no decay);
with train.layer_lr_decay < 1 the lower encoder layers take smaller steps than the upper.
A phase transition swaps layers, so each phase builds its optimizer anew, but Adam's moments
carry over by parameter name (a dense weight and the latent weights it becomes are one
parameter): only fresh centroids start from zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from quads.config import TrainConfig
from quads.models.student import SLUModel
from quads.train.losses import FeatureAlignment, heads_correct, quads_loss, shift_targets
from quads.train.schedule import Phase


class TrainingError(RuntimeError):
    """Training cannot go on (NaN loss, divergence); the last good checkpoint is kept."""


def _canonical(name: str) -> str:
    """One name for a weight, whether it is a dense layer's weight or latent weights."""
    return name[: -len(".latent")] + ".weight" if name.endswith(".latent") else name


def trained_parameters(
    model: SLUModel, align: FeatureAlignment | None
) -> list[tuple[str, nn.Parameter]]:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if align is not None:
        named += [(f"align.{n}", p) for n, p in align.named_parameters()]
    return named


def layer_depth(name: str, n_layers: int) -> int:
    """Where a student parameter sits in the encoder: 0 for the convolutions and positions,
    l for layer l - 1 (`encoder.layers.{l-1}.`), n_layers for the final LayerNorm."""
    parts = name.split(".")
    if parts[:2] == ["encoder", "layers"]:
        return int(parts[2]) + 1
    return n_layers if parts[:2] == ["encoder", "layer_norm"] else 0


def make_optimizer(
    named: list[tuple[str, nn.Parameter]], t: TrainConfig, previous: dict | None = None
) -> torch.optim.AdamW:
    """AdamW over `named` parameters in their groups; `previous` (from `named_state`) gives
    the moments of parameters that were trained before under the same name."""
    n_layers = max((layer_depth(n, 0) for n, _ in named), default=0)
    groups: dict[tuple[str, int], list] = {}
    for name, p in named:
        depth = n_layers
        if name.endswith("centroids"):
            group = "centroids"
        elif name.startswith(("head", "pool", "align")):
            group = "head"
        else:
            group = "decay" if p.ndim >= 2 else "no_decay"
            depth = layer_depth(name, n_layers)
        groups.setdefault((group, depth), []).append(p)
    settings = {
        "centroids": (t.centroid_lr, 0.0),
        "decay": (t.lr, t.weight_decay),
        "no_decay": (t.lr, 0.0),
        "head": (t.head_lr, 0.0),
    }
    param_groups = []
    for (group, depth), ps in groups.items():
        lr = settings[group][0] * t.layer_lr_decay ** (n_layers - depth)
        param_groups.append(
            {"params": ps, "lr": lr, "base_lr": lr, "weight_decay": settings[group][1]}
        )
    opt = torch.optim.AdamW(param_groups)
    for name, p in named:
        state = (previous or {}).get(_canonical(name))
        if state is not None and not name.endswith("centroids"):
            if state["exp_avg"].shape == p.shape:
                opt.state[p] = {k: v.clone().to(p.device) for k, v in state.items()}
    return opt


def named_state(opt: torch.optim.Optimizer, named: list[tuple[str, nn.Parameter]]) -> dict:
    """{canonical parameter name: its Adam state} of an optimizer."""
    return {_canonical(n): opt.state[p] for n, p in named if p in opt.state}


def set_lr(opt: torch.optim.Optimizer, factor: float) -> None:
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * factor


class Step(nn.Module):
    """Student + feature alignment as one module, so DDP sees every trained parameter."""

    def __init__(
        self, model: SLUModel, align: FeatureAlignment | None, student_idx: list[int]
    ) -> None:
        super().__init__()
        self.model, self.align, self.student_idx = model, align, student_idx

    def forward(
        self, mel: torch.Tensor, target: torch.Tensor | None, skip: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feats, mask, hidden = self.model.features(mel, output_hidden_states=target is not None)
        logits = self.model.classify(feats, mask)
        if target is None or self.align is None:
            return logits, logits.new_zeros(())
        return logits, self.align([hidden[i] for i in self.student_idx], target, mask, skip)


@dataclass
class EpochContext:
    """What an epoch needs besides the model: teacher targets, devices, knobs."""

    targets: np.ndarray | None  # teacher features per training utterance
    device: torch.device
    amp: bool  # bf16 autocast
    train: TrainConfig
    progress: bool
    sizes: list[int]  # the heads' widths (`Heads.sizes`): the intent head, then each slot's


def train_epoch(
    step: nn.Module,
    loader: DataLoader,
    opt: torch.optim.Optimizer,
    phase: Phase,
    lr_factor: Callable[[int, int], float],
    ctx: EpochContext,
    desc: str,
) -> dict:
    """One pass over the training split; returns mean loss and accuracy (every head right).

    `lr_factor(i, n)` scales the learning rates at step i of n (the warm-up)."""
    t = ctx.train
    # gamma selects the loss: 1 = L_dis (the teacher), 0 = CE only.
    gamma = 1.0 if phase.distils else 0.0
    step.train()
    total, labelled, correct, loss_sum = 0, 0, 0, 0.0
    bar = tqdm(loader, desc=desc, disable=None if ctx.progress else True, leave=False, unit="batch")
    for i, (mel, y, idx) in enumerate(bar):
        set_lr(opt, lr_factor(i, len(bar)))
        mel, y, target, skip = mel.to(ctx.device), y.to(ctx.device), None, None
        if phase.distils:
            target = torch.from_numpy(np.asarray(ctx.targets[idx.numpy()], np.float32))
            augment = loader.dataset.augment
            if augment is not None and augment.cfg.shift_prob:  # onsets moved: targets too
                target, skip = shift_targets(target, [augment.onset_shift(int(i)) for i in idx])
            target = target.to(ctx.device)
        with torch.autocast(ctx.device.type, torch.bfloat16, enabled=ctx.amp):
            logits, align = step(mel, target, skip)
        logits, align = logits.float(), align.float()
        align = align if phase.distils else None
        loss = quads_loss(logits, y, align, t.alpha, gamma, t.outlier_weight, ctx.sizes)
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {loss.item()} in {desc}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(step.parameters(), t.grad_clip)
        opt.step()
        n = len(y)
        known = y[:, 0] >= 0  # outliers have no intent to get right
        total += n
        labelled += int(known.sum())
        correct += int(heads_correct(logits, y, ctx.sizes)[known].sum())
        loss_sum += loss.item() * n
        bar.set_postfix(loss=f"{loss_sum / total:.3f}", acc=f"{correct / max(labelled, 1):.3f}")
    return {"train_loss": loss_sum / max(total, 1), "train_acc": correct / max(labelled, 1)}
