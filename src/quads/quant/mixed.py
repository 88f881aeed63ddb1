"""Mixed precision: a bit width per layer under a size budget (the paper leaves it open).

Each codebook layer l at b bits stores its codes and 2^b fp16 centroids:
    size_l(b) = n_l * b + 2^b * 16 bits.
Clustering its weight W into Q_b(W) adds to its output y = W x the error W x - Q_b(W) x, whose
energy, for inputs with uncorrelated channels, is sum_ij (W_ij - Q_b(W)_ij)^2 E[x_j^2]; over
the output's own energy, sum_ij W_ij^2 E[x_j^2], it is the layer's noise-to-signal ratio
    nsr_l(b) = sum_ij (W - Q_b(W))_ij^2 E[x_j^2] / sum_ij W_ij^2 E[x_j^2].
`allocate_bits` minimises sum_l nsr_l(b_l) subject to sum_l size_l(b_l) <= budget, greedily:
every layer starts at the fewest bits, then the step up with the most NSR removed per bit
spent is taken while one fits. `input_energy` measures E[x_j^2] on a few training batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from quads.quant.kmeans import kmeans
from quads.quant.layers import CodebookLayer
from quads.quant.surgery import bits_for, dense_layers, quantized_size_bits

if TYPE_CHECKING:
    from quads.config import QuantConfig


def input_energy(model: nn.Module, run_batches: Callable[[], None]) -> dict[str, Tensor]:
    """{layer name: E[x_j^2] per input channel} of every nn.Linear / nn.Conv1d, over the
    forward passes that `run_batches()` makes through `model`."""
    sums: dict[str, Tensor] = {}
    counts: dict[str, int] = {}

    def hook(name: str, conv: bool):
        def record(_module: nn.Module, inputs: tuple, _output: Tensor) -> None:
            x = inputs[0].detach().float()
            x = x.transpose(1, 2) if conv else x  # (batch, channels, time) -> channels last
            x = x.reshape(-1, x.shape[-1])
            sums[name] = sums.get(name, 0) + (x**2).sum(0)
            counts[name] = counts.get(name, 0) + x.shape[0]

        return record

    handles = [
        m.register_forward_hook(hook(name, isinstance(m, nn.Conv1d)))
        for name, m in dense_layers(model)
    ]
    try:
        with torch.no_grad():
            run_batches()
    finally:
        for h in handles:
            h.remove()
    return {name: sums[name] / counts[name] for name in sums}


def noise_to_signal(weight: Tensor, energy: Tensor, bits: int, seed: int = 0) -> float:
    """nsr_l(b) of one layer: the output error of clustering `weight` into 2^b centroids,
    over the output's energy (inputs with per-channel energy `energy`)."""
    w = weight.detach().float()
    centroids, codes = kmeans(w.flatten(), 2**bits, seed=seed)
    error = (w - centroids[codes].view_as(w)) ** 2
    scale = energy.float().view(1, -1, *([1] * (w.dim() - 2)))  # (out, in[, kernel])
    return float((error * scale).sum() / ((w**2) * scale).sum().clamp_min(1e-30))


def allocate_bits(
    model: nn.Module,
    cfg: QuantConfig,
    budget_bits: int,
    energy: dict[str, Tensor],
    choices: Iterable[int] = (2, 3, 4, 5, 6, 8),
    seed: int = 0,
) -> dict[str, int]:
    """{layer name: bits} for every layer `cfg` quantizes (see the module docstring), so that
    the size figure (`quantized_size_bits`) of the quantized model fits in `budget_bits`. A
    layer `cfg` leaves at 16 or 32 bits keeps them. Raises ValueError when even the fewest
    bits do not fit."""
    choices = sorted(set(choices))
    layers = [(name, m) for name, m in dense_layers(model) if bits_for(name, m, cfg) < 16]
    size = {n: [m.weight.numel() * b + 2**b * 16 for b in choices] for n, m in layers}
    nsr = {n: [noise_to_signal(m.weight, energy[n], b, seed) for b in choices] for n, m in layers}
    level = {n: 0 for n, _ in layers}
    used = quantized_size_bits(model, exclude=set(size)) + sum(s[0] for s in size.values())
    if used > budget_bits:
        raise ValueError(
            f"quant.size_budget_mb: the model needs {used / 8e6:.3g} MB with every quantized "
            f"layer at {choices[0]} bits, more than the budget's {budget_bits / 8e6:.3g} MB"
        )
    while True:
        steps = [
            ((nsr[n][i] - nsr[n][i + 1]) / (size[n][i + 1] - size[n][i]), n)
            for n, i in level.items()
            if i + 1 < len(choices) and used + size[n][i + 1] - size[n][i] <= budget_bits
        ]
        if not steps:
            break
        _, n = max(steps)
        used += size[n][level[n] + 1] - size[n][level[n]]
        level[n] += 1
    return {n: choices[i] for n, i in level.items()}


def codebook_bits(model: nn.Module) -> dict[str, int]:
    """{layer name: bits} of a quantized model's codebook layers."""
    return {n: m.bits for n, m in model.named_modules() if isinstance(m, CodebookLayer)}


def mean_bits(model: nn.Module, bits: dict[str, int]) -> float:
    """The weight-weighted mean bit width of an allocation."""
    n = {name: m.weight.numel() for name, m in model.named_modules() if name in bits}
    return float(np.average([bits[k] for k in n], weights=[n[k] for k in n]))
