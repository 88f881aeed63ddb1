"""Speakers of the engines with few built-in voices (Flite, Pico): voice, speed, pitch."""

import random

import numpy as np
import pytest

from quads.synth.corpus import Clip, engine_of, synthesize
from quads.synth.flite import FliteVoice
from quads.synth.pico import PicoVoice


@pytest.mark.parametrize("cls, bad", [(FliteVoice, "hal9000"), (PicoVoice, "en-AU")])
def test_drawn_speakers_are_deterministic_in_range_and_named(cls, bad):
    assert len({cls.draw(random.Random(4)) for _ in range(3)}) == 1
    voices = [cls.draw(random.Random(k)) for k in range(200)]
    assert {v.voice for v in voices} == set(cls.base_voices)
    for v in voices:
        assert cls.speeds[0] <= v.speed <= cls.speeds[1]
        assert cls.pitches[0] <= v.pitch <= cls.pitches[1]
        assert engine_of(v.name) == cls.engine
    assert FliteVoice("slt", 1.05, 0.9).name == "flite-slt-x105-p90"  # ids of existing corpora
    with pytest.raises(ValueError, match=f"unknown {cls.title} voice"):
        cls(bad, 1.0, 1.0)


@pytest.mark.parametrize(
    "speaker",
    [FliteVoice(v, 1.0, 1.0) for v in FliteVoice.base_voices]
    + [PicoVoice(v, 1.0, 1.0) for v in PicoVoice.base_voices],
)
def test_clip_is_16k_mono_of_plausible_length(speaker):
    clip = Clip("cd34", "test", speaker, "Turn on the lights in the kitchen", "x", "x.wav",
                lead=0.1, tail=0.1, level=0.5, noise_db=60.0)  # fmt: skip
    audio = synthesize(clip)
    assert audio.ndim == 1 and audio.dtype == np.float32
    assert 1.2 < audio.size / 16000 < 4.0  # seven words at a normal speed (Flite's kal: 8 kHz)
    assert np.abs(audio).max() == pytest.approx(0.5, abs=0.02)
    fast = type(speaker)(speaker.voice, 1.25, 1.0)
    assert synthesize(Clip(**{**clip.__dict__, "speaker": fast})).size < 0.9 * audio.size
