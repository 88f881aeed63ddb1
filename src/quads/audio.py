"""Audio in: load and validate a clip, fit it to the encoder context, and compute Whisper's
log-mel spectrogram.

Every clip goes through `load_audio` (mono float32 at 16 kHz, validated) and `log_mel`
(Whisper's own frontend, so pretrained Whisper weights see what they were trained on).
`featurize` does both for one clip, at the shapes a `FeatureSettings` fixes.

Clipping policy: a decoded sample beyond [-1, 1] (only floating-point files can hold one)
does not stop the run; the clip is scaled down to peak 1.0 with a logged warning.

Bounds before work: the header of a file is checked against `AudioLimits` (sample rate,
channels, duration) before anything is decoded, and a clip is cut to the encoder context
before it is resampled, so the memory a file costs does not grow with what its header
declares.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from quads.config import TOO_LONG_POLICIES, AudioConfig

# Loading is shared with the torch-free runtime (one definition of what a valid clip is).
from quads.runtime.audio import (  # noqa: F401  (re-exported)
    HOP_LENGTH,
    N_FFT,
    SAMPLE_RATE,
    AudioError,
    AudioHeader,
    AudioLimits,
    Trim,
    load_audio,
    read_header,
    resample,
    trim_silence,
)

logger = logging.getLogger("quads")

FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # the only sample formats that can hold NaN/inf
DEFAULT_LIMITS = AudioLimits()


@functools.lru_cache(maxsize=1_000_000)
def scan_clip(path: str, limits: AudioLimits = DEFAULT_LIMITS) -> float:
    """The start-up check of a corpus clip -> its duration in seconds (cached per process).

    Reads the header (bounds, empty clip) and decodes only files that can hold NaN or inf
    (floating-point samples), so that a bad clip is found before training, not mid-epoch.
    """
    header = read_header(path, limits)
    if header.subtype in FLOAT_SUBTYPES:
        load_audio(path, header.rate, limits=limits)  # raises on NaN/inf
    return header.seconds


def check_duration(seconds: float, context_seconds: float, too_long: str, source: str) -> None:
    """Apply the too-long policy to a clip of `seconds`: AudioError ("error") or a logged
    warning ("truncate") when it is longer than the context."""
    if seconds <= context_seconds + 1e-3:
        return
    if too_long == "error":
        raise AudioError(
            f"{source}: clip is {seconds:.2f} s, longer than the {context_seconds:.2f} s context "
            "(raise audio.context_seconds or set audio.too_long=truncate)"
        )
    logger.warning(
        "%s: clip is %.2f s; truncated to the %.2f s context", source, seconds, context_seconds
    )


def pad_or_trim(
    audio: np.ndarray | torch.Tensor,
    n_samples: int,
    too_long: str = "truncate",
    source: str | Path = "<array>",
) -> np.ndarray | torch.Tensor:
    """Zero-pad `audio` at the end to `n_samples`, or cut a longer clip.

    A longer clip is an AudioError with too_long="error", or is truncated with a logged
    warning with too_long="truncate"; never silently.
    """
    if too_long not in TOO_LONG_POLICIES:
        raise ValueError(f"too_long must be one of {TOO_LONG_POLICIES}, got {too_long!r}")
    n = audio.shape[-1]
    if n > n_samples:
        seconds, context = n / SAMPLE_RATE, n_samples / SAMPLE_RATE
        if too_long == "error":
            raise AudioError(
                f"{source}: clip is {seconds:.2f} s, longer than the {context:.2f} s context "
                "(raise audio.context_seconds or set audio.too_long=truncate)"
            )
        msg = "%s: clip is %.2f s; truncated to the %.2f s context"
        logger.warning(msg, source, seconds, context)
        return audio[..., :n_samples]
    if n < n_samples:
        if isinstance(audio, torch.Tensor):
            return torch.nn.functional.pad(audio, (0, n_samples - n))
        return np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, n_samples - n)])
    return audio


@functools.lru_cache(maxsize=8)
def mel_filters(n_mels: int) -> torch.Tensor:
    """Whisper's slaney-normalised mel filter bank, (n_fft // 2 + 1, n_mels) float32."""
    from transformers.audio_utils import mel_filter_bank

    bank = mel_filter_bank(
        num_frequency_bins=1 + N_FFT // 2,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=SAMPLE_RATE / 2,
        sampling_rate=SAMPLE_RATE,
        norm="slaney",
        mel_scale="slaney",
    )
    return torch.from_numpy(bank).float()


def log_mel(
    audio: np.ndarray | torch.Tensor, n_mels: int = 80, n_samples: int | None = None
) -> torch.Tensor:
    """Whisper's log-mel spectrogram of 16 kHz audio: (n_mels, frames), or (B, n_mels, frames)
    for a batch (B, samples). `n_samples` first pads/truncates the audio to that length.

    Same recipe as openai/whisper and transformers' WhisperFeatureExtractor: |STFT|^2
    (n_fft 400, hop 160, Hann, last frame dropped), mel, log10 clamped at 1e-10, floor at
    max - 8 (per clip), then (x + 4) / 4.
    """
    if n_samples is not None:
        audio = pad_or_trim(audio, n_samples)
    if isinstance(audio, np.ndarray):
        audio = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    if audio.dim() not in (1, 2):
        shape = tuple(audio.shape)
        raise ValueError(f"log_mel expects (samples,) or (batch, samples), got {shape}")
    audio = audio.float()
    window = torch.hann_window(N_FFT, device=audio.device)
    stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=window, return_complex=True)
    power = (stft[..., :-1].abs() ** 2).contiguous()
    mel = mel_filters(n_mels).to(audio.device).T @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    peak = log_spec.amax(dim=(-2, -1), keepdim=True)
    log_spec = torch.maximum(log_spec, peak - 8.0)
    return (log_spec + 4.0) / 4.0


@dataclass(frozen=True)
class FeatureSettings:
    """The input shapes of a model: what `featurize` produces and the encoder consumes."""

    sample_rate: int = SAMPLE_RATE
    n_mels: int = 80
    context_seconds: float = 4.0
    too_long: str = "truncate"  # a clip longer than the context: "truncate" (warn) or "error"
    limits: AudioLimits = field(default_factory=AudioLimits)  # what a file header may declare
    trim: Trim = field(default_factory=Trim)  # silence cut before the context is applied

    def __post_init__(self) -> None:
        if self.sample_rate != SAMPLE_RATE:
            raise ValueError(f"Whisper's frontend needs {SAMPLE_RATE} Hz, got {self.sample_rate}")
        frames = self.context_seconds * SAMPLE_RATE / HOP_LENGTH
        if self.context_seconds <= 0 or abs(frames - round(frames)) > 1e-6:
            raise ValueError(
                f"context_seconds must be a positive multiple of 0.01 s, got {self.context_seconds}"
            )
        if self.too_long not in TOO_LONG_POLICIES:
            raise ValueError(f"too_long must be one of {TOO_LONG_POLICIES}, got {self.too_long!r}")

    @property
    def n_samples(self) -> int:
        return int(round(self.context_seconds * self.sample_rate))

    @property
    def n_frames(self) -> int:
        """Mel frames the encoder consumes: 100 per second of context."""
        return self.n_samples // HOP_LENGTH

    @classmethod
    def from_config(cls, audio_cfg: AudioConfig, n_mels: int) -> FeatureSettings:
        """From a `config.AudioConfig` and the model's number of mel bins."""
        return cls(
            sample_rate=audio_cfg.sample_rate,
            n_mels=n_mels,
            context_seconds=audio_cfg.context_seconds,
            too_long=audio_cfg.too_long,
            limits=AudioLimits(
                audio_cfg.max_file_seconds, audio_cfg.min_sample_rate, audio_cfg.max_sample_rate
            ),
            trim=Trim(audio_cfg.trim, audio_cfg.trim_range_db, audio_cfg.trim_margin_seconds),
        )

    def to_meta(self) -> dict:
        """The model file's "features" entry: what every runtime needs to hear as training did."""
        return {
            "sample_rate": self.sample_rate,
            "n_mels": self.n_mels,
            "context_seconds": self.context_seconds,
            "trim": self.trim.to_meta(),
        }


def load_clip(
    path: str | Path, settings: FeatureSettings, too_long: str | None = None
) -> np.ndarray:
    """A file -> 16 kHz mono audio of exactly settings.n_samples (zero-padded, or cut with
    the too-long policy applied from the header, before decoding the rest)."""
    header = read_header(path, settings.limits)
    check_duration(
        header.seconds, settings.context_seconds, too_long or settings.too_long, str(path)
    )
    audio = load_audio(path, settings.sample_rate, settings.context_seconds, settings.limits)
    return fit(audio, settings.n_samples)


def fit(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Zero-pad or cut to `n_samples`, without a warning (lengths were checked already)."""
    return np.pad(audio[:n_samples], (0, max(0, n_samples - audio.size)))


def featurize(
    source: str | Path | np.ndarray,
    settings: FeatureSettings,
    too_long: str | None = None,
) -> torch.Tensor:
    """A file or a 16 kHz array -> log-mel (settings.n_mels, settings.n_frames).

    `too_long` overrides settings.too_long for this call.
    """
    if isinstance(source, np.ndarray):
        audio, name = source.astype(np.float32, copy=False), "<array>"
        if audio.ndim != 1:
            raise AudioError(f"<array>: expected mono audio (samples,), got {audio.shape}")
        if audio.size == 0 or not np.isfinite(audio).all():
            raise AudioError("<array>: audio is empty or holds NaN/inf samples")
        audio = pad_or_trim(audio, settings.n_samples, too_long or settings.too_long, source=name)
    else:
        audio = load_clip(source, settings, too_long)
    mel = log_mel(audio, settings.n_mels)
    assert mel.shape == (settings.n_mels, settings.n_frames), mel.shape
    return mel
