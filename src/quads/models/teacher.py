"""The frozen QUADS teacher and its on-disk feature cache.

The teacher is a larger Whisper encoder (built-in default `base`) at the student's short
context, run as the student runs (padding hidden from self-attention, `student.encode`), so
its features at a speech frame never attend to the zero padding after the clip. Its targets
for the L1 feature alignment are the hidden states of the aligned layers, averaged over
windows of `align_pool` frames (a 4-frame window is 80 ms). They never change, so
`teacher_targets` computes them once per corpus and keeps them in a memory-mapped `.npy`
beside the corpus; a later run (another baseline, a resume) reads them back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from quads.audio import FeatureSettings
from quads.data.dataset import SpeechDataset
from quads.data.types import Utterance
from quads.models.student import encode
from quads.models.whisper_weights import load_whisper

log = logging.getLogger("quads")


def pool_time(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, T, D) -> (B, T // window, D) by averaging windows of frames."""
    if window <= 1:
        return x
    return F.avg_pool1d(x.transpose(1, 2), window).transpose(1, 2)


def layer_index(layer: int, n_layers: int) -> int:
    """An aligned layer number (-1 = final) as an index into HF `hidden_states`
    (entry 0 is the embeddings, entry i the output of layer i, the last one post-LayerNorm)."""
    idx = n_layers + 1 + layer if layer < 0 else layer
    if not 1 <= idx <= n_layers:
        raise ValueError(f"aligned layer {layer} is out of range for {n_layers} layers")
    return idx


class Teacher(nn.Module):
    """A frozen Whisper encoder that returns the pooled hidden states of chosen layers."""

    def __init__(
        self, ref: str, context_seconds: float, layers: list[int], align_pool: int
    ) -> None:
        super().__init__()
        weights = load_whisper(ref)
        self.ref = ref
        self.encoder = weights.encoder(context_seconds).eval().requires_grad_(False)
        self.settings = FeatureSettings(n_mels=weights.n_mels, context_seconds=context_seconds)
        n = self.encoder.config.encoder_layers
        self.indices = [layer_index(layer, n) for layer in layers]
        self.align_pool = align_pool

    @property
    def dim(self) -> int:
        return self.encoder.config.d_model

    @torch.inference_mode()
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (B, n_mels, frames) -> (B, n_aligned, T', D_teacher)."""
        _, _, hidden = encode(self.encoder, mel, output_hidden_states=True)
        return torch.stack([pool_time(hidden[i], self.align_pool) for i in self.indices], 1)


def _cache_key(teacher: Teacher, utterances: list[Utterance]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([teacher.ref, teacher.indices, teacher.align_pool, "masked"]).encode())
    h.update(json.dumps([teacher.settings.n_mels, teacher.settings.context_seconds]).encode())
    for u in utterances:
        st = Path(u.path).stat()
        h.update(f"{u.id}|{u.path}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def teacher_targets(
    teacher: Teacher,
    utterances: list[Utterance],
    labels: list[str],
    cache_dir: Path | None,
    batch_size: int = 16,
    progress: bool = True,
) -> np.ndarray:
    """Teacher targets (N, n_aligned, T', D) for `utterances`, in their order, float16.

    With `cache_dir`, the array is stored as `teacher-<key>.npy` (the key hashes the teacher,
    its settings and the audio files) and reused; a half-written cache is never read because
    it only gets its final name once complete.
    """
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"teacher-{_cache_key(teacher, utterances)}.npy"
        if path.is_file():
            log.info("teacher features: reusing %s", path)
            return np.load(path, mmap_mode="r")
        path.parent.mkdir(parents=True, exist_ok=True)
    out: np.ndarray | None = None
    # One partial file per process: two runs filling the same cache must not collide.
    tmp = path.with_suffix(f".{os.getpid()}.partial.npy") if path else None
    # The teacher hears the clean clips (no augmentation), featurized as the student's are.
    loader = DataLoader(SpeechDataset(utterances, labels, teacher.settings), batch_size)
    device = next(teacher.parameters()).device
    start = 0
    for mel, _, _ in tqdm(
        loader, f"teacher features ({teacher.ref})", disable=None if progress else True
    ):
        feats = teacher(mel.to(device)).to(torch.float16).cpu().numpy()
        if out is None:
            shape = (len(utterances), *feats.shape[1:])
            out = (
                np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
                if tmp
                else np.empty(shape, np.float16)
            )
        out[start : start + len(feats)] = feats
        start += len(feats)
    if out is None:
        raise ValueError("no utterances to compute teacher features for")
    if path is not None:
        out.flush()
        del out
        tmp.replace(path)
        log.info("teacher features: wrote %s (%.1f MB)", path, path.stat().st_size / 2**20)
        return np.load(path, mmap_mode="r")
    return out
