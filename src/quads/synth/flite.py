"""Flite, a third family of voices for the synthetic corpora (beside espeak-ng and Kokoro).

Flite (CMU, Debian package `flite`) speaks with its own front end and two kinds of
waveform generation unlike espeak-ng's formants or Kokoro's neural vocoder: diphone
concatenation (`kal`, `kal16`) and statistical parametric voices (`awb`, `rms`, `slt`).
A voice (`FliteVoice`) is one of these with its own speed (`duration_stretch`) and pitch
(`f0_shift`), so five built-in voices give as many distinct speakers as a corpus needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from quads.synth.variants import VoiceVariant

ENGINE = "flite"
EXECUTABLE = "flite"
BASE_VOICES = ("kal", "kal16", "awb", "rms", "slt")  # built into Debian's flite 2.2
SPEEDS = (0.8, 1.25)  # speaking rate: 1 / duration_stretch
PITCHES = (0.8, 1.25)  # f0_shift: the voice's pitch contour times this


@dataclass(frozen=True)
class FliteVoice(VoiceVariant):
    """A Flite speaker: a built-in voice, a speed and a pitch factor."""

    engine = ENGINE
    title = "Flite"
    base_voices = BASE_VOICES
    speeds = SPEEDS
    pitches = PITCHES

    def args(self) -> list[str]:
        stretch = f"duration_stretch={1 / self.speed:.4f}"
        return ["-voice", self.voice, "--setf", stretch, "--setf", f"f0_shift={self.pitch}"]


def command(text: str, voice: FliteVoice) -> list[str]:
    """The flite command that writes `text` in `voice` to stdout as a WAV file (8 or 16 kHz);
    `synth.build_corpus` checks first that EXECUTABLE is on PATH."""
    return [EXECUTABLE, *voice.args(), "-t", text, "-o", "/dev/stdout"]
