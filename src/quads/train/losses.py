"""QUADS losses.

Distillation phase (gamma = 1):  L_dis = alpha * L1(P(h_student), h_teacher) + (1 - alpha) * CE
Quantization phase: gamma = 1 by default (`train.quant_distill`: the teacher in every phase),
    gamma = 0 as in the paper (CE only)
Overall: L = gamma * L_dis + (1 - gamma) * CE.

CE is the cross-entropy of the intent head plus the sum of the slot heads' (each slot over
its values + "absent"; `quads.runtime.heads`).

With outliers in the batch (label -1: speech that is none of the intents), CE is the
cross-entropy of the labelled clips plus lambda times the cross-entropy of the outliers'
predictions to the uniform distribution (outlier exposure, Hendrycks et al. 2019).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from quads.models.teacher import pool_time


class FeatureAlignment(nn.Module):
    """L1 between student features, projected to the teacher's width, and teacher features.

    One learned projection P per aligned layer pair (identity when the widths agree); the
    projections only serve training and are not exported.
    """

    def __init__(self, student_dim: int, teacher_dim: int, n_pairs: int, pool: int) -> None:
        super().__init__()
        self.pool = pool
        self.proj = nn.ModuleList(
            nn.Identity() if student_dim == teacher_dim else nn.Linear(student_dim, teacher_dim)
            for _ in range(n_pairs)
        )

    def forward(
        self,
        student: list[torch.Tensor],
        teacher: torch.Tensor,
        mask: torch.Tensor,
        skip: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """student: per pair (B, T, D_s); teacher: (B, n_pairs, T', D_t) over the whole
        context (T' >= T / pool: the student's batch may be cut to its longest clip); mask:
        (B, T) speech frames; skip: (B,) leading windows without a target (`shift_targets`)
        -> mean L1 over the windows that start on speech (padding excluded)."""
        n = min(teacher.shape[2], student[0].shape[1] // max(self.pool, 1))
        keep = mask[:, :: max(self.pool, 1)][:, :n]
        if skip is not None:
            keep = keep & (torch.arange(n, device=keep.device) >= skip[:, None].to(keep.device))
        keep = keep.unsqueeze(-1).to(teacher.dtype)  # (B, T', 1)
        losses = []
        for i, (proj, s) in enumerate(zip(self.proj, student)):
            pooled = proj(pool_time(s, self.pool))[:, :n]
            diff = (pooled.float() - teacher[:, i, :n].float()).abs()
            losses.append((diff * keep).sum() / (keep.sum() * diff.shape[-1]))
        return torch.stack(losses).mean()


def shift_targets(teacher: torch.Tensor, shifts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher targets (B, n_pairs, T', D) of clips whose onsets moved by `shifts` windows
    (`Augmenter.onset_shift`) -> the targets moved with them, and (B,) how many leading
    windows have none (a later onset's lead-in). An earlier onset leaves windows at the end
    without a target, but the clip is as much shorter, so the padding mask drops them."""
    out = torch.zeros_like(teacher)
    for b, k in enumerate(shifts):
        if k >= 0:
            out[b, :, k:] = teacher[b, :, : teacher.shape[2] - k]
        else:
            out[b, :, :k] = teacher[b, :, -k:]
    return out, torch.tensor([max(k, 0) for k in shifts])


def classification_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    outlier_weight: float = 0.0,
    sizes: list[int] | None = None,
) -> torch.Tensor:
    """Sum over the heads (widths `sizes`; None: one intent head) of their CE over the
    labelled clips, + outlier_weight * mean_i (-1/C sum_c log p_c(x_i)) of the intent head
    over the outliers (intent label -1), each term a mean over its own clips.
    labels: (B,) intents, or (B, heads) intents then slot targets."""
    parts = torch.split(logits, sizes or [logits.shape[-1]], dim=-1)
    labels = labels.reshape(len(logits), -1)
    known = labels[:, 0] >= 0
    loss = logits.new_zeros(())
    if known.any():
        for k, part in enumerate(parts):
            loss = loss + F.cross_entropy(part[known], labels[known, k])
    if outlier_weight and not known.all():
        loss = loss - outlier_weight * F.log_softmax(parts[0][~known], dim=-1).mean()
    return loss


def heads_correct(logits: torch.Tensor, labels: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """(B,) bool: every head right (the intent and each slot, absent included)."""
    parts = torch.split(logits, sizes, dim=-1)
    labels = labels.reshape(len(logits), -1)
    right = torch.stack([p.argmax(-1) == labels[:, k] for k, p in enumerate(parts)], -1)
    return right.all(-1)


def quads_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    align: torch.Tensor | None,
    alpha: float,
    gamma: float,
    outlier_weight: float = 0.0,
    sizes: list[int] | None = None,
) -> torch.Tensor:
    """L = gamma * (alpha * L1 + (1 - alpha) * CE) + (1 - gamma) * CE."""
    ce = classification_loss(logits, labels, outlier_weight, sizes)
    if align is None or gamma == 0:
        return ce
    l_dis = alpha * align + (1 - alpha) * ce
    return gamma * l_dis + (1 - gamma) * ce
