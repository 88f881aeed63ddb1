"""Cheap CPU augmentation of 16 kHz training clips (numpy/scipy only).

With probability `prob` a clip gets, in this order: the loss of its end (with `cut_prob`: a
recording that stops mid-word), speed perturbation (resampling: tempo and pitch change
together; off by default, see below), pitch shift (phase-vocoder time stretch +
resampling: pitch changes, duration does not), reverberation (with
`reverb_prob`; a synthetic room impulse response: direct path, early reflections and a
late tail whose highs die faster), babble (with `babble_prob`: several other training
clips summed, at an SNR drawn from a range), additive noise at an SNR drawn from a range
(white, pink or brown), a microphone's colouring (with `mic_prob`: a random band and a
few resonances), telephone band-limiting (with `telephone_prob`: 300-3400 Hz through an
8 kHz channel) and gain. Then, on the student's log-mel, SpecAugment masks
(`mask_mel`: frequency bands and time spans, set to the clip's mean).

Before all of that, and apart from `prob`, a clip's onset may move (with `shift_prob`):
its start dropped or a quiet lead-in added, in whole windows of the feature alignment,
drawn from the seed and the item (`Augmenter.onset_shift`) so that the training loop
moves the teacher's targets by as many windows.

Everything else but speed perturbation keeps the time axis (the cut drops frames at the
end, the rest stay in place), so the student's frames stay aligned with the teacher's
features of the clean clip (cached once per corpus); a speed change shifts every frame, so
`AugmentConfig.speed` defaults to (1, 1), i.e. off.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, fftconvolve, istft, resample_poly, sosfilt, stft

from quads.audio import SAMPLE_RATE
from quads.config import AugmentConfig

NOISE_COLORS = ("white", "pink", "brown")


def move_onset(audio: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """The clip with its speech `samples` later (a lead-in of faint noise, 80 dB under full
    scale, where the noise augmentation adds its own) or, for samples < 0, earlier (its
    start dropped; at least one sample stays)."""
    if samples >= 0:
        lead = (1e-4 * rng.standard_normal(samples)).astype(np.float32)
        return np.concatenate([lead, audio])
    return audio[min(-samples, audio.size - 1) :]


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


def room_impulse(rng: np.random.Generator, rt60: float) -> np.ndarray:
    """A synthetic room impulse response, unit energy: the direct path, a few early
    reflections (5-50 ms, random signs and strengths), and a diffuse noise tail that falls
    60 dB in `rt60` below 1 kHz and twice as fast above (air and walls absorb highs)."""
    n = max(int(rt60 * SAMPLE_RATE), 16)
    t = np.arange(n) / SAMPLE_RATE
    low = sosfilt(butter(2, 1000, "low", fs=SAMPLE_RATE, output="sos"), rng.standard_normal(n))
    high = sosfilt(butter(2, 1000, "high", fs=SAMPLE_RATE, output="sos"), rng.standard_normal(n))
    tail = low * np.exp(-6.9 * t / rt60) + high * np.exp(-13.8 * t / rt60)  # -60 dB at rt60
    onset = int(rng.uniform(0.005, 0.02) * SAMPLE_RATE)  # the diffuse field builds up
    tail[:onset] *= np.linspace(0.0, 1.0, onset)
    ir = 0.3 * tail
    for _ in range(int(rng.integers(3, 8))):
        at = int(rng.uniform(0.005, 0.05) * SAMPLE_RATE)
        if at < n:
            ir[at] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.7)
    ir[0] = 1.0
    return (ir / np.sqrt(np.sum(ir**2))).astype(np.float32)


def reverb(audio: np.ndarray, rng: np.random.Generator, rt60: float) -> np.ndarray:
    """Convolve with a synthetic room (`room_impulse`), keeping the length and the peak."""
    wet = fftconvolve(audio, room_impulse(rng, rt60))[: audio.size]
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


def peaking(freq: float, gain_db: float, q: float) -> np.ndarray:
    """One peaking-EQ biquad (the RBJ audio-EQ cookbook) as second-order sections:
    `gain_db` at `freq` Hz, bandwidth set by `q`, flat elsewhere."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq / SAMPLE_RATE
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b, den])[None, :] / den[0]


def microphone(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random microphone and its casing: a band from 50-400 Hz up to 3.5-8 kHz (phones and
    laptops lose lows and highs) and 1-3 resonances or dips of up to 10 dB between 200 Hz and
    6 kHz. Causal IIR filters: the clip keeps its length and its timing (a few samples of
    delay), so the student's frames stay aligned with the teacher's."""
    low, high = rng.uniform(50, 400), rng.uniform(3500, 7900)
    sos = [butter(2, (low, high), "bandpass", fs=SAMPLE_RATE, output="sos")]
    for _ in range(int(rng.integers(1, 4))):
        freq = float(np.exp(rng.uniform(np.log(200), np.log(6000))))
        sos.append(peaking(freq, rng.uniform(-10, 10), rng.uniform(0.7, 4.0)))
    out = sosfilt(np.concatenate(sos), audio)
    return (out * np.abs(audio).max() / max(np.abs(out).max(), 1e-9)).astype(np.float32)


def telephone(audio: np.ndarray) -> np.ndarray:
    """A telephone channel: down to 8 kHz and back, band-passed to 300-3400 Hz."""
    narrow = resample_poly(resample_poly(audio, 1, 2), 2, 1)[: audio.size]
    narrow = np.pad(narrow, (0, audio.size - narrow.size))
    sos = butter(4, (300, 3400), "bandpass", fs=SAMPLE_RATE, output="sos")
    return sosfilt(sos, narrow).astype(np.float32)


def mix_at_snr(audio: np.ndarray, other: np.ndarray, snr_db: float) -> np.ndarray:
    """`audio` + `other` scaled so that 10 log10(P_audio / P_other) == snr_db."""
    p_audio = float(np.mean(audio.astype(np.float64) ** 2))
    p_other = float(np.mean(other.astype(np.float64) ** 2))
    if p_audio == 0.0 or p_other == 0.0:
        return audio
    return audio + other * np.float32(np.sqrt(p_audio / (p_other * 10 ** (snr_db / 10))))


def babble(n_samples: int, clips: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A crowd: the clips, each at a random offset and level, summed to `n_samples`."""
    out = np.zeros(n_samples, np.float32)
    for clip in clips:
        clip = clip[:n_samples] / max(float(np.abs(clip).max()), 1e-6)
        start = int(rng.integers(0, n_samples - clip.size + 1))
        out[start : start + clip.size] += clip * np.float32(rng.uniform(0.5, 1.0))
    return out


def mask_mel(
    mel: np.ndarray, rng: np.random.Generator, freq_masks: int, freq_width: int,
    time_masks: int, time_width: int,
) -> np.ndarray:  # fmt: skip
    """SpecAugment masks (no time warping: frames stay where they are) on a (n_mels,
    frames) log-mel: up to `freq_width` bins and `time_width` frames per mask, set to the
    clip's mean."""
    mel = np.array(mel, dtype=np.float32)
    fill = float(mel.mean())
    for n_masks, width, axis in ((freq_masks, freq_width, 0), (time_masks, time_width, 1)):
        size = mel.shape[axis]
        for _ in range(n_masks):
            w = int(rng.integers(0, min(width, size) + 1))
            start = int(rng.integers(0, size - w + 1))
            if axis == 0:
                mel[start : start + w] = fill
            else:
                mel[:, start : start + w] = fill
    return mel


class Augmenter:
    """`Augmenter(cfg, seed)(audio) -> augmented audio` for 16 kHz float32 mono clips.

    A no-op when `cfg.enabled` is false. Babble needs other clips: `babble_from` names
    them (the training set does it), else babble is skipped.
    """

    def __init__(
        self,
        cfg: AugmentConfig,
        seed: int = 0,
        babble_from: Sequence[str | Path] = (),
        window: int = 320,
    ) -> None:
        self.cfg = cfg
        self.seed = seed
        self.babble_from = [str(p) for p in babble_from]
        self.window = window  # samples per feature-alignment window: onset shifts move by these
        self.reseed(seed)

    def onset_shift(self, index: int) -> int:
        """How many windows training item `index` starts later (< 0: earlier) this epoch: a
        function of the seed and the index alone, so the training loop can move the
        teacher's targets to match whichever worker loaded the clip."""
        cfg = self.cfg
        if not cfg.enabled or not cfg.shift_prob:
            return 0
        rng = np.random.default_rng([self.seed, index])
        if rng.random() >= cfg.shift_prob:
            return 0
        lo, hi = (round(s * SAMPLE_RATE / self.window) for s in cfg.shift_seconds)
        return int(rng.integers(lo, hi + 1))

    def shift(self, audio: np.ndarray, index: int) -> np.ndarray:
        """`audio` (training item `index`) with its onset moved by `onset_shift(index)`."""
        windows = self.onset_shift(index)
        if not windows:
            return audio
        rng = np.random.default_rng([self.seed, index, 1])
        return move_onset(audio, windows * self.window, rng)

    def reseed(self, seed: int | Sequence[int]) -> None:
        """Restart the random stream (each DataLoader worker needs its own)."""
        self.rng = np.random.default_rng(seed)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        cfg, rng = self.cfg, self.rng
        audio = np.asarray(audio, dtype=np.float32)
        if not cfg.enabled or audio.size == 0 or rng.random() >= cfg.prob:
            return audio
        # the recording stops mid-word (drawn only when asked: the other draws stay as they were)
        if cfg.cut_prob and rng.random() < cfg.cut_prob:
            audio = audio[: max(1, round(audio.size * (1 - rng.uniform(*cfg.cut_share))))]
        audio = change_speed(audio, rng.uniform(*cfg.speed))
        audio = pitch_shift(audio, rng.uniform(*cfg.pitch_semitones))
        if rng.random() < cfg.reverb_prob:
            audio = reverb(audio, rng, rt60=rng.uniform(*cfg.rt60))
        if self.babble_from and rng.random() < cfg.babble_prob:
            lo, hi = cfg.babble_speakers
            picks = rng.choice(len(self.babble_from), size=int(rng.integers(lo, hi + 1)))
            crowd = [self._load(self.babble_from[i]) for i in picks]
            audio = mix_at_snr(
                audio, babble(audio.size, crowd, rng), rng.uniform(*cfg.babble_snr_db)
            )
        audio = add_noise(audio, rng, rng.uniform(*cfg.noise_snr_db), rng.choice(NOISE_COLORS))
        if rng.random() < cfg.mic_prob:  # after the noise: the microphone hears the room too
            audio = microphone(audio, rng)
        if rng.random() < cfg.telephone_prob:
            audio = telephone(audio)
        audio = audio * np.float32(10 ** (rng.uniform(*cfg.gain_db) / 20))
        peak = float(np.abs(audio).max())
        if peak > 1.0:  # keep within full scale rather than clip
            audio = audio / peak
        return audio.astype(np.float32, copy=False)

    @staticmethod
    def _load(path: str) -> np.ndarray:
        """A babble clip: mono float32 at 16 kHz (synthetic corpora are 16 kHz already)."""
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        if rate != SAMPLE_RATE:
            ratio = Fraction(SAMPLE_RATE, rate)
            audio = resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)
        return audio

    def mask_mel(self, mel: np.ndarray) -> np.ndarray:
        """SpecAugment on the student's log-mel (with `cfg.prob`, like the audio)."""
        cfg = self.cfg
        if not cfg.enabled or not (cfg.spec_freq_masks or cfg.spec_time_masks):
            return mel
        if self.rng.random() >= cfg.prob:
            return mel
        return mask_mel(
            mel, self.rng, cfg.spec_freq_masks, cfg.spec_freq_width,
            cfg.spec_time_masks, cfg.spec_time_width,
        )  # fmt: skip
