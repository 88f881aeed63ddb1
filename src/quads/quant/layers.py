"""Codebook layers (Deep Compression, Han et al.; the paper's "2^b centroids").

Each layer keeps one codebook of k = 2^b centroids and, per weight, the b-bit index (code)
of its centroid. The weight used in forward is `centroids[codes]`, so autograd sums every
weight's gradient into its centroid: the centroids train by gradient (MCT's quantization
phase).

During training a layer may also hold `latent`, the full-precision weights it was clustered
from, and `anchor`, its centroids as clustered. The forward value is always
`centroids[codes]`; a straight-through estimator passes the same gradient on to `latent`.
With fixed codes the latent weights stay frozen (trained with Adam while the codes ignore
them, they drift by the sign of their gradients with nothing to pull them back); what the
quantization phase learned reaches them as centroid drift when the layer turns dense again:
`latent + (centroids - anchor)[codes]`. With `reassign` (quantization-aware training) the
latent weights train and the codes follow them: each forward re-assigns every weight to its
nearest centroid. A deployed model has neither.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from quads.quant.kmeans import kmeans


def nearest_codes(values: Tensor, centroids: Tensor) -> Tensor:
    """Index of the nearest centroid for each value (centroids in any order), as uint8.

    In 1-D the nearest centroid is found by counting the midpoints between neighbouring
    sorted centroids that a value exceeds (ties go to the lower one); one comparison pass
    per midpoint is several times faster than a binary search per value on a CPU."""
    order = centroids.detach().argsort()
    c = centroids.detach()[order]
    rank = torch.zeros(values.shape, dtype=torch.uint8, device=values.device)
    for mid in ((c[1:] + c[:-1]) / 2).tolist():
        rank += values.detach() > mid
    return order.to(torch.uint8)[rank.long()]


class _Lookup(torch.autograd.Function):
    """`centroids[codes]` whose backward sums the weights' gradients into their centroids
    with one bincount: the same sum as indexing's scatter-add backward, ~30x faster on a
    multi-threaded CPU (where that scatter-add took half of a quantization step)."""

    @staticmethod
    def forward(ctx, centroids: Tensor, codes: Tensor) -> Tensor:
        ctx.save_for_backward(codes)
        ctx.k = centroids.numel()
        return centroids[codes.long()]

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (codes,) = ctx.saved_tensors
        flat = codes.flatten().long()
        sums = torch.bincount(flat, weights=grad.flatten().float(), minlength=ctx.k)
        return sums.to(grad.dtype), None


class CodebookLayer(nn.Module):
    """Shared part of the codebook layers: `weight = centroids[codes]`.

    centroids: nn.Parameter (k,) with k = 2^b ("2^b centroids"), trained by gradient.
    codes:     uint8 buffer with the weight's shape, fixed while centroids train.
    latent:    None, or an nn.Parameter of the weight's shape: the full-precision weights,
               trained straight-through.
    bias:      a normal trainable Parameter (or None), never quantized.
    """

    def __init__(
        self, centroids: Tensor, codes: Tensor, bias: Tensor | None, latent: Tensor | None = None
    ) -> None:
        super().__init__()
        k = centroids.numel()
        bits = int(math.log2(k)) if k > 1 else 0
        if centroids.dim() != 1 or 2**bits != k or not 1 <= bits <= 8:
            raise ValueError(f"a codebook needs 2^b centroids with b in 1..8, got {k}")
        if codes.dtype.is_floating_point or not 0 <= codes.min() <= codes.max() < k:
            raise ValueError(f"codes must be integers in [0, {k}), got {codes.dtype}")
        self.bits = bits
        self.reassign = False
        self.centroids = nn.Parameter(centroids.detach().clone())
        self.register_buffer("codes", codes.detach().to(torch.uint8))  # b <= 8: one byte each
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())
        self.latent = None
        if latent is not None:
            self.latent = nn.Parameter(latent.detach().clone().view(codes.shape))
            self.latent.requires_grad_(False)  # trained only while codes follow it (QAT)
            self.register_buffer("anchor", self.centroids.detach().clone())

    @property
    def weight(self) -> Tensor:
        if self.reassign and self.training:  # evaluation keeps the last step's codes
            with torch.no_grad():
                self.codes.copy_(nearest_codes(self.latent, self.centroids))
        # Trained quantization: the gradient of centroid k is the sum of the gradients of the
        # weights that share it, dL/dc_k = sum_{i: code_i = k} dL/dW_i (`_Lookup`'s
        # backward: one bincount of the weights' gradients by code).
        if torch.is_grad_enabled() and self.centroids.requires_grad:
            w = _Lookup.apply(self.centroids, self.codes)
        else:
            w = self.centroids[self.codes.long()]
        if self.latent is None:
            return w
        # Straight-through estimator: the value stays centroids[codes]; dL/dlatent = dL/dW.
        return w + (self.latent - self.latent.detach())

    def set_reassign(self, on: bool) -> None:
        """QAT: the latent weights train and the codes follow them at every forward."""
        self.reassign = on and self.latent is not None
        if self.latent is not None:
            self.latent.requires_grad_(self.reassign)

    def dense_weight(self) -> Tensor:
        """The full-precision weight this layer hands back: its latent weights (moved by
        their centroid's drift since clustering where the codes were fixed), or
        centroids[codes] without latent."""
        if self.latent is None:
            return self.weight.detach()
        if self.reassign:  # trained with feedback from the codes: they are the weights
            return self.latent.detach()
        drift = (self.centroids - self.anchor)[self.codes.long()]
        return (self.latent + drift).detach()

    def drop_latent(self) -> None:
        """Forget the full-precision weights (what a deployed model keeps)."""
        self.latent = None
        self.reassign = False
        if "anchor" in self._buffers:
            del self._buffers["anchor"]

    def extra_repr(self) -> str:
        latent = ", latent" if self.latent is not None else ""
        return f"shape={tuple(self.codes.shape)}, bits={self.bits}{latent}"


class CodebookLinear(CodebookLayer):
    """nn.Linear whose weight is `centroids[codes]`."""

    def __init__(
        self,
        centroids: Tensor,
        codes: Tensor,
        bias: Tensor | None = None,
        latent: Tensor | None = None,
    ) -> None:
        super().__init__(centroids, codes, bias, latent)
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
        latent: Tensor | None = None,
    ) -> None:
        super().__init__(centroids, codes, bias, latent)
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
        dense.weight.copy_(src.dense_weight())
        if src.bias is not None:
            dense.bias.copy_(src.bias)


def codebook_layer(
    layer: nn.Linear | nn.Conv1d,
    bits: int,
    init: str = "kmeans++",
    iters: int = 25,
    previous: Tensor | None = None,
    seed: int = 0,
    keep_latent: bool = False,
) -> CodebookLayer:
    """Cluster a dense layer's weight into 2^bits centroids -> the matching codebook layer
    (holding the dense weight as its latent weights with `keep_latent`)."""
    w = layer.weight.detach()
    centroids, codes = kmeans(w.flatten(), 2**bits, init, iters, previous, seed)
    codes = codes.view(w.shape)
    bias = layer.bias.detach() if layer.bias is not None else None
    latent = w if keep_latent else None
    if isinstance(layer, nn.Linear):
        return CodebookLinear(centroids, codes, bias, latent)
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise ValueError(f"only zero, numeric padding is supported, got {layer.padding!r}")
    return CodebookConv1d(
        centroids,
        codes,
        bias,
        layer.stride,
        layer.padding,
        layer.dilation,
        layer.groups,
        latent,
    )
