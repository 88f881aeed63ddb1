"""Phase transitions: the one place that owns the codebooks and the latent weights.

Entering a full-precision phase (distillation, fine-tuning) from a quantized model turns the
codebook layers back into plain layers. `train.restart` says where they start:
    "latent"     the full-precision weights the layers were clustered from, moved by their
                 centroid's drift during the quantization phase (nothing a distillation
                 phase learned is lost to re-clustering);
    "quantized"  centroids[codes], the quantized weights (the latent weights are dropped).
Entering a quantization phase clusters the current weights into 2^b centroids per layer,
k-means warm-started from the previous codebooks; with restart "latent" (and always for QAT)
the layers keep the clustered weights as their latent weights.
"""

from __future__ import annotations

import dataclasses

from torch import Tensor, nn

from quads.config import Config
from quads.quant.layers import CodebookLayer
from quads.quant.surgery import (
    dequantize,
    drop_latents,
    extract_codebooks,
    is_quantized,
    quantize_model,
)
from quads.train.schedule import Phase, PhaseKind


def enter_phase(
    model: nn.Module, phase: Phase, cfg: Config, books: dict[str, Tensor]
) -> dict[str, Tensor]:
    """Put `model` into the form `phase` trains, in place; returns the codebooks to
    warm-start the next clustering from."""
    if is_quantized(model) and (not phase.quantized or phase.recluster):
        books = extract_codebooks(model)
        if cfg.train.restart == "quantized":
            drop_latents(model)
        dequantize(model)
    if phase.quantized and not is_quantized(model):
        keep_latent = phase.kind == PhaseKind.QAT or cfg.train.restart == "latent"
        quantize_model(model, cfg.quant, books, cfg.train.seed, keep_latent)
    set_reassign(model, phase.kind == PhaseKind.QAT)
    return books


def set_reassign(model: nn.Module, on: bool) -> None:
    """QAT: codes follow the latent weights at every forward pass (else they stay fixed)."""
    for m in model.modules():
        if isinstance(m, CodebookLayer):
            m.set_reassign(on)


def restore_student(model: nn.Module, saved: dict, cfg: Config) -> None:
    """Load a saved student state ({"state", "quantized"}) into `model`, first giving it the
    same structure: codebook layers (with latent weights if the state has them) or plain."""
    if is_quantized(model):
        drop_latents(model)
        dequantize(model)
    if saved["quantized"]:
        keep_latent = any(k.endswith(".latent") for k in saved["state"])
        quick = dataclasses.replace(cfg.quant, kmeans_iters=1)  # codes and centroids load below
        quantize_model(model, quick, keep_latent=keep_latent)
    model.load_state_dict(saved["state"])
