"""`make_ood` of benchmarks/rejection.py (with the speakers and phrases it draws) as it was at
commit e9d71d8, which ood_scores.py imports as a sibling module (it was run with it)."""

from __future__ import annotations

import random
from pathlib import Path

import soundfile as sf

from quads.data.synth import ACCENTS, VARIANTS, Clip, Speaker, synthesize

SR = 16000

# Requests no FSC intent covers (FSC: lights, lamp, music, heat, volume, language, bring
# juice/newspaper/shoes/socks).
OUT_OF_DOMAIN = [
    "what's the weather like tomorrow",
    "set an alarm for seven in the morning",
    "call my mother",
    "order a large pizza",
    "what time is it",
    "tell me a joke",
    "read my new emails",
    "open the garage door",
    "lock the front door",
    "start the dishwasher",
    "book a table for two tonight",
    "how far is the airport",
    "add milk to the shopping list",
    "send a message to john",
    "take a picture",
    "what is the capital of france",
    "remind me to water the plants",
    "show me the latest news",
    "navigate to the nearest gas station",
    "start a timer for ten minutes",
    "how tall is mount everest",
    "close the curtains",
    "feed the cat",
    "vacuum the living room",
    "what's on my calendar today",
    "translate good morning into spanish",
    "buy more coffee",
    "open the window",
    "play the next episode",
    "who won the football game",
    "check my bank balance",
    "find a recipe for pancakes",
    "spell the word necessary",
    "wake me up in twenty minutes",
    "is it going to rain this weekend",
    "turn the page",
    "record a voice memo",
    "what's the traffic like",
    "how do you say thank you in japanese",
    "cancel my dentist appointment",
]


def speakers(n: int, seed: int) -> list[Speaker]:
    rng = random.Random(seed)
    return [
        Speaker(
            rng.choice(ACCENTS),
            rng.choice(VARIANTS),
            rng.randint(130, 190),
            rng.randint(30, 70),
            rng.randint(0, 3),
        )
        for _ in range(n)
    ]


def make_ood(folder: Path, per_phrase: int, seed: int) -> list[Path]:
    """Out-of-domain commands, each by `per_phrase` random speakers (cached on disk)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i, text in enumerate(OUT_OF_DOMAIN):
        for j, spk in enumerate(speakers(per_phrase, seed * 1000 + i)):
            path = folder / f"ood-{i:02d}-{j}.wav"
            paths.append(path)
            if path.is_file():
                continue
            clip = Clip(
                id=f"{i:04x}{j:04x}",
                split="test",
                speaker=spk,
                text=text,
                label="",
                path=str(path),
                lead=rng.uniform(0.1, 0.5),
                tail=rng.uniform(0.1, 0.5),
                level=rng.uniform(0.3, 0.9),
                noise_db=rng.uniform(35, 60),
            )
            sf.write(str(path), synthesize(clip), SR, subtype="PCM_16")
    return paths
