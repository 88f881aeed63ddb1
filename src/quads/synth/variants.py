"""A speaker drawn from an engine with few built-in voices (Flite, Pico): one of them with its
own speed and pitch, so that a handful of voices gives as many distinct speakers as a corpus
needs. Each engine subclasses `VoiceVariant` with its name and voices."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar, TypeVar

V = TypeVar("V", bound="VoiceVariant")


@dataclass(frozen=True)
class VoiceVariant:
    """A built-in voice of `engine`, a speed and a pitch factor."""

    voice: str
    speed: float
    pitch: float

    engine: ClassVar[str]
    title: ClassVar[str]  # the engine's name in messages
    base_voices: ClassVar[tuple[str, ...]]
    speeds: ClassVar[tuple[float, float]]  # speed factors drawn from
    pitches: ClassVar[tuple[float, float]]  # pitch factors drawn from

    def __post_init__(self) -> None:
        if self.voice not in self.base_voices:
            raise ValueError(
                f"unknown {self.title} voice {self.voice!r}; expected one of {self.base_voices}"
            )

    @property
    def name(self) -> str:
        """E.g. `flite-slt-x105-p90`: the engine, the voice, speed and pitch x 100."""
        speed, pitch = round(self.speed * 100), round(self.pitch * 100)
        return f"{self.engine}-{self.voice.lower()}-x{speed}-p{pitch}"

    @classmethod
    def draw(cls: type[V], rng: random.Random) -> V:
        """A new speaker: a base voice, a speed and a pitch in steps of 0.05."""
        (s0, s1), (p0, p1) = ((round(x * 20) for x in r) for r in (cls.speeds, cls.pitches))
        return cls(rng.choice(cls.base_voices), rng.randint(s0, s1) / 20, rng.randint(p0, p1) / 20)
