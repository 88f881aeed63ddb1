"""Audio in without torch: load a clip and compute Whisper's log-mel spectrogram in numpy.

The same recipe as `quads.audio.log_mel` (which training uses), to within float rounding:
|STFT|^2 (n_fft 400, hop 160, periodic Hann, reflect padding, last frame dropped), slaney
mel filters, log10 clamped at 1e-10, floor at max - 8 per clip, then (x + 4) / 4.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

logger = logging.getLogger("quads")

SAMPLE_RATE = 16000  # Whisper's frontend is fixed at 16 kHz ...
N_FFT = 400  # ... 25 ms windows ...
HOP_LENGTH = 160  # ... every 10 ms: 100 mel frames per second.


class AudioError(ValueError):
    """An audio file or array that cannot be used; the message names the file and why."""


@dataclass(frozen=True)
class AudioLimits:
    """What a file's header may declare; anything else is refused before decoding."""

    max_file_seconds: float = 600.0
    min_sample_rate: int = 4000
    max_sample_rate: int = 384000
    max_channels: int = 8


@dataclass(frozen=True)
class AudioHeader:
    rate: int
    frames: int
    channels: int
    subtype: str

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def read_header(path: str | Path, limits: AudioLimits = AudioLimits()) -> AudioHeader:
    """A file's header, checked against `limits`: AudioError names the file and the problem
    (missing, unreadable, empty, sample rate, channels or duration out of bounds)."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError) as e:
        raise AudioError(f"{path}: not a readable audio file ({e})") from None
    h = AudioHeader(int(info.samplerate), int(info.frames), int(info.channels), info.subtype)
    if not limits.min_sample_rate <= h.rate <= limits.max_sample_rate:
        raise AudioError(
            f"{path}: sample rate {h.rate} Hz is outside {limits.min_sample_rate}.."
            f"{limits.max_sample_rate} Hz"
        )
    if not 1 <= h.channels <= limits.max_channels:
        raise AudioError(f"{path}: {h.channels} channels (at most {limits.max_channels})")
    if h.frames <= 0:
        raise AudioError(f"{path}: empty audio clip (0 samples)")
    if h.seconds > limits.max_file_seconds:
        raise AudioError(
            f"{path}: clip is {h.seconds:.1f} s, longer than the {limits.max_file_seconds:g} s "
            "a file may be (audio.max_file_seconds)"
        )
    return h


def resample(audio: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling of a 1-D signal (exact rational ratio)."""
    if orig_rate == target_rate:
        return audio
    from scipy.signal import resample_poly  # only clips at another rate pay for scipy

    g = gcd(int(orig_rate), int(target_rate))
    out = resample_poly(audio, target_rate // g, orig_rate // g)
    return out.astype(np.float32, copy=False)


def load_audio(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    limits: AudioLimits = AudioLimits(),
) -> np.ndarray:
    """Read a wav/flac (anything libsndfile reads) as mono float32 at `sample_rate`.

    The header is checked against `limits` first; only the first `max_seconds` are decoded
    (cut before resampling). Channels are averaged; another rate is resampled (logged at
    DEBUG). Raises AudioError for a missing, unreadable, empty, out-of-bounds or non-finite
    clip.
    """
    path = Path(path)
    header = read_header(path, limits)
    frames = header.frames
    if max_seconds is not None:
        frames = min(frames, math.ceil(max_seconds * header.rate))
    try:
        data, rate = sf.read(str(path), frames=frames, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as e:
        raise AudioError(f"{path}: not a readable audio file ({e})") from None
    if data.size == 0:
        raise AudioError(f"{path}: empty audio clip (0 samples)")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    audio = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    peak = float(np.abs(audio).max())
    if peak > 1.0:
        logger.warning("%s: peak %.3f exceeds full scale; scaled down to 1.0", path, peak)
        audio = audio / peak
    if rate != sample_rate:  # once per clip and epoch: summarised by data.auto.note_audio
        logger.debug("%s: resampled %d Hz -> %d Hz", path, rate, sample_rate)
        audio = resample(audio, rate, sample_rate)
    if max_seconds is not None:
        audio = audio[: math.ceil(max_seconds * sample_rate)]
    return np.ascontiguousarray(audio, dtype=np.float32)


def fit_to_context(audio: np.ndarray, n_samples: int, source: str | Path = "<array>") -> np.ndarray:
    """Zero-pad at the end to `n_samples`, or truncate a longer clip with a logged warning."""
    n = audio.shape[-1]
    if n > n_samples:
        msg = "%s: clip is %.2f s; truncated to the %.2f s context"
        logger.warning(msg, source, n / SAMPLE_RATE, n_samples / SAMPLE_RATE)
        return audio[..., :n_samples]
    return np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, n_samples - n)])


def _hz_to_mel(freq: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    freq = np.asarray(freq, dtype=np.float64)
    mels = 3.0 * freq / 200.0
    log_region = freq >= 1000.0
    logstep = 27.0 / np.log(6.4)
    mels = np.where(log_region, 15.0 + np.log(np.maximum(freq, 1e-10) / 1000.0) * logstep, mels)
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    freq = 200.0 * mels / 3.0
    logstep = np.log(6.4) / 27.0
    return np.where(mels >= 15.0, 1000.0 * np.exp(logstep * (mels - 15.0)), freq)


@functools.lru_cache(maxsize=8)
def mel_filters(n_mels: int) -> np.ndarray:
    """Whisper's slaney-normalised mel filter bank, (n_fft // 2 + 1, n_mels) float32."""
    fft_freqs = np.linspace(0, SAMPLE_RATE // 2, 1 + N_FFT // 2)
    mel_max = _hz_to_mel(np.array(SAMPLE_RATE / 2))
    filter_freqs = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), mel_max, n_mels + 2))
    diff = np.diff(filter_freqs)
    slopes = filter_freqs[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / diff[:-1]
    up = slopes[:, 2:] / diff[1:]
    bank = np.maximum(0.0, np.minimum(down, up))
    bank *= 2.0 / (filter_freqs[2 : n_mels + 2] - filter_freqs[:n_mels])  # slaney norm
    return bank.astype(np.float32)


@functools.lru_cache(maxsize=1)
def hann_window() -> np.ndarray:
    """Periodic Hann window of N_FFT samples (torch.hann_window's default)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def log_mel(audio: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Whisper's log-mel spectrogram of 16 kHz audio: (samples,) -> (n_mels, samples // 160),
    or (B, samples) -> (B, n_mels, samples // 160)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim not in (1, 2):
        raise ValueError(f"log_mel expects (samples,) or (batch, samples), got {audio.shape}")
    pad = [(0, 0)] * (audio.ndim - 1) + [(N_FFT // 2, N_FFT // 2)]
    padded = np.pad(audio, pad, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=-1)[..., ::HOP_LENGTH, :]
    frames = frames[..., :-1, :]  # Whisper drops the last frame
    power = np.abs(np.fft.rfft(frames * hann_window(), axis=-1)) ** 2  # (..., frames, 201)
    mel = power.astype(np.float32) @ mel_filters(n_mels)  # (..., frames, n_mels)
    log_spec = np.log10(np.maximum(mel, 1e-10))
    peak = log_spec.max(axis=(-2, -1), keepdims=True)
    log_spec = np.maximum(log_spec, peak - 8.0)
    return np.swapaxes((log_spec + 4.0) / 4.0, -1, -2).astype(np.float32)


@dataclass(frozen=True)
class Trim:
    """Silence trimming, the same in training, evaluation and every runtime: keep the audio
    from the first to the last 10 ms frame whose RMS is within `range_db` of the loudest
    frame's, plus `margin_seconds` each side. Real recordings hold seconds of silence around
    a command that synthetic training clips lack; mean pooling over it dilutes the speech."""

    enabled: bool = True
    range_db: float = 35.0
    margin_seconds: float = 0.15

    @classmethod
    def from_meta(cls, entry: dict | None) -> Trim:
        """From a model's meta "features"."trim" entry (None: the default); ValueError for an
        entry that is not one."""
        if entry is None:
            return cls()
        ok = isinstance(entry, dict) and set(entry) <= {"enabled", "range_db", "margin_seconds"}
        if ok:
            trim = cls(**entry)
            numbers = (trim.range_db, trim.margin_seconds)
            ok = isinstance(trim.enabled, bool) and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x < 1e3
                for x in numbers
            )
        if not ok:
            raise ValueError(f"meta features.trim {entry!r} is not a silence-trimming entry")
        return trim

    def to_meta(self) -> dict:
        return {
            "enabled": self.enabled,
            "range_db": self.range_db,
            "margin_seconds": self.margin_seconds,
        }


def trim_silence(audio: np.ndarray, trim: Trim = Trim()) -> np.ndarray:
    """The speech of a 16 kHz clip with its leading and trailing silence cut (see `Trim`).
    A clip with nothing above the range (or trimming disabled) comes back whole."""
    n = audio.shape[-1] // HOP_LENGTH
    if not trim.enabled or n == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: n * HOP_LENGTH].reshape(n, HOP_LENGTH) ** 2, axis=1))
    loud = rms > rms.max() * 10 ** (-trim.range_db / 20)
    if rms.max() == 0 or not loud.any():
        return audio
    first, last = int(np.argmax(loud)), n - 1 - int(np.argmax(loud[::-1]))
    margin = int(round(trim.margin_seconds * SAMPLE_RATE / HOP_LENGTH))
    start, end = max(0, first - margin), min(audio.shape[-1], (last + 1 + margin) * HOP_LENGTH)
    return audio[start * HOP_LENGTH : end]
