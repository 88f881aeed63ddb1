"""The QUADS student: a Whisper encoder + pooling + a linear intent head.

`SLUModel.spec()` is a small JSON-able description of the architecture (the Whisper
encoder config, the pooling and the labels); `SLUModel.from_spec()` rebuilds the same
network with fresh weights. The `.quads` file stores the spec, so a packed model loads
without any training code.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder


def short_context_config(config: WhisperConfig, context_seconds: float) -> WhisperConfig:
    """A copy of `config` whose encoder sees `context_seconds` of audio instead of 30 s.

    Whisper's encoder has 50 positions per second (10 ms mel hop, conv stride 2).
    """
    positions = int(round(context_seconds * 50))
    if not 1 <= positions <= 1500:
        raise ValueError(f"context_seconds must be in (0, 30], got {context_seconds}")
    cfg = WhisperConfig.from_dict(config.to_dict())
    cfg.max_source_positions = positions
    return cfg


def encoder_from_state(
    config: WhisperConfig,
    state: dict[str, torch.Tensor] | None,
    context_seconds: float | None = None,
    num_layers: int | None = None,
) -> WhisperEncoder:
    """Build a WhisperEncoder, optionally with a short context and fewer layers, and load
    `state` (an HF encoder state dict at Whisper's full 1500 positions) into it."""
    cfg = WhisperConfig.from_dict(config.to_dict())
    if context_seconds is not None:
        cfg = short_context_config(cfg, context_seconds)
    if num_layers is not None:
        if not 1 <= num_layers <= cfg.encoder_layers:
            raise ValueError(f"num_layers must be in 1..{cfg.encoder_layers}, got {num_layers}")
        cfg.encoder_layers = num_layers
    encoder = WhisperEncoder(cfg)
    if state is not None:
        state = dict(state)
        # Short context: keep the first positions of the sinusoidal table.
        pos = state["embed_positions.weight"]
        state["embed_positions.weight"] = pos[: cfg.max_source_positions]
        kept = {
            k: v
            for k, v in state.items()
            if not k.startswith("layers.") or int(k.split(".")[1]) < cfg.encoder_layers
        }
        encoder.load_state_dict(kept, strict=True)
    return encoder


class AttentionPool(nn.Module):
    """Softmax-weighted average over time, one learned score per frame."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.score(x).squeeze(-1), dim=-1)  # (B, T)
        return torch.einsum("bt,btd->bd", w, x)


class SLUModel(nn.Module):
    """Whisper encoder -> pool over time -> Linear(d_model, n_intents)."""

    def __init__(
        self,
        encoder: WhisperEncoder,
        labels: list[str],
        pooling: str = "mean",
        n_mels: int | None = None,
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "attention"):
            raise ValueError(f"pooling must be 'mean' or 'attention', got {pooling!r}")
        self.encoder = encoder
        self.labels = list(labels)
        self.pooling = pooling
        dim = encoder.config.d_model
        self.pool = AttentionPool(dim) if pooling == "attention" else None
        self.head = nn.Linear(dim, len(labels))
        self.n_mels = n_mels or encoder.config.num_mel_bins

    @property
    def context_seconds(self) -> float:
        return self.encoder.config.max_source_positions / 50

    def features(
        self, mel: torch.Tensor, output_hidden_states: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """Encoder output (B, T, D) and, if asked, every layer's hidden states."""
        out = self.encoder(mel, output_hidden_states=output_hidden_states)
        return out.last_hidden_state, out.hidden_states

    def classify(self, feats: torch.Tensor) -> torch.Tensor:
        pooled = feats.mean(dim=1) if self.pool is None else self.pool(feats)
        return self.head(pooled)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (B, n_mels, frames) -> intent logits (B, n_intents)."""
        feats, _ = self.features(mel)
        return self.classify(feats)

    def spec(self) -> dict:
        return {
            "whisper_config": self.encoder.config.to_dict(),
            "labels": self.labels,
            "pooling": self.pooling,
            "n_mels": self.n_mels,
        }

    @classmethod
    def from_spec(cls, spec: dict) -> SLUModel:
        config = WhisperConfig.from_dict(spec["whisper_config"])
        return cls(WhisperEncoder(config), spec["labels"], spec["pooling"], spec["n_mels"])
