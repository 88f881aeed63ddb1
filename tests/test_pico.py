"""SVOX Pico, the fourth family of voices: its clips, its speakers, a corpus share."""

import random
import sys

import numpy as np
import pytest

from quads.data import read_corpus
from quads.synth import pico
from quads.synth.corpus import (
    Clip,
    SynthError,
    build_corpus,
    engine_of,
    plan_corpus,
    synthesize,
)


@pytest.mark.parametrize("voice", pico.BASE_VOICES)
def test_pico_clip_is_16k_mono_of_plausible_length(voice):
    speaker = pico.PicoVoice(voice, 1.0, 1.0)
    clip = Clip("cd35", "test", speaker, "Turn on the lights in the kitchen", "x", "x.wav",
                lead=0.1, tail=0.1, level=0.5, noise_db=60.0)  # fmt: skip
    audio = synthesize(clip)
    assert audio.ndim == 1 and audio.dtype == np.float32
    assert 1.2 < audio.size / 16000 < 4.0  # seven words at a normal speed
    assert np.abs(audio).max() == pytest.approx(0.5, abs=0.02)
    fast = synthesize(Clip(**{**clip.__dict__, "speaker": pico.PicoVoice(voice, 1.25, 1.0)}))
    assert fast.size < 0.9 * audio.size


def test_random_pico_voices_are_deterministic_and_in_range():
    assert len({pico.random_voice(random.Random(4)) for _ in range(3)}) == 1
    voices = [pico.random_voice(random.Random(k)) for k in range(200)]
    assert {v.voice for v in voices} == set(pico.BASE_VOICES)
    for v in voices:
        assert pico.SPEEDS[0] <= v.speed <= pico.SPEEDS[1]
        assert pico.PITCHES[0] <= v.pitch <= pico.PITCHES[1]
        assert engine_of(v.name) == "pico"
    with pytest.raises(ValueError, match="unknown Pico voice"):
        pico.PicoVoice("en-AU", 1.0, 1.0)


def test_plans_without_pico_are_unchanged():
    shares = {"kokoro-en": 0.3, "flite": 0.2}
    before = plan_corpus("fsc", utterances=300, shares=shares, seed=2)
    assert before == plan_corpus("fsc", utterances=300, shares={**shares, "pico": 0.0}, seed=2)


def test_pico_engine_recorded_per_clip(tmp_path):
    summary = build_corpus(tmp_path, "fsc", utterances=93, shares={"pico": 0.1}, progress=False)
    assert {s: v["engines"]["pico"] for s, v in summary["splits"].items()} == {
        "train": 3, "valid": 3, "test": 3}  # fmt: skip
    corpus = read_corpus(tmp_path, "fsc", "train")
    assert [engine_of(u.speaker) for u in corpus.utterances].count("pico") == 3


def test_missing_pico_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "py_nanotts", None)  # import fails as if not installed
    with pytest.raises(SynthError, match="py-nanotts"):
        build_corpus(tmp_path, "fsc", utterances=93, shares={"pico": 0.1}, progress=False)
    assert not any(tmp_path.rglob("*.wav"))
