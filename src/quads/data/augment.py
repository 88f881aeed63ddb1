"""Cheap CPU augmentation of 16 kHz training clips (numpy/scipy only).

With probability `prob` a clip gets, in this order: speed perturbation (resampling:
tempo and pitch change together), pitch shift (phase-vocoder time stretch + resampling:
pitch changes, duration does not), reverberation (with `reverb_prob`; a synthetic
exponentially decaying impulse response), additive noise at an SNR drawn from a range
(white, pink or brown), and gain. The clip's length may change (speed); the caller fits
it to the context afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from scipy.signal import fftconvolve, istft, resample_poly, stft

from quads.audio import SAMPLE_RATE
from quads.config import AugmentConfig

NOISE_COLORS = ("white", "pink", "brown")


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (shorter, higher) by resampling."""
    if abs(factor - 1.0) < 1e-3:
        return audio
    ratio = Fraction(factor).limit_denominator(100)  # new length = len / factor
    return resample_poly(audio, ratio.denominator, ratio.numerator).astype(np.float32)


def time_stretch(audio: np.ndarray, rate: float, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Phase-vocoder time stretch: `rate` > 1 is faster (shorter), pitch unchanged."""
    _, _, spec = stft(audio, nperseg=n_fft, noverlap=n_fft - hop, boundary="zeros")
    steps = np.arange(0, spec.shape[1] - 1, rate)
    left = steps.astype(int)
    frac = (steps - left)[None, :]
    mag = (1 - frac) * np.abs(spec[:, left]) + frac * np.abs(spec[:, left + 1])
    # Phase advance per frame, unwrapped around each bin's expected advance.
    expected = 2 * np.pi * hop * np.arange(spec.shape[0])[:, None] / n_fft
    delta = np.angle(spec[:, left + 1]) - np.angle(spec[:, left]) - expected
    delta = expected + (delta + np.pi) % (2 * np.pi) - np.pi
    phase = np.angle(spec[:, :1]) + np.concatenate(
        [np.zeros_like(delta[:, :1]), np.cumsum(delta[:, :-1], axis=1)], axis=1
    )
    phase = (phase % (2 * np.pi)).astype(np.float32)
    mag = mag.astype(np.float32)
    out_spec = np.empty(mag.shape, np.complex64)  # mag * exp(i phase), in single precision
    out_spec.real, out_spec.imag = mag * np.cos(phase), mag * np.sin(phase)
    _, out = istft(out_spec, nperseg=n_fft, noverlap=n_fft - hop)
    return out.astype(np.float32)


def pitch_shift(audio: np.ndarray, semitones: float) -> np.ndarray:
    """Shift pitch by `semitones`, keeping the duration."""
    if abs(semitones) < 1e-2:
        return audio
    factor = 2.0 ** (semitones / 12)
    out = change_speed(time_stretch(audio, 1 / factor), factor)[: audio.size]
    return np.pad(out, (0, audio.size - out.size))


def reverb(audio: np.ndarray, rng: np.random.Generator, rt60: float) -> np.ndarray:
    """Convolve with a synthetic room: direct path + exponentially decaying noise tail."""
    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    ir = rng.standard_normal(t.size) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    ir[0] = 1.0
    ir /= np.sqrt(np.sum(ir**2))
    wet = fftconvolve(audio, ir)[: audio.size]
    return (wet * np.abs(audio).max() / max(np.abs(wet).max(), 1e-9)).astype(np.float32)


def colored_noise(rng: np.random.Generator, n: int, color: str) -> np.ndarray:
    """Unit-power noise: white (flat), pink (1/f) or brown (1/f^2) spectrum."""
    white = rng.standard_normal(n)
    if color != "white":
        spec = np.fft.rfft(white)
        f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
        spec /= f ** (0.5 if color == "pink" else 1.0)
        white = np.fft.irfft(spec, n)
    return (white / np.sqrt(np.mean(white**2) + 1e-12)).astype(np.float32)


def add_noise(
    audio: np.ndarray, rng: np.random.Generator, snr_db: float, color: str = "white"
) -> np.ndarray:
    """Add noise so that 10 log10(P_signal / P_noise) == snr_db over the whole clip."""
    power = float(np.mean(audio.astype(np.float64) ** 2))
    if power == 0.0:
        return audio
    noise = colored_noise(rng, audio.size, color)
    return audio + noise * np.float32(np.sqrt(power / 10 ** (snr_db / 10)))


class Augmenter:
    """`Augmenter(cfg, seed)(audio) -> augmented audio` for 16 kHz float32 mono clips.

    A no-op when `cfg.enabled` is false.
    """

    def __init__(self, cfg: AugmentConfig, seed: int = 0) -> None:
        self.cfg = cfg
        self.seed = seed
        self.reseed(seed)

    def reseed(self, seed: int | Sequence[int]) -> None:
        """Restart the random stream (each DataLoader worker needs its own)."""
        self.rng = np.random.default_rng(seed)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        cfg, rng = self.cfg, self.rng
        audio = np.asarray(audio, dtype=np.float32)
        if not cfg.enabled or audio.size == 0 or rng.random() >= cfg.prob:
            return audio
        audio = change_speed(audio, rng.uniform(*cfg.speed))
        audio = pitch_shift(audio, rng.uniform(*cfg.pitch_semitones))
        if rng.random() < cfg.reverb_prob:
            audio = reverb(audio, rng, rt60=rng.uniform(0.2, 0.8))
        audio = add_noise(audio, rng, rng.uniform(*cfg.noise_snr_db), rng.choice(NOISE_COLORS))
        audio = audio * np.float32(10 ** (rng.uniform(*cfg.gain_db) / 20))
        peak = float(np.abs(audio).max())
        if peak > 1.0:  # keep within full scale rather than clip
            audio = audio / peak
        return audio.astype(np.float32, copy=False)
