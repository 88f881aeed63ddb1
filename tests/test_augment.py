import numpy as np
import pytest

from quads.config import AugmentConfig
from quads.data.augment import (
    Augmenter,
    add_noise,
    change_speed,
    colored_noise,
    pitch_shift,
    reverb,
)

SR = 16000


def tone(seconds=1.0, freq=440.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_freq(x):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return np.argmax(spectrum) * SR / x.size


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
def test_noise_hits_the_asked_snr(color, snr):
    x = tone()
    y = add_noise(x, np.random.default_rng(0), snr, color)
    measured = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((y - x) ** 2.0))
    assert measured == pytest.approx(snr, abs=0.1)
    assert y.dtype == np.float32 and y.shape == x.shape


def test_colored_noise_spectra():
    rng = np.random.default_rng(0)
    lows = []
    for color in ("white", "pink", "brown"):
        spec = np.abs(np.fft.rfft(colored_noise(rng, SR, color))) ** 2
        lows.append(spec[: spec.size // 10].sum() / spec.sum())
    assert lows[0] < lows[1] < lows[2]


def test_speed_and_pitch():
    x = tone(1.0, 440.0)
    fast = change_speed(x, 1.25)
    assert fast.size == pytest.approx(x.size / 1.25, abs=2)
    assert peak_freq(fast) == pytest.approx(550.0, abs=3)
    up = pitch_shift(x, 3.0)
    assert up.shape == x.shape and up.dtype == np.float32
    assert peak_freq(up) == pytest.approx(440 * 2 ** (3 / 12), abs=5)


def test_reverb_keeps_length_and_level():
    x = tone(0.5)
    y = reverb(x, np.random.default_rng(0), rt60=0.5)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.abs(y).max() == pytest.approx(np.abs(x).max(), rel=1e-4)
    assert not np.allclose(x, y)


def test_augmenter_shape_dtype_and_determinism():
    cfg = AugmentConfig(enabled=True, prob=1.0, reverb_prob=1.0)
    x = tone(1.5)
    a, b = Augmenter(cfg, seed=1), Augmenter(cfg, seed=1)
    for _ in range(5):
        ya, yb = a(x), b(x)
        np.testing.assert_array_equal(ya, yb)
        assert ya.dtype == np.float32 and ya.ndim == 1
        assert 0.85 * x.size < ya.size < 1.15 * x.size  # speed range 0.9-1.1
        assert np.isfinite(ya).all() and np.abs(ya).max() <= 1.0
    assert not np.array_equal(Augmenter(cfg, seed=2)(x), Augmenter(cfg, seed=1)(x))


def test_augmenter_snr_only():
    cfg = AugmentConfig(
        enabled=True,
        prob=1.0,
        noise_snr_db=(20.0, 20.0),
        speed=(1.0, 1.0),
        pitch_semitones=(0.0, 0.0),
        reverb_prob=0.0,
        gain_db=(0.0, 0.0),
    )
    x = tone()
    y = Augmenter(cfg, seed=0)(x)
    snr = 10 * np.log10(np.mean(x**2.0) / np.mean((y - x) ** 2.0))
    assert snr == pytest.approx(20.0, abs=0.1)


def test_disabled_or_unlucky_is_identity():
    x = tone()
    np.testing.assert_array_equal(Augmenter(AugmentConfig(enabled=False, prob=1.0))(x), x)
    np.testing.assert_array_equal(Augmenter(AugmentConfig(enabled=True, prob=0.0))(x), x)
