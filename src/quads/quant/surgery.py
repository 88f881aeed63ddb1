"""Model surgery for codebook quantization: whole models in, whole models out.

    quantize_model(model, cfg)          nn.Linear / nn.Conv1d -> codebook layers, in place
    post_training_quantize(model, cfg)  the PTQ baseline: cluster once, no training
    extract_codebooks(model)            {module name: centroids} of the codebook layers
    dequantize(model)                   codebook layers -> plain layers (their latent weights,
                                        or centroids[codes] where they have none)
    drop_latents(model)                 forget the latent weights (what a deployed model keeps)
    quantized_size_bits(model)          the paper's size figure, params x bits

Module names are those of `model.named_modules()` (for an SLUModel: "encoder.layers.0.fc1",
"encoder.conv1", "head", ...); `cfg.bits_per_module` patterns match them with fnmatch.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from quads.quant.layers import CodebookConv1d, CodebookLayer, codebook_layer
from quads.runtime.quadsfile import VALID_BITS

if TYPE_CHECKING:  # only torch at run time, so the .quads loader stays light
    from quads.config import QuantConfig


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


def dense_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every nn.Linear / nn.Conv1d that quantization may swap (a bare layer
    is not one: it has no parent to swap it in)."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, (nn.Linear, nn.Conv1d)) and name
    ]


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def quantize_model(
    model: nn.Module,
    cfg: QuantConfig,
    previous: dict[str, Tensor] | None = None,
    seed: int = 0,
    keep_latent: bool = False,
) -> nn.Module:
    """Swap nn.Linear (and nn.Conv1d when cfg.quantize_conv) for codebook layers, in place.

    One codebook of 2^b centroids per layer; b from `bits_for`. b = 16 keeps the layer dense
    with its weight rounded to fp16; b = 32 leaves it untouched. LayerNorms, biases and the
    position embeddings are never quantized. `previous` ({module name: centroids}) warm-starts
    k-means where its size fits; `seed` seeds k-means++; `keep_latent` keeps each dense weight
    as the layer's latent (straight-through trained) weights. Layers that already are
    codebook layers are left as they are (call `dequantize` first to cluster them again).
    """
    _check_cfg(cfg)
    previous = previous or {}
    for name, layer in dense_layers(model):
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
        new = codebook_layer(layer, bits, cfg.init, cfg.kmeans_iters, warm, seed, keep_latent)
        _set_module(model, name, new.to(layer.weight.device))
    return model


def post_training_quantize(model: nn.Module, cfg: QuantConfig) -> nn.Module:
    """The PTQ baseline: cluster each layer once, no training afterwards."""
    return quantize_model(model, cfg)


def extract_codebooks(model: nn.Module) -> dict[str, Tensor]:
    """{module name: a copy of its centroids} for every codebook layer."""
    return {
        name: m.centroids.detach().clone()
        for name, m in model.named_modules()
        if isinstance(m, CodebookLayer)
    }


def dequantize(model: nn.Module) -> nn.Module:
    """Replace every codebook layer by a plain nn.Linear / nn.Conv1d, in place. Its weight
    is the layer's latent weights where it has them, else centroids[codes] (same values,
    now free to train)."""
    for name, m in list(model.named_modules()):
        if isinstance(m, CodebookLayer):
            _set_module(model, name, m.to_dense())
    return model


def drop_latents(model: nn.Module) -> nn.Module:
    """Forget the latent weights of every codebook layer, in place."""
    for m in model.modules():
        if isinstance(m, CodebookLayer):
            m.drop_latent()
    return model


def is_quantized(model: nn.Module) -> bool:
    return any(isinstance(m, CodebookLayer) for m in model.modules())


def quantized_size_bits(model: nn.Module, exclude: Collection[str] = ()) -> int:
    """The paper's size figure, params x bits: each weight of a codebook layer at its b bits
    plus its 2^b fp16 centroids; a dense Linear/Conv1d weight at 16 bits when it is exactly
    fp16 (bits 16), else 32; every other parameter (biases, LayerNorms) at 16 bits. Whisper's
    fixed sinusoidal `embed_positions` is not counted (the .quads file regenerates it), nor
    the weights of the layers named in `exclude` (what a size budget has left to spend).
    `quads.quant.packing.size_breakdown` gives the real file, header included."""
    total = 0
    for mod_name, module in model.named_modules():
        if isinstance(module, CodebookLayer):
            total += module.codes.numel() * module.bits + module.centroids.numel() * 16
        for p_name, p in module.named_parameters(recurse=False):
            if isinstance(module, CodebookLayer) and p_name in ("centroids", "latent"):
                continue
            if "embed_positions" in mod_name or (p_name == "weight" and mod_name in exclude):
                continue
            dense_weight = p_name == "weight" and isinstance(module, (nn.Linear, nn.Conv1d))
            exact16 = torch.equal(p, p.to(torch.float16).to(p.dtype))
            total += p.numel() * (32 if dense_weight and not exact16 else 16)
    return total
