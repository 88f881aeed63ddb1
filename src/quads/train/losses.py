"""QUADS losses.

Distillation phase (gamma = 1):  L_dis = alpha * L1(P(h_student), h_teacher) + (1 - alpha) * CE
Quantization phase (gamma = 0):  L = CE  (centroids trained by gradient; L_dis if asked)
Overall: L = gamma * L_dis + (1 - gamma) * CE.

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
        self, student: list[torch.Tensor], teacher: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """student: per pair (B, T, D_s); teacher: (B, n_pairs, T', D_t); mask: (B, T) speech
        frames -> mean L1 over the windows that start on speech (padding excluded)."""
        n = teacher.shape[2]
        keep = mask[:, :: max(self.pool, 1)][:, :n].unsqueeze(-1).to(teacher.dtype)  # (B, T', 1)
        losses = []
        for i, (proj, s) in enumerate(zip(self.proj, student)):
            diff = (proj(pool_time(s, self.pool)).float() - teacher[:, i].float()).abs()
            losses.append((diff * keep).sum() / (keep.sum() * diff.shape[-1]))
        return torch.stack(losses).mean()


def classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, outlier_weight: float = 0.0
) -> torch.Tensor:
    """CE over the labelled clips + outlier_weight * mean_i (-1/C sum_c log p_c(x_i)) over
    the outliers (label -1), each term a mean over its own clips."""
    known = labels >= 0
    loss = logits.new_zeros(())
    if known.any():
        loss = loss + F.cross_entropy(logits[known], labels[known])
    if outlier_weight and not known.all():
        loss = loss - outlier_weight * F.log_softmax(logits[~known], dim=-1).mean()
    return loss


def quads_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    align: torch.Tensor | None,
    alpha: float,
    gamma: float,
    outlier_weight: float = 0.0,
) -> torch.Tensor:
    """L = gamma * (alpha * L1 + (1 - alpha) * CE) + (1 - gamma) * CE."""
    ce = classification_loss(logits, labels, outlier_weight)
    if align is None or gamma == 0:
        return ce
    l_dis = alpha * align + (1 - alpha) * ce
    return gamma * l_dis + (1 - gamma) * ce
