"""Trained codebook quantization (Deep Compression, Han et al.; the paper's "2^b centroids").

Each quantized layer keeps one codebook of k = 2^b centroids and, per weight, the b-bit index
(code) of its centroid. The weight used in forward is rebuilt as `centroids[codes]`, so
autograd sums every weight's gradient into its centroid and the centroids train by gradient
while the codes stay fixed (the quantization phase of MCT).

API:
    kmeans(values, k)                   1-D k-means -> (centroids, codes)
    CodebookLinear, CodebookConv1d      layers with trainable centroids and fixed codes
    quantize_model(model, cfg)          nn.Linear / nn.Conv1d -> codebook layers, in place
    post_training_quantize(model, cfg)  the PTQ baseline: cluster once, no training
    extract_codebooks(model)            {module name: centroids} of the codebook layers
    dequantize(model)                   codebook layers -> plain layers holding centroids[codes]
    recluster(model, cfg, previous)     quantize again, k-means warm-started from `previous`
    quantized_size_bits(model)          the paper's size figure, params x bits

MCT alternates the two phases like this:

    quantize_model(model, cfg)                # first quantization phase
    for iteration in range(cfg_train.iterations):
        books = extract_codebooks(model)
        dequantize(model)                     # distillation phase trains full-precision weights
        ...train...
        recluster(model, cfg, books)          # quantization phase: codes fixed, centroids trained
        ...train centroids...

Module names are those of `model.named_modules()` (for an SLUModel: "encoder.layers.0.fc1",
"encoder.conv1", "head", ...); `cfg.bits_per_module` patterns match them with fnmatch.
"""

from __future__ import annotations

import fnmatch
import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:  # only torch at run time, so the .quads loader stays light
    from quads.config import QuantConfig

VALID_BITS = (1, 2, 3, 4, 5, 6, 7, 8, 16, 32)
KMEANS_INITS = ("kmeans++", "linear")
_KMEANSPP_SAMPLE = 20_000  # k-means++ seeds from a random subsample of this many weights


# --------------------------------------------------------------------------- k-means (1-D)
# Plain numpy on the CPU in float64 (exact for float32 weights): sorting and binary searches
# over a few million values take milliseconds, and numpy's single-threaded kernels do not stall
# on a busy machine the way tiny multi-threaded torch ops can.


def _assign_sorted(xs: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Cluster boundaries for sorted values `xs` and sorted centroids `c`.

    Returns `starts` (k + 1,): cluster j holds xs[starts[j]:starts[j + 1]]. In 1-D the nearest
    centroid is found by comparing with the midpoints between neighbouring centroids, so an
    assignment costs k binary searches instead of an N x k distance matrix.
    """
    inner = np.searchsorted(xs, (c[1:] + c[:-1]) / 2, side="right")  # ties at a midpoint go left
    return np.concatenate([[0], inner, [xs.size]])


def _reseed_empty(xs: np.ndarray, c: np.ndarray, starts: np.ndarray) -> tuple:
    """Move each empty centroid onto the value farthest from its own centroid, one at a time."""
    for _ in range(c.size):
        counts = np.diff(starts)
        empty = np.flatnonzero(counts == 0)
        if empty.size == 0:
            break
        lo = xs[np.minimum(starts[:-1], xs.size - 1)]  # smallest value of each cluster
        hi = xs[np.maximum(starts[1:] - 1, 0)]  # largest value of each cluster
        far = np.where(counts > 0, np.maximum(c - lo, hi - c), -1.0)
        j = int(far.argmax())
        if far[j] <= 0:  # every cluster is a single value: nothing left to split
            break
        c = c.copy()
        c[empty[0]] = lo[j] if c[j] - lo[j] >= hi[j] - c[j] else hi[j]
        c.sort()
        starts = _assign_sorted(xs, c)
    return c, starts


def _kmeanspp(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means++ seeding (D^2 sampling) on a random subsample of `x`."""
    rng = np.random.default_rng(seed)
    if x.size > _KMEANSPP_SAMPLE:
        x = rng.choice(x, _KMEANSPP_SAMPLE, replace=False)
    chosen = [x[rng.integers(x.size)]]
    d2 = (x - chosen[0]) ** 2
    for _ in range(k - 1):
        cum = np.cumsum(d2)  # pick a value with probability proportional to d2
        if cum[-1] > 0:
            pick = x[min(np.searchsorted(cum, rng.random() * cum[-1], side="right"), x.size - 1)]
        else:  # fewer distinct values in the sample than k: the duplicates get re-seeded later
            pick = x[rng.integers(x.size)]
        chosen.append(pick)
        d2 = np.minimum(d2, (x - pick) ** 2)
    return np.array(chosen)


def kmeans(
    values: Tensor,
    k: int,
    init: str = "kmeans++",
    iters: int = 25,
    init_centroids: Tensor | None = None,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means on a 1-D tensor -> (centroids (k,) sorted ascending, codes (N,) int64).

    `init` is "kmeans++" (seeded on a subsample) or "linear" (evenly spaced between min and
    max); `init_centroids` warm-starts from a previous codebook instead. `iters` bounds the
    Lloyd iterations (it stops early once assignments settle). Empty clusters are re-seeded at
    the value farthest from its centroid. When `values` has at most k distinct values, they
    become the centroids and `centroids[codes]` reproduces `values` exactly.
    """
    if values.dim() != 1 or values.numel() == 0:
        raise ValueError(f"kmeans needs a non-empty 1-D tensor, got shape {tuple(values.shape)}")
    if k < 1:
        raise ValueError(f"kmeans needs k >= 1, got {k}")
    if init not in KMEANS_INITS:
        raise ValueError(f"kmeans init must be one of {KMEANS_INITS}, got {init!r}")
    v = values.detach().cpu()
    v = (v if v.dtype in (torch.float32, torch.float64) else v.float()).numpy()
    xs = np.sort(v).astype(np.float64)  # numpy sorts float32 ~3x faster than float64
    x = v.astype(np.float64)

    distinct = xs[np.concatenate([[True], xs[1:] != xs[:-1]])]  # np.unique would sort again
    if distinct.size <= k:
        pad = np.full(k - distinct.size, distinct[-1])  # unused duplicates of the largest value
        return _back(np.concatenate([distinct, pad]), np.searchsorted(distinct, x), values)

    if init_centroids is not None:
        c = init_centroids.detach().cpu().double().flatten().numpy()
        if c.size != k:
            raise ValueError(f"init_centroids has {c.size} values, expected k={k}")
    elif init == "linear":
        c = np.linspace(xs[0], xs[-1], k)
    else:
        c = _kmeanspp(x, k, seed)
    c = np.sort(c)

    # prefix[i] = xs[0] + ... + xs[i-1], so a cluster's sum is a difference of two entries.
    prefix = np.concatenate([[0.0], np.cumsum(xs)])
    starts = _assign_sorted(xs, c)
    for _ in range(iters):
        c, starts = _reseed_empty(xs, c, starts)
        counts = np.diff(starts)
        sums = prefix[starts[1:]] - prefix[starts[:-1]]
        c = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), c))  # centroid -> mean
        new_starts = _assign_sorted(xs, c)
        if np.array_equal(new_starts, starts):
            break
        starts = new_starts
    c, _ = _reseed_empty(xs, c, _assign_sorted(xs, c))
    codes = np.searchsorted((c[1:] + c[:-1]) / 2, x, side="left")  # nearest; ties go left
    return _back(c, codes, values)


def _back(c: np.ndarray, codes: np.ndarray, like: Tensor) -> tuple[Tensor, Tensor]:
    return (
        torch.from_numpy(c).to(like.device, like.dtype),
        torch.from_numpy(codes.astype(np.int64)).to(like.device),
    )


# --------------------------------------------------------------------------- layers


class CodebookLayer(nn.Module):
    """Shared part of the codebook layers: `weight = centroids[codes]`.

    centroids: nn.Parameter (k,) with k = 2^b ("2^b centroids"), trained by gradient.
    codes:     uint8 buffer with the weight's shape, fixed while centroids train.
    bias:      a normal trainable Parameter (or None), never quantized.
    """

    def __init__(self, centroids: Tensor, codes: Tensor, bias: Tensor | None) -> None:
        super().__init__()
        k = centroids.numel()
        bits = int(math.log2(k)) if k > 1 else 0
        if centroids.dim() != 1 or 2**bits != k or not 1 <= bits <= 8:
            raise ValueError(f"a codebook needs 2^b centroids with b in 1..8, got {k}")
        if codes.dtype.is_floating_point or not 0 <= codes.min() <= codes.max() < k:
            raise ValueError(f"codes must be integers in [0, {k}), got {codes.dtype}")
        self.bits = bits
        self.centroids = nn.Parameter(centroids.detach().clone())
        self.register_buffer("codes", codes.detach().to(torch.uint8))  # b <= 8: one byte each
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())

    @property
    def weight(self) -> Tensor:
        # Trained quantization (Deep Compression): the gradient of centroid k is the sum of the
        # gradients of the weights that share it,
        #     dL/dc_k = sum_{i: code_i = k} dL/dW_i,
        # which is exactly the backward of this gather (a scatter-add into `centroids`).
        return self.centroids[self.codes.long()]

    def extra_repr(self) -> str:
        return f"shape={tuple(self.codes.shape)}, bits={self.bits}, centroids={2**self.bits}"


class CodebookLinear(CodebookLayer):
    """nn.Linear whose weight is `centroids[codes]`."""

    def __init__(self, centroids: Tensor, codes: Tensor, bias: Tensor | None = None) -> None:
        super().__init__(centroids, codes, bias)
        self.out_features, self.in_features = codes.shape

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def to_dense(self) -> nn.Linear:
        dense = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        _copy_dense(self, dense)
        return dense


class CodebookConv1d(CodebookLayer):
    """nn.Conv1d (zero padding) whose weight is `centroids[codes]`."""

    def __init__(
        self,
        centroids: Tensor,
        codes: Tensor,
        bias: Tensor | None = None,
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] = 0,
        dilation: int | tuple[int] = 1,
        groups: int = 1,
    ) -> None:
        super().__init__(centroids, codes, bias)
        self.out_channels, in_per_group, kernel = codes.shape
        self.in_channels = in_per_group * groups
        self.kernel_size = (kernel,)
        self.stride = _single(stride)  # HF's WhisperEncoder reads conv.stride[0]
        self.padding = _single(padding)
        self.dilation = _single(dilation)
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def to_dense(self) -> nn.Conv1d:
        dense = nn.Conv1d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            bias=self.bias is not None,
        )
        _copy_dense(self, dense)
        return dense


def _single(v: int | tuple[int]) -> tuple[int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


def _copy_dense(src: CodebookLayer, dense: nn.Module) -> None:
    dense.to(src.centroids.device, src.centroids.dtype)
    with torch.no_grad():
        dense.weight.copy_(src.weight)
        if src.bias is not None:
            dense.bias.copy_(src.bias)


def codebook_layer(
    layer: nn.Linear | nn.Conv1d,
    bits: int,
    init: str = "kmeans++",
    iters: int = 25,
    previous: Tensor | None = None,
    seed: int = 0,
) -> CodebookLayer:
    """Cluster a dense layer's weight into 2^bits centroids -> the matching codebook layer."""
    w = layer.weight.detach()
    centroids, codes = kmeans(w.flatten(), 2**bits, init, iters, previous, seed)
    codes = codes.view(w.shape)
    bias = layer.bias.detach() if layer.bias is not None else None
    if isinstance(layer, nn.Linear):
        return CodebookLinear(centroids, codes, bias)
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise ValueError(f"only zero, numeric padding is supported, got {layer.padding!r}")
    return CodebookConv1d(
        centroids, codes, bias, layer.stride, layer.padding, layer.dilation, layer.groups
    )


# --------------------------------------------------------------------------- whole models


def check_bits(bits: int, where: str = "bits") -> int:
    if isinstance(bits, bool) or bits not in VALID_BITS:
        raise ValueError(
            f"{where}: {bits!r} is not a valid bit width; use 1..8 (a codebook of 2^b "
            "centroids), 16 (dense fp16) or 32 (no quantization)"
        )
    return bits


def _check_cfg(cfg: QuantConfig) -> None:
    check_bits(cfg.bits, "quant.bits")
    for pattern, bits in cfg.bits_per_module.items():
        check_bits(bits, f"quant.bits_per_module[{pattern!r}]")
    if cfg.init not in KMEANS_INITS:
        raise ValueError(f"quant.init must be one of {KMEANS_INITS}, got {cfg.init!r}")


def bits_for(name: str, module: nn.Module, cfg: QuantConfig) -> int:
    """Bit width for one layer: 32 when a switch excludes it, else the first matching
    `bits_per_module` pattern, else `cfg.bits`."""
    if isinstance(module, (nn.Conv1d, CodebookConv1d)) and not cfg.quantize_conv:
        return 32
    if name.startswith("head") and not cfg.quantize_head:
        return 32
    for pattern, bits in cfg.bits_per_module.items():
        if fnmatch.fnmatchcase(name, pattern):
            return bits
    return cfg.bits


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def quantize_model(
    model: nn.Module,
    cfg: QuantConfig,
    previous: dict[str, Tensor] | None = None,
    seed: int = 0,
) -> nn.Module:
    """Swap nn.Linear (and nn.Conv1d when cfg.quantize_conv) for codebook layers, in place.

    One codebook of 2^b centroids per layer; b from `bits_for`. b = 16 keeps the layer dense
    with its weight rounded to fp16; b = 32 leaves it untouched. LayerNorms, biases and the
    position embeddings are never quantized. `previous` ({module name: centroids}) warm-starts
    k-means where its size fits; `seed` seeds k-means++. Layers that already are codebook
    layers are left as they are (call `dequantize` first to cluster them again).
    """
    _check_cfg(cfg)
    previous = previous or {}
    todo = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, (nn.Linear, nn.Conv1d)) and name  # a bare layer has no parent to swap
    ]
    for name, layer in todo:
        bits = bits_for(name, layer, cfg)
        if bits == 32:
            continue
        if bits == 16:
            with torch.no_grad():
                layer.weight.copy_(layer.weight.to(torch.float16).to(layer.weight.dtype))
            continue
        warm = previous.get(name)
        if warm is not None and warm.numel() != 2**bits:
            warm = None  # bit width changed: start afresh
        new = codebook_layer(layer, bits, cfg.init, cfg.kmeans_iters, warm, seed)
        _set_module(model, name, new.to(layer.weight.device))
    return model


def post_training_quantize(model: nn.Module, cfg: QuantConfig) -> nn.Module:
    """The PTQ baseline: cluster each layer once, no training afterwards."""
    return quantize_model(model, cfg)


def recluster(model: nn.Module, cfg: QuantConfig, previous: dict[str, Tensor]) -> nn.Module:
    """MCT quantization phase: k-means on the current full-precision weights (after
    `dequantize` and a distillation phase), warm-started from `previous` codebooks."""
    return quantize_model(model, cfg, previous=previous)


def extract_codebooks(model: nn.Module) -> dict[str, Tensor]:
    """{module name: a copy of its centroids} for every codebook layer."""
    return {
        name: m.centroids.detach().clone()
        for name, m in model.named_modules()
        if isinstance(m, CodebookLayer)
    }


def dequantize(model: nn.Module) -> nn.Module:
    """Replace every codebook layer by a plain nn.Linear / nn.Conv1d with weight
    centroids[codes] (same values, now free to train), in place."""
    for name, m in list(model.named_modules()):
        if isinstance(m, CodebookLayer):
            _set_module(model, name, m.to_dense())
    return model


def quantized_size_bits(model: nn.Module) -> int:
    """The paper's size figure, params x bits: each weight of a codebook layer at its b bits
    plus its 2^b fp16 centroids; a dense Linear/Conv1d weight at 16 bits when it is exactly
    fp16 (bits 16), else 32; every other parameter (biases, LayerNorms) at 16 bits. Whisper's
    fixed sinusoidal `embed_positions` is not counted (the .quads file regenerates it).
    `quads.quant.packing.size_breakdown` gives the real file, header included."""
    total = 0
    for mod_name, module in model.named_modules():
        if isinstance(module, CodebookLayer):
            total += module.codes.numel() * module.bits + module.centroids.numel() * 16
        for p_name, p in module.named_parameters(recurse=False):
            if isinstance(module, CodebookLayer) and p_name == "centroids":
                continue
            if "embed_positions" in mod_name:
                continue
            dense_weight = p_name == "weight" and isinstance(module, (nn.Linear, nn.Conv1d))
            exact16 = torch.equal(p, p.to(torch.float16).to(p.dtype))
            total += p.numel() * (32 if dense_weight and not exact16 else 16)
    return total
