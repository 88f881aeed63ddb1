import numpy as np
import pytest
import soundfile as sf
import torch

from quads.config import AugmentConfig
from quads.data.augment import (
    Augmenter,
    add_noise,
    babble,
    change_speed,
    colored_noise,
    mask_mel,
    microphone,
    pitch_shift,
    reverb,
    room_impulse,
    telephone,
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
        assert ya.size == x.size  # no speed perturbation by default
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


def only(**kw):
    """An augmenter config with every effect off but those in `kw`."""
    base = dict(
        enabled=True, prob=1.0, noise_snr_db=(100.0, 100.0), pitch_semitones=(0.0, 0.0),
        reverb_prob=0.0, babble_prob=0.0, telephone_prob=0.0, gain_db=(0.0, 0.0),
        spec_freq_masks=0, spec_time_masks=0,
    )  # fmt: skip
    return AugmentConfig(**{**base, **kw})


def band_gain_db(x, y, freq):
    return 20 * np.log10(np.abs(np.fft.rfft(y))[int(freq)] / np.abs(np.fft.rfft(x))[int(freq)])


def test_defaults_keep_the_time_axis():
    # the teacher's cached features are frame-aligned with the clean clip
    assert AugmentConfig().speed == (1.0, 1.0)
    cfg = AugmentConfig(enabled=True, prob=1.0, reverb_prob=1.0, telephone_prob=1.0)
    x = tone(1.3)
    for seed in range(4):
        assert Augmenter(cfg, seed=seed)(x).shape == x.shape


def test_room_impulse_decays_and_absorbs_highs():
    ir = room_impulse(np.random.default_rng(0), rt60=0.6)
    assert ir.dtype == np.float32 and ir.size == int(0.6 * SR)
    assert np.sum(ir.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-4)
    assert np.argmax(np.abs(ir)) == 0  # the direct path is the strongest
    q = ir.size // 4
    assert np.sum(ir[q : 2 * q] ** 2) > 100 * np.sum(ir[3 * q :] ** 2)
    late = np.abs(np.fft.rfft(ir[2 * q :])) ** 2
    early = np.abs(np.fft.rfft(ir[q // 4 : q]))[: late.size] ** 2
    f_late = np.fft.rfftfreq(ir.size - 2 * q, 1 / SR)
    f_early = np.fft.rfftfreq(q - q // 4, 1 / SR)
    high_share = [s[f > 2000].sum() / s.sum() for s, f in ((early, f_early), (late, f_late))]
    assert high_share[1] < high_share[0]


def test_telephone_band():
    t = np.arange(SR) / SR
    for freq, passes in ((100, False), (1000, True), (6000, False)):
        x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
        y = telephone(x)
        assert y.shape == x.shape and y.dtype == np.float32
        gain = band_gain_db(x, y, freq)
        assert (gain > -3) if passes else (gain < -20), (freq, gain)


def test_babble_from_other_clips(tmp_path):
    paths = []
    for i, freq in enumerate((300, 500, 700, 900)):
        paths.append(tmp_path / f"c{i}.wav")
        sf.write(str(paths[-1]), tone(0.7, freq), SR)
    x = tone(1.0, 2000.0)
    cfg = only(babble_prob=1.0, babble_snr_db=(10.0, 10.0), babble_speakers=(2, 3))
    assert np.allclose(Augmenter(cfg, seed=0)(x), x, atol=1e-4)  # no clips named: no babble
    y = Augmenter(cfg, seed=0, babble_from=paths)(x)
    assert y.shape == x.shape
    snr = 10 * np.log10(np.mean(x**2.0) / np.mean((y - x) ** 2.0))
    assert snr == pytest.approx(10.0, abs=0.2)
    assert np.array_equal(y, Augmenter(cfg, seed=0, babble_from=paths)(x))
    low = np.abs(np.fft.rfft(y - x))[250:1000].sum() / np.abs(np.fft.rfft(y - x)).sum()
    assert low > 0.8  # what was added is the other clips (300-900 Hz), not noise
    assert babble(100, [tone(0.1)], np.random.default_rng(0)).shape == (100,)


def test_mask_mel_masks_without_moving_frames():
    rng = np.random.default_rng(0)
    mel = rng.standard_normal((80, 300)).astype(np.float32)
    out = mask_mel(mel, np.random.default_rng(1), 2, 8, 2, 10)
    assert out.shape == mel.shape and out is not mel
    changed = out != mel
    rows, cols = changed.all(axis=1), changed.all(axis=0)
    assert 0 < rows.sum() <= 16 and 0 < cols.sum() <= 20
    assert np.allclose(out[rows], mel.mean()) and np.allclose(out[:, cols], mel.mean())
    untouched = ~rows[:, None] & ~cols[None, :]
    assert np.array_equal(out[untouched], mel[untouched])
    assert np.array_equal(out, mask_mel(mel, np.random.default_rng(1), 2, 8, 2, 10))
    aug = Augmenter(only(spec_freq_masks=2, spec_time_masks=2), seed=0)
    assert not np.array_equal(aug.mask_mel(mel), mel)
    assert np.array_equal(Augmenter(AugmentConfig(enabled=False)).mask_mel(mel), mel)


def test_training_set_babbles_and_masks(fsc_tiny):
    from quads.audio import FeatureSettings
    from quads.data import read_corpus
    from quads.data.dataset import SpeechDataset

    corpus = read_corpus(fsc_tiny, "fsc", "train")
    settings = FeatureSettings(context_seconds=3.0)
    aug = Augmenter(AugmentConfig(enabled=True, prob=1.0, babble_prob=1.0), seed=0)
    ds = SpeechDataset(corpus.utterances, corpus.labels, settings, aug)
    assert len(aug.babble_from) == len(corpus)
    clean = SpeechDataset(corpus.utterances, corpus.labels, settings)
    mel, label, index = ds[3]
    assert mel.shape == clean[3][0].shape and (label, index) == clean[3][1:]
    assert not torch.equal(mel, clean[3][0])


def test_microphone_colours_but_keeps_timing():
    # a random band and resonances: the spectrum changes, the length, peak and onset do not
    x = np.zeros(SR, np.float32)
    x[SR // 2 :] = tone(0.5, 1000.0)
    gains = []
    for seed in range(6):
        y = Augmenter(only(mic_prob=1.0), seed=seed)(x)
        assert y.shape == x.shape and y.dtype == np.float32
        assert np.abs(y).max() == pytest.approx(np.abs(x).max(), rel=1e-3)
        assert np.abs(y[: SR // 2 - 16]).max() < 1e-4  # (only the 100 dB noise) before it starts
        clicks = np.zeros(SR, np.float32)
        clicks[::400] = 1.0  # a flat spectrum, to read the response off
        z = microphone(clicks, np.random.default_rng(seed))
        gains.append([band_gain_db(clicks, z, f) for f in (40, 2000, 7960)])
    gains = np.array(gains)
    assert (gains[:, 0] < gains[:, 1] - 6).all()  # the lows go
    assert np.ptp(gains[:, 1]) > 1.0  # each microphone sounds different
    assert np.allclose(Augmenter(only(), seed=0)(x), x, atol=1e-4)  # off unless asked


def test_cut_drops_only_the_end():
    # the recording stops early: a share of the end goes, what stays is the clip's start
    x = tone(1.0, 440.0)
    lengths = []
    for seed in range(20):
        y = Augmenter(only(cut_prob=1.0, cut_share=(0.1, 0.3)), seed=seed)(x)
        assert 0.7 * x.size - 1 <= y.size <= 0.9 * x.size + 1
        assert np.allclose(y, x[: y.size], atol=1e-4)
        lengths.append(y.size)
    assert len(set(lengths)) > 10  # a share drawn per clip
    assert Augmenter(only(), seed=0)(x).size == x.size  # off unless asked


def test_cut_share_must_be_a_range_of_shares():
    with pytest.raises(ValueError, match="cut_share"):
        AugmentConfig(cut_share=(0.2, 1.5))


def test_onset_shift_moves_the_speech_by_whole_windows():
    # real recordings start speaking 0-0.4 s after the trim, synthetic clips ~0.15 s: a moved
    # onset, by whole alignment windows, drawn from the seed and the item alone
    x = tone(1.0, 440.0)
    cfg = only(shift_prob=1.0, shift_seconds=(-0.16, 0.32))
    aug, again = Augmenter(cfg, seed=5, window=1280), Augmenter(cfg, seed=5, window=1280)
    shifts = [aug.onset_shift(i) for i in range(200)]
    assert set(shifts) == set(range(-2, 5))  # -0.16 s .. +0.32 s in 80 ms windows
    assert shifts == [again.onset_shift(i) for i in reversed(range(200))][::-1]
    for i, k in enumerate(shifts[:20]):
        y = aug.shift(x, i)
        assert y.size == x.size + k * 1280 and y.dtype == np.float32
        if k >= 0:
            assert np.array_equal(y[k * 1280 :], x) and np.abs(y[: k * 1280]).max(initial=0) < 1e-3
        else:
            assert np.array_equal(y, x[-k * 1280 :])
    assert [Augmenter(cfg, seed=s, window=1280).onset_shift(0) for s in range(30)].count(0) < 15
    # off unless asked, and asking leaves the other effects' random draws as they were
    assert {Augmenter(only(), seed=5).onset_shift(i) for i in range(50)} == {0}
    assert np.array_equal(Augmenter(cfg, seed=5)(x), Augmenter(only(), seed=5)(x))


def test_shift_seconds_must_be_a_range():
    with pytest.raises(ValueError, match="shift_seconds"):
        AugmentConfig(shift_seconds=(0.3, -0.1))
    with pytest.raises(ValueError, match="shift_prob"):
        AugmentConfig(shift_prob=1.5)
