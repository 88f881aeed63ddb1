"""Small builders shared by the tests."""

from __future__ import annotations

import torch
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from quads.models.student import SLUModel


def tiny_slu_model(
    labels: list[str] | None = None,
    d_model: int = 64,
    layers: int = 2,
    positions: int = 100,
    pooling: str = "mean",
    seed: int = 0,
) -> SLUModel:
    """A Whisper-shaped encoder (random weights) + head, small enough for unit tests."""
    torch.manual_seed(seed)
    cfg = WhisperConfig(
        d_model=d_model,
        encoder_layers=layers,
        encoder_attention_heads=2 if d_model < 384 else 6,
        encoder_ffn_dim=4 * d_model if d_model >= 384 else 2 * d_model,
        num_mel_bins=80,
        max_source_positions=positions,
    )
    labels = labels or ["a", "b", "c", "d", "e"]
    return SLUModel(WhisperEncoder(cfg), labels, pooling=pooling).eval()


def tiny_whisper(path, d_model: int, layers: int) -> str:
    """A random Whisper (encoder + decoder) saved in HF format at `path`: a student or
    teacher for training tests."""
    from transformers import WhisperForConditionalGeneration

    cfg = WhisperConfig(
        vocab_size=64,
        num_mel_bins=80,
        d_model=d_model,
        encoder_layers=layers,
        encoder_attention_heads=2,
        encoder_ffn_dim=2 * d_model,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=2 * d_model,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=1,
        decoder_start_token_id=2,
    )
    torch.manual_seed(d_model)
    WhisperForConditionalGeneration(cfg).save_pretrained(path)
    return str(path)
