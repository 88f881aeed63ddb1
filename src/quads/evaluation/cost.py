"""What a model costs: parameters, bytes on disk, multiply-accumulates (MACs) and CPU latency.

MACs are counted with torch's FlopCounterMode (MACs = FLOPs / 2), which sees every matmul and
convolution that runs, including attention's QK^T and AV products. Models can be built on the
meta device, so even Whisper large is counted in a fraction of a second without weights.

Matching the paper's GMACs (30 s input, one utterance, batch 1):

    size    this count   paper   off by   this count + torchprofile's extras (estimated)
    tiny      18.469      18.5   -0.17%     18.479
    base      43.684      43.7   -0.04%     43.703
    large   1136.333    1136.6   -0.02%   1136.581   (large-v3, 128 mels: 1136.886, +0.03%)

This count = conv1 + conv2 + q/k/v/out projections + attention QK^T and AV + FFN, nothing
else; it is already within 0.2% of every paper number. The paper's code
(github.com/BASHLab/QUADS) pins torchprofile 0.0.4, whose handlers also count one MAC per
output element of every `mul` and `layer_norm`: with openai-whisper's eager attention (q and k
each scaled by d_head^-0.25) that adds 2*L*T*d + (2L+1)*T*d, which lands exactly on the
paper's rounding (1136.58 -> 1136.6). Attention matmuls must be counted (without them large
is 952 GMACs), and 1136.6 points to the 80-mel Whisper large, not large-v3's 128 mels.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from quads.models.student import short_context_config

# Encoder shapes of the released Whisper models (".en" variants share them).
WHISPER_SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536),
    "base": dict(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048),
    "small": dict(d_model=768, encoder_layers=12, encoder_attention_heads=12, encoder_ffn_dim=3072),
    "medium": dict(
        d_model=1024, encoder_layers=24, encoder_attention_heads=16, encoder_ffn_dim=4096
    ),
    "large": dict(
        d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120
    ),
}
for _shape in WHISPER_SIZES.values():
    _shape["num_mel_bins"] = 80
WHISPER_SIZES["large-v3"] = dict(WHISPER_SIZES["large"], num_mel_bins=128)


def whisper_config(size: str) -> WhisperConfig:
    """A WhisperConfig for a named size: tiny, base, small, medium, large, large-v3 ("tiny.en"
    and "large-v2" work too)."""
    name = size.removesuffix(".en")
    if name in ("large-v1", "large-v2"):
        name = "large"
    if name not in WHISPER_SIZES:
        raise ValueError(f"unknown Whisper size {size!r}; known: {sorted(WHISPER_SIZES)}")
    return WhisperConfig(**WHISPER_SIZES[name])


def _as_tuple(example_inputs) -> tuple:
    return example_inputs if isinstance(example_inputs, tuple | list) else (example_inputs,)


def count_macs(model: nn.Module, example_inputs) -> int:
    """MACs of one forward pass of `model` on `example_inputs` (a tensor or a tuple of them).

    FlopCounterMode counts 2 FLOPs per multiply-accumulate in matmuls and convolutions, so
    MACs = FLOPs / 2. Works on the meta device: build the model under
    `with torch.device("meta"):` and pass meta (or CPU, moved here) inputs.
    """
    param = next(model.parameters(), None)
    inputs = _as_tuple(example_inputs)
    if param is not None:
        inputs = tuple(x.to(param.device) if torch.is_tensor(x) else x for x in inputs)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*inputs)
    return counter.get_total_flops() // 2


def whisper_encoder_gmacs(config: WhisperConfig, context_seconds: float = 30.0) -> float:
    """GMACs of a Whisper encoder on one utterance of `context_seconds` (built on meta, no weights).

    The encoder sees 100 mel frames per second, halved to 50 positions by conv2's stride.
    """
    cfg = short_context_config(config, context_seconds)
    frames = 2 * cfg.max_source_positions
    with torch.device("meta"):
        encoder = WhisperEncoder(cfg).eval()
        mel = torch.empty(1, cfg.num_mel_bins, frames)
    return count_macs(encoder, mel) / 1e9


def params_count(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters. With trainable_only, Whisper's frozen sinusoidal position table is
    left out; that is how the paper counts (tiny encoder + Linear(384, 31) = 7.64 M)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def model_size(path: str | os.PathLike) -> int:
    """Bytes on disk."""
    return os.path.getsize(Path(path))


def latency(
    model: nn.Module,
    example_input,
    threads: int | None = None,
    warmup: int = 3,
    runs: int = 20,
) -> dict:
    """CPU latency of one forward pass: {"p50_ms", "p90_ms", "threads"}.

    `threads` sets torch.set_num_threads for the measurement (None: leave as is); the previous
    thread count and the model's train/eval mode are restored afterwards.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    inputs = _as_tuple(example_input)
    old_threads, was_training = torch.get_num_threads(), model.training
    if threads is not None:
        torch.set_num_threads(threads)
    model.eval()
    try:
        times = []
        with torch.inference_mode():
            for i in range(warmup + runs):
                start = time.perf_counter()
                model(*inputs)
                if i >= warmup:
                    times.append(1000 * (time.perf_counter() - start))
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)
        model.train(was_training)
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p90_ms": float(np.percentile(times, 90)),
        "threads": used,
    }


def cost_row(
    name: str, config: WhisperConfig, context_seconds: float = 30.0, n_labels: int = 0
) -> dict:
    """Params and GMACs (at `context_seconds` and at 30 s) of a Whisper encoder, plus a
    Linear(d_model, n_labels) head when n_labels > 0 (its d*n MACs are added to the count)."""
    cfg = short_context_config(config, context_seconds)
    with torch.device("meta"):
        encoder = WhisperEncoder(cfg)
    head_params = (cfg.d_model + 1) * n_labels
    head_gmacs = cfg.d_model * n_labels / 1e9
    return {
        "name": name,
        "params": params_count(encoder, trainable_only=True) + head_params,
        "context_seconds": context_seconds,
        "gmacs": whisper_encoder_gmacs(config, context_seconds) + head_gmacs,
        "gmacs_30s": whisper_encoder_gmacs(config, 30.0) + head_gmacs,
    }


def cost_table(
    student: WhisperConfig,
    teacher: WhisperConfig,
    context_seconds: float,
    n_labels: int = 0,
) -> list[dict]:
    """Rows for the student (encoder + head), the teacher and Whisper large, all counted on the
    meta device: {"name", "params", "context_seconds", "gmacs", "gmacs_30s"}."""
    return [
        cost_row("student", student, context_seconds, n_labels),
        cost_row("teacher", teacher, context_seconds),
        cost_row("whisper-large", whisper_config("large"), context_seconds),
    ]


def format_cost_table(rows: list[dict]) -> str:
    """Plain-text rendering of `cost_table` rows."""
    lines = [f"{'model':<14} {'params (M)':>10} {'context':>8} {'GMACs':>9} {'GMACs@30s':>10}"]
    for r in rows:
        lines.append(
            f"{r['name']:<14} {r['params'] / 1e6:10.2f} {r['context_seconds']:7.1f}s"
            f" {r['gmacs']:9.2f} {r['gmacs_30s']:10.1f}"
        )
    return "\n".join(lines)
