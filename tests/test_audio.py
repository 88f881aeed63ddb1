import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from quads.audio import (
    AudioError,
    FeatureSettings,
    featurize,
    load_audio,
    log_mel,
    pad_or_trim,
)

SR = 16000


def tone(seconds: float, freq: float = 440.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speechlike(seconds: float = 2.5, seed: int = 0) -> np.ndarray:
    """A chirp with an amplitude envelope and noise: exercises every mel band."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    chirp = np.sin(2 * np.pi * (200 + 1500 * t) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.4 * chirp + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def test_load_wav_and_flac(tmp_path):
    x = tone(1.0)
    for name in ("a.wav", "a.flac"):
        sf.write(tmp_path / name, x, SR)
        y = load_audio(tmp_path / name)
        assert y.dtype == np.float32 and y.ndim == 1 and y.size == x.size
        assert np.abs(y - x).max() < 1e-3


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="nope.wav.*not found"):
        load_audio(tmp_path / "nope.wav")


@pytest.mark.parametrize("content", [b"", b"hello, I am text\n", b"RIFF\x00\x00garbage" * 10])
def test_unreadable_file(tmp_path, content):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match="bad.wav.*not a readable audio file"):
        load_audio(path)


def test_empty_clip(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), SR)
    with pytest.raises(AudioError, match="empty.wav.*empty"):
        load_audio(path)


def test_nan_samples(tmp_path):
    x = tone(0.5)
    x[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav.*NaN"):
        load_audio(path)


def test_clipping_is_rescaled_with_warning(tmp_path, caplog):
    path = tmp_path / "loud.wav"
    sf.write(path, tone(0.5, amp=2.0), SR, subtype="FLOAT")
    with caplog.at_level(logging.WARNING, logger="quads"):
        y = load_audio(path)
    assert np.abs(y).max() == pytest.approx(1.0, abs=1e-6)
    assert "loud.wav" in caplog.text and "full scale" in caplog.text


def test_other_rate_is_resampled(tmp_path, caplog):
    path = tmp_path / "cd.wav"
    sf.write(path, tone(1.0, freq=1000.0, sr=44100), 44100)
    with caplog.at_level(logging.DEBUG, logger="quads"):
        y = load_audio(path)
    assert y.size == SR
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) * SR / y.size == pytest.approx(1000.0, abs=2.0)
    assert "44100 Hz -> 16000 Hz" in caplog.text


def test_stereo_is_mixed_to_mono(tmp_path):
    left, right = tone(0.5, amp=0.6), np.zeros(SR // 2, np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    y = load_audio(path)
    assert y.ndim == 1
    np.testing.assert_allclose(y, left / 2, atol=1e-6)


def test_pad_or_trim(caplog):
    x = tone(1.0)
    assert pad_or_trim(x, 2 * SR).shape == (2 * SR,)
    with caplog.at_level(logging.WARNING, logger="quads"):
        y = pad_or_trim(x, SR // 2, "truncate", source="clip.wav")
    assert y.shape == (SR // 2,)
    assert "clip.wav" in caplog.text and "truncated" in caplog.text
    with pytest.raises(AudioError, match="clip.wav.*longer than"):
        pad_or_trim(x, SR // 2, "error", source="clip.wav")
    with pytest.raises(ValueError, match="too_long"):
        pad_or_trim(x, SR, "drop")


@pytest.mark.parametrize("n_mels", [80, 128])
def test_log_mel_matches_whisper_feature_extractor(n_mels):
    from transformers import WhisperFeatureExtractor

    x = speechlike()
    # Whisper's 30 s window, and the short context the student uses.
    for chunk in (30, 4):
        fe = WhisperFeatureExtractor(feature_size=n_mels, chunk_length=chunk)
        ref = fe(x, sampling_rate=SR, return_tensors="np").input_features[0]
        ref_np = fe._np_extract_fbank_features(pad_or_trim(x, chunk * SR)[None], "cpu")[0]
        ours = log_mel(x, n_mels, n_samples=chunk * SR).numpy()
        assert ours.shape == ref.shape == (n_mels, chunk * 100)
        assert np.abs(ours - ref).max() < 1e-4
        assert np.abs(ours - ref_np).max() < 1e-4


def test_log_mel_batch_is_per_clip():
    a, b = speechlike(seed=0), 0.01 * speechlike(seed=1)
    batch = log_mel(torch.from_numpy(np.stack([a, b])), 80)
    assert batch.shape[0] == 2
    torch.testing.assert_close(batch[0], log_mel(a, 80))
    torch.testing.assert_close(batch[1], log_mel(b, 80))


def test_feature_settings():
    s = FeatureSettings(n_mels=80, context_seconds=3.0)
    assert (s.n_samples, s.n_frames) == (48000, 300)
    with pytest.raises(ValueError, match="context_seconds"):
        FeatureSettings(context_seconds=3.333)
    with pytest.raises(ValueError, match="16000"):
        FeatureSettings(sample_rate=8000)
    from quads.config import AudioConfig

    s = FeatureSettings.from_config(AudioConfig(context_seconds=5.0, too_long="error"), 128)
    assert (s.n_mels, s.n_frames, s.too_long) == (128, 500, "error")


def test_featurize_file_and_array(tmp_path, caplog):
    s = FeatureSettings(n_mels=80, context_seconds=2.0)
    x = speechlike(1.5)
    path = tmp_path / "x.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    from_file, from_array = featurize(path, s), featurize(x, s)
    assert from_file.shape == (80, 200) and from_file.dtype == torch.float32
    torch.testing.assert_close(from_file, from_array)
    long = tmp_path / "long.wav"
    sf.write(long, speechlike(3.0), SR)
    with pytest.raises(AudioError, match="long.wav"):
        featurize(long, s, too_long="error")
    with caplog.at_level(logging.WARNING, logger="quads"):
        assert featurize(long, s).shape == (80, 200)
    assert "long.wav" in caplog.text
    with pytest.raises(AudioError, match="NaN"):
        featurize(np.full(100, np.nan, np.float32), s)
