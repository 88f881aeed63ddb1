"""The QUADS student: a Whisper encoder + pooling + a linear head for the intent and each slot.

Padding is masked: the frames after a clip's end (zero audio, whose log-mel frames all sit at
the spectrogram's floor) are hidden from self-attention and left out of the pooling, so a clip
gives the same intent whatever it was padded to, and a trimmed input runs on fewer frames.

The head is one Linear layer whose outputs are the intent logits followed by each slot's
(its values + "absent"), laid out by `quads.runtime.heads.Heads`.

`SLUModel.spec()` is a small JSON-able description of the architecture (the Whisper
encoder config, the pooling, the labels and the slots); `SLUModel.from_spec()` rebuilds the same
network with fresh weights. The `.quads` file stores the spec, so a packed model loads
without any training code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from quads.runtime.heads import POOLINGS, Heads


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


def valid_frames(mel: torch.Tensor) -> torch.Tensor:
    """Per clip of a log-mel batch (B, n_mels, frames): how many frames precede the trailing
    padding. Zero audio maps every mel bin to the clip's floor (max - 8 before scaling), the
    clip's minimum, so padding frames are those whose every bin equals that minimum."""
    floor = mel.amin(dim=(1, 2), keepdim=True)
    speech = (mel > floor).any(dim=1)  # (B, frames)
    last = torch.where(speech, torch.arange(mel.shape[-1], device=mel.device), -1).amax(-1)
    return (last + 1).clamp(min=1)  # an all-silent clip keeps one frame


def encoder_mask(mel: torch.Tensor, n_positions: int) -> torch.Tensor:
    """(B, n_positions) bool: the encoder positions (2 mel frames each) holding speech."""
    valid = (valid_frames(mel) + 1) // 2
    return torch.arange(n_positions, device=mel.device) < valid[:, None]


def encode(
    enc: WhisperEncoder, mel: torch.Tensor, output_hidden_states: bool = False
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor] | None]:
    """Whisper's encoder with padding hidden from self-attention: log-mel (B, n_mels,
    frames <= the context) -> output (B, T, D), its speech mask (B, T) and, if asked, every
    layer's hidden states (entry 0 the embeddings, entry i layer i's output, the last one
    after the final LayerNorm, as in transformers). The student and the teacher both run it."""
    x = F.gelu(enc.conv1(mel))
    x = F.gelu(enc.conv2(x)).transpose(1, 2)  # (B, T, D), T = frames / 2
    n = x.shape[1]
    if n > enc.embed_positions.num_embeddings:
        raise ValueError(
            f"{mel.shape[-1]} mel frames exceed the model's context of "
            f"{enc.embed_positions.num_embeddings / 50:g} s "
            f"({2 * enc.embed_positions.num_embeddings} frames)"
        )
    x = x + enc.embed_positions.weight[:n]
    mask = encoder_mask(mel, n)
    attend = mask[:, None, None, :]  # (B, 1, 1, T): keys a query may attend to
    hidden = [x]
    for layer in enc.layers:
        x = layer(x, attend)
        hidden.append(x)
    x = enc.layer_norm(x)
    hidden[-1] = x
    return x, mask, hidden if output_hidden_states else None


class AttentionPool(nn.Module):
    """Softmax-weighted averages over the unmasked frames: `n` learned scores per frame, one
    average each: (B, T, D), (B, T) -> (B, n, D)."""

    def __init__(self, dim: int, n: int = 1) -> None:
        super().__init__()
        self.score = nn.Linear(dim, n)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(x).masked_fill(~mask[..., None], float("-inf"))  # (B, T, n)
        return torch.einsum("btn,btd->bnd", torch.softmax(scores, dim=1).to(x.dtype), x)


def mean_pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the unmasked frames: (B, T, D), (B, T) -> (B, D)."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1)


class SLUModel(nn.Module):
    """Whisper encoder -> pool over time -> Linear(d_model, intents + sum of slot widths).

    pooling: "mean" over the speech frames; "attention", one learned weighting of them;
    "heads", one weighting per head (the intent and each slot: a slot head listens where its
    value is said), each head's outputs taken from its own average."""

    def __init__(
        self,
        encoder: WhisperEncoder,
        labels: list[str],
        pooling: str = "mean",
        n_mels: int | None = None,
        slots: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.encoder = encoder
        self.labels = list(labels)
        self.heads = Heads.of(self.labels, slots)
        self.pooling = pooling
        dim = encoder.config.d_model
        n_pools = len(self.heads.sizes) if pooling == "heads" else 1
        self.pool = None if pooling == "mean" else AttentionPool(dim, n_pools)
        self.head = nn.Linear(dim, self.heads.width)
        # head_mask[k, o] = 1 when output o belongs to head k ("heads" pooling: it reads the
        # k-th average); built in Python, so that a model on the meta device has it too
        owner = [k for k, size in enumerate(self.heads.sizes) for _ in range(size)]
        rows = [[float(k == h % n_pools) for h in owner] for k in range(n_pools)]
        self.register_buffer("head_mask", torch.tensor(rows), persistent=False)
        self.n_mels = n_mels or encoder.config.num_mel_bins

    @property
    def context_seconds(self) -> float:
        return self.encoder.config.max_source_positions / 50

    def features(
        self, mel: torch.Tensor, output_hidden_states: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor] | None]:
        """`encode` with this model's encoder: output, speech mask, hidden states."""
        return encode(self.encoder, mel, output_hidden_states)

    def classify(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pool is None:
            return self.head(mean_pool(feats, mask))
        pooled = self.pool(feats, mask)  # (B, pools, D)
        if self.pooling == "attention":
            return self.head(pooled[:, 0])
        # logits[:, o] = head row o applied to the average of the head that owns output o
        return (self.head(pooled) * self.head_mask).sum(1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (B, n_mels, frames) -> logits (B, heads.width): intents, then slots."""
        feats, mask, _ = self.features(mel)
        return self.classify(feats, mask)

    def spec(self) -> dict:
        return {
            "whisper_config": self.encoder.config.to_dict(),
            "labels": self.labels,
            "pooling": self.pooling,
            "n_mels": self.n_mels,
            "slots": self.heads.to_spec(),
        }

    @classmethod
    def from_spec(cls, spec: dict) -> SLUModel:
        config = WhisperConfig.from_dict(spec["whisper_config"])
        return cls(
            WhisperEncoder(config),
            spec["labels"],
            spec["pooling"],
            spec["n_mels"],
            spec.get("slots"),  # absent in files made before slots
        )
