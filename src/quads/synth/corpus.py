"""Synthetic corpora in the FSC and SLURP layouts, voiced by four TTS engines (`quads synth`).

A corpus is first a deterministic *plan* drawn from the seed (`plan_corpus`: who says
what, in which split), then rendered: one TTS call per clip, resampled to 16 kHz
and written atomically, in parallel. A clip already on disk is not redone, so a build
that was interrupted resumes; the CSV/jsonl metadata is written last, from the plan.

Four families of voices share a corpus, in the `shares` of each engine besides espeak-ng
(per preset, `ENGINE_SHARES`); espeak-ng voices the rest:
- espeak-ng (formant synthesis): a speaker is one accent + voice variant (never shared
  between splits) with its own rate, pitch and word gap;
- Flite (`flite.py`, diphone and statistical parametric voices): a speaker is one of its five
  voices with its own speed and pitch; its name starts with `flite-`;
- Kokoro-82M (`kokoro.py`, a neural voice): a speaker is a convex mix of its five Japanese
  style tables with its own speed and phonemizing accent; its name starts with `kokoro-`.
  Engine `kokoro-en`: the same model with its 28 English tables (American and British
  speakers, mixed within a region); names start with `kokoro-en-` and a table (`af_heart`);
- SVOX Pico (`pico.py`, hidden Markov model voices): a speaker is one of its two English
  voices with its own speed and pitch; its name starts with `pico-`.
A clip's speaker id (FSC `speakerId`, SLURP recording `speaker`) names its engine and voice
(`engine_of`); train, valid and test are speaker-disjoint.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import random
import re
import shutil
import string
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from quads.audio import SAMPLE_RATE, resample
from quads.data import fsc, slurp
from quads.data.types import AUDIO_SUFFIXES, SPLITS, check_layout, label_space
from quads.synth import flite, kokoro, pico
from quads.synth.flite import FliteVoice
from quads.synth.kokoro import KokoroVoice
from quads.synth.phrases import SLOTS, SLURP_TEMPLATES, WRAPPER_WEIGHTS, WRAPPERS, fsc_phrases
from quads.synth.pico import PicoVoice
from quads.synth.wordings import (
    SLURP_DEVEL,
    Sentence,
    read_sentences,
    round_robin,
    sentence_stream,
    split_sentences,
)

logger = logging.getLogger("quads")

ESPEAK = "espeak-ng"
# espeak-ng's English accents (mbrola voices left out: they need extra packages) ...
ACCENTS = (
    "en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
    "en-029", "en-us-nyc",
)  # fmt: skip
# ... and voice variants (`espeak-ng -v en-us+f3`): 8 x 40 = 320 distinct voices.
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "Alex", "Andrea", "Annie", "adam", "anika",
    "aunty", "belinda", "benjamin", "boris", "david", "edward", "grandma", "grandpa",
    "iven", "john", "linda", "max", "michel", "paul", "quincy", "robert", "steph", "zac",
)  # fmt: skip
# Total clips per preset; valid and test get 15% each (at least one clip per intent).
PRESETS = {
    "fsc": {"tiny": 155, "small": 2000, "medium": 6000, "full": 12000},
    "slurp": {"tiny": 240, "small": 3000, "medium": 7500, "full": 15000},
}
ENGINES = ("espeak", flite.ENGINE, kokoro.ENGINE, kokoro.EN_ENGINE, pico.ENGINE)  # new last: plans
# with a zero share of an engine are those drawn before it existed
# Share of the clips voiced by each engine besides espeak-ng (which voices the rest); about
# 1 s of CPU per Kokoro clip vs a few ms per espeak-ng or Flite clip, so the tiny preset of
# the tests stays espeak-only. Kokoro speaks with its English speakers: real recordings of
# people chose them over its Japanese tables (10 keywords + unknown, 1,100 real clips:
# benchmarks/results/real-speech-commands-kw-en.md against -kw-ja.md).
ENGINE_SHARES: dict[str, dict[str, float]] = {
    "tiny": {},
    "small": {kokoro.EN_ENGINE: 0.3},
    "medium": {kokoro.EN_ENGINE: 0.3},
    "full": {kokoro.EN_ENGINE: 0.5},
}
EVAL_SHARE = 0.15
CLIPS_PER_SPEAKER = 30
CLIPS_PER_VOICE = 20  # Kokoro mixes and Flite variants cost nothing: more voices than espeak
# Default text of each layout: FSC's phrase tables, SLURP's real devel sentences.
DEFAULT_TEXT = {"fsc": None, "slurp": SLURP_DEVEL}
VOICES_PER_SENTENCE = 3  # with a text source, each sentence is said by this many voices
TEMPLATE_FILL = 3  # template sentences for an intent a split's text source lacks
META_FILE = "synth.json"
# Outliers (`outliers=N`, data.outliers): speech that is none of the FSC intents, from
# SLURP's real requests outside the domains FSC covers (its lights/plugs, audio, music and
# play scenarios), short enough for a command's context, said by the training voices.
OUTLIER_DIR = "outliers"
OUTLIER_SKIP_SCENARIOS = ("iot", "audio", "music", "play")
OUTLIER_MAX_WORDS = 6


class SynthError(RuntimeError):
    """The synthetic corpus cannot be built (espeak-ng missing or failing, bad target)."""


@dataclass(frozen=True)
class Speaker:
    accent: str
    variant: str
    rate: int  # words per minute
    pitch: int  # 0-99
    gap: int  # extra pause between words, 10 ms units

    engine = "espeak"

    @property
    def name(self) -> str:
        return f"{self.accent}+{self.variant}-s{self.rate}-p{self.pitch}-g{self.gap}"

    def espeak_args(self) -> list[str]:
        v = f"{self.accent}+{self.variant}"
        return ["-v", v, "-s", str(self.rate), "-p", str(self.pitch), "-g", str(self.gap)]


@dataclass(frozen=True)
class Clip:
    id: str
    split: str
    speaker: Voice
    text: str
    label: str
    path: str  # relative to the corpus root
    lead: float  # seconds of silence before the speech ...
    tail: float  # ... and after it
    level: float  # peak amplitude
    noise_db: float  # noise floor, dB below the peak
    annotation: str = ""  # SLURP: the sentence with "[slot : value]" marks
    slots: tuple[tuple[str, str], ...] = ()  # grammars: the (slot, value) pairs said


# --- the plan -------------------------------------------------------------------------


ESPEAK_ID = re.compile(r"^[a-z]{2}[\w-]*\+[\w]+-s\d+-p\d+-g\d+$")  # `Speaker.name`


def engine_of(speaker_id: str) -> str:
    """The engine that voiced a synthetic clip, from its speaker id ("other": not ours)."""
    if kokoro.EN_ID.match(speaker_id):  # before "kokoro-": the older ids are kokoro-en-us-...
        return kokoro.EN_ENGINE
    for engine in ENGINES[1:]:
        if speaker_id.startswith(f"{engine}-"):
            return engine
    return "espeak" if ESPEAK_ID.match(speaker_id) else "other"


def split_sizes(total: int, n_intents: int) -> dict[str, int]:
    """Clips per split: valid and test get 15% each, and at least one clip per intent."""
    n_eval = max(n_intents, round(EVAL_SHARE * total))
    n_train = total - 2 * n_eval
    if n_train < n_intents:
        raise ValueError(
            f"utterances={total} is too few: each split needs at least one clip per intent "
            f"({n_intents} intents), so at least {3 * n_intents}"
        )
    return {"train": n_train, "valid": n_eval, "test": n_eval}


def _speakers(rng: random.Random, total: int) -> dict[str, list[Speaker]]:
    voices = [(a, v) for a in ACCENTS for v in VARIANTS]
    rng.shuffle(voices)
    n = min(len(voices), max(9, total // CLIPS_PER_SPEAKER))
    n_eval = max(2, round(EVAL_SHARE * n))
    counts = {"train": n - 2 * n_eval, "valid": n_eval, "test": n_eval}
    out: dict[str, list[Speaker]] = {split: [] for split in SPLITS}
    start = 0
    for split in SPLITS:
        for accent, variant in voices[start : start + counts[split]]:
            rate, pitch = rng.randrange(130, 206, 5), rng.randrange(25, 76, 5)
            out[split].append(Speaker(accent, variant, rate, pitch, gap=rng.choice([0, 0, 1, 2])))
        start += counts[split]
    return out


def _distinct(counts: dict[str, int], draw: Callable[[str], Voice]) -> dict[str, list[Voice]]:
    """`counts[split]` voices per split from `draw(split)`, none in two splits (unless a
    thousand draws found no new one: few distinct held-out voices exist)."""
    out: dict[str, list[Voice]] = {split: [] for split in SPLITS}
    seen: set[str] = set()
    for split in SPLITS:
        tries = 0
        while len(out[split]) < counts[split]:
            tries += 1
            voice = draw(split)
            if voice.name not in seen or tries > 1000:
                seen.add(voice.name)
                out[split].append(voice)
    return out


def _kokoro_voices(
    seed: int, counts: dict[str, int], holdout: str | None = None
) -> dict[str, list[Voice]]:
    """`counts[split]` distinct Kokoro voices per split (their own random stream, so an
    espeak-only plan is unchanged). With `holdout` (a base voice), train and valid mixes
    leave that table out and test voices are that table alone, at varied speeds."""
    rng = random.Random(f"kokoro-{seed}")
    lo, hi = (round(x * 20) for x in kokoro.SPEEDS)

    def draw(split: str) -> Voice:
        if holdout and split == "test":
            mix = tuple(float(v == holdout) for v in kokoro.BASE_VOICES)
            speed = rng.randint(lo, hi) / 20
            return KokoroVoice(mix, speed, rng.choice(kokoro.ACCENTS))
        return kokoro.random_voice(rng, exclude=(holdout,) if holdout else ())

    return _distinct(counts, draw)


def _kokoro_en_voices(
    seed: int, counts: dict[str, int], holdout: str | None = None
) -> dict[str, list[Voice]]:
    """The same for Kokoro's English speakers, `holdout` an English table."""
    rng = random.Random(f"kokoro-en-{seed}")
    tables = tuple(t for t in kokoro.EN_TABLES if t != holdout)
    lo, hi = (round(x * 20) for x in kokoro.SPEEDS)

    def draw(split: str) -> Voice:
        if holdout and split == "test":
            return kokoro.KokoroEnVoice(((holdout, 1.0),), rng.randint(lo, hi) / 20)
        return kokoro.random_en_voice(rng, tables)

    return _distinct(counts, draw)


def _variant_voices(
    kind: type[FliteVoice | PicoVoice], seed: int, counts: dict[str, int]
) -> dict[str, list[Voice]]:
    """`counts[split]` distinct voices of a Flite or Pico kind per split, none in two splits
    (the engine's own random stream, so plans without it are unchanged)."""
    rng = random.Random(f"{kind.engine}-{seed}")
    return _distinct(counts, lambda split: kind.draw(rng))


Voice = Speaker | FliteVoice | KokoroVoice | kokoro.KokoroEnVoice | PicoVoice


def voices_per_clip(
    rng: random.Random,
    sizes: dict[str, int],
    by_split: dict[str, dict[str, float]],
    seed: int,
    kokoro_holdout: str | None = None,
) -> dict[str, list[Voice]]:
    """Each split's voice for every one of its clips (unshuffled): espeak-ng speakers (drawn
    from `rng`), Flite and Kokoro voices in each split's engine shares (`engine_shares`),
    none in two splits."""
    speakers = _speakers(rng, sum(sizes.values()))
    # clips per engine and split: cumulative rounding, so they add up to the split's size
    n_clips: dict[str, dict[str, int]] = {e: {} for e in ENGINES}
    for split in SPLITS:
        done = 0.0
        for engine in ENGINES[1:]:
            start, done = done, done + by_split[split].get(engine, 0.0)
            n_clips[engine][split] = round(done * sizes[split]) - round(start * sizes[split])
        n_clips["espeak"][split] = sizes[split] - round(done * sizes[split])
    n_voices = {e: {s: -(-n // CLIPS_PER_VOICE) + (n > 0) for s, n in n_clips[e].items()}
                for e in ENGINES[1:]}  # fmt: skip
    voices = {
        "espeak": speakers,
        flite.ENGINE: _variant_voices(FliteVoice, seed, n_voices[flite.ENGINE]),
        kokoro.ENGINE: _kokoro_voices(
            seed, n_voices[kokoro.ENGINE], _only(kokoro_holdout, kokoro.BASE_VOICES)
        ),
        kokoro.EN_ENGINE: _kokoro_en_voices(
            seed, n_voices[kokoro.EN_ENGINE], _only(kokoro_holdout, kokoro.EN_TABLES)
        ),
        pico.ENGINE: _variant_voices(PicoVoice, seed, n_voices[pico.ENGINE]),
    }
    out: dict[str, list[Voice]] = {}
    for split in SPLITS:
        out[split] = []
        for engine in ENGINES:
            pool, m = voices[engine][split], n_clips[engine][split]
            if m:
                out[split] += (pool * (m // len(pool) + 1))[:m]
    return out


def _only(name: str | None, names: tuple[str, ...]) -> str | None:
    return name if name in names else None


def engine_shares(
    shares: dict[str, float | dict[str, float]] | None, preset: str
) -> dict[str, dict[str, float]]:
    """Each split's share of clips per engine (espeak-ng: what the others leave), from
    `shares` (engine -> a share, or one per split) or the preset's."""
    given = ENGINE_SHARES[preset] if shares is None else shares
    out: dict[str, dict[str, float]] = {split: {} for split in SPLITS}
    for engine, share in given.items():
        if engine not in ENGINES[1:]:
            raise ValueError(f"unknown engine {engine!r} in shares; expected {ENGINES[1:]}")
        per_split = share if isinstance(share, dict) else {split: share for split in SPLITS}
        if set(per_split) != set(SPLITS) or not all(0 <= x <= 1 for x in per_split.values()):
            raise ValueError(f"{engine} share {share}: between 0 and 1 (or one per split)")
        for split in SPLITS:
            out[split][engine] = float(per_split[split])
    for split, by_engine in out.items():
        if sum(by_engine.values()) > 1 + 1e-9:
            raise ValueError(f"engine shares {shares} add up to more than 1 in {split}")
        by_engine["espeak"] = max(0.0, 1 - sum(by_engine.values()))
    return out


def _fsc_text(rng: random.Random, label: str) -> tuple[str, str]:
    cmds, plain = fsc_phrases(*label.split("|"))
    core = rng.choice(cmds + plain)
    if core in cmds:
        core = rng.choices(WRAPPERS, weights=WRAPPER_WEIGHTS)[0].format(core)
    return core[0].upper() + core[1:], ""


def _slurp_text(rng: random.Random, label: str) -> tuple[str, str]:
    template = rng.choice(SLURP_TEMPLATES[label])
    text, annotation = [], []
    for literal, slot, _, _ in string.Formatter().parse(template):
        text.append(literal)
        annotation.append(literal)
        if slot:
            value = rng.choice(SLOTS[slot])
            text.append(value)
            annotation.append(f"[{slot} : {value}]")
    return "".join(text), "".join(annotation)


def _text_pools(
    layout: str, text: str | Path, seed: int, intents: list[str]
) -> dict[str, list[Sentence]]:
    """Sentence-disjoint pools of a text source; an intent a split lacks gets template
    sentences (SLURP) that no other split says."""
    if layout != "slurp":
        raise ValueError("a text source (JSONL of SLURP-style requests) is for --layout slurp")
    pools = split_sentences(read_sentences(text, intents), seed)
    rng = random.Random(f"fill-{seed}")
    taken = {s.text for pool in pools.values() for s in pool}
    for split in SPLITS:
        present = {s.label for s in pools[split]}
        fill = []
        for label in (i for i in intents if i not in present):
            for _ in range(20 * TEMPLATE_FILL):
                if sum(s.label == label for s in fill) == TEMPLATE_FILL:
                    break
                said, annotation = _slurp_text(rng, label)
                if said not in taken:
                    taken.add(said)
                    fill.append(Sentence(said, label, annotation))
        pools[split] = round_robin(pools[split] + fill)
    return pools


def plan_corpus(
    layout: str,
    utterances: int | None = None,
    preset: str = "small",
    seed: int = 0,
    shares: dict[str, float | dict[str, float]] | None = None,
    sizes: dict[str, int] | None = None,
    kokoro_holdout: str | None = None,
    text: str | Path | None = "default",
    voices_per_sentence: int = VOICES_PER_SENTENCE,
) -> list[Clip]:
    """The deterministic list of clips of a synthetic corpus (same arguments, same plan).

    `shares` (default: the preset's) maps an engine besides espeak-ng to the share of each
    split it voices: a number, or one per split, e.g. an engine left out of training:
    {"kokoro": {"train": 0, "valid": 0, "test": 0.5}}; espeak-ng voices the rest. `sizes`
    sets the clips per split instead of `utterances`; `kokoro_holdout` keeps one Kokoro base
    voice for the test split only (see `_kokoro_voices`). `text`: a JSONL text source
    (`wordings.py`) whose sentences are split sentence-disjointly and each said by
    `voices_per_sentence` voices; "default" is the layout's (`DEFAULT_TEXT`), None the
    built-in phrase tables and templates.
    """
    check_layout(layout)
    if preset not in PRESETS[layout]:
        raise ValueError(f"unknown preset {preset!r}; expected one of {list(PRESETS[layout])}")
    by_split = engine_shares(shares, preset)
    known = kokoro.BASE_VOICES + kokoro.EN_TABLES
    if kokoro_holdout is not None and kokoro_holdout not in known:
        raise ValueError(f"unknown Kokoro voice {kokoro_holdout!r}: {known}")
    intents = label_space(layout)
    if text == "default":
        text = DEFAULT_TEXT[layout]
    if voices_per_sentence < 1:
        raise ValueError(f"voices_per_sentence={voices_per_sentence} must be 1 or more")
    pools = _text_pools(layout, text, seed, intents) if text is not None else None
    if sizes is None:
        total = utterances if utterances is not None else PRESETS[layout][preset]
        sizes = split_sizes(total, len(intents))
    else:
        if set(sizes) != set(SPLITS) or min(sizes.values()) < len(intents):
            raise ValueError(
                f"sizes={sizes}: each of {SPLITS} needs at least one clip per intent "
                f"({len(intents)})"
            )
        total = sum(sizes.values())
    rng = random.Random(seed)
    voices = voices_per_clip(rng, sizes, by_split, seed, kokoro_holdout)
    text_for = _fsc_text if layout == "fsc" else _slurp_text
    clips: list[Clip] = []
    ids: set[str] = set()
    for split in SPLITS:
        n = sizes[split]
        who = voices[split]
        rng.shuffle(who)
        said: set[tuple[str, str]] = set()
        lines = sentence_stream(pools[split], n, voices_per_sentence) if pools else None
        for k, speaker in enumerate(who):
            if lines:
                line = lines[k]
                said_text, annotation, label = line.text, line.annotation, line.label
                # another voice for this sentence, if a later clip's speaker has not said it
                later = (j for j in range(k + 1, n) if (who[j].name, said_text) not in said)
                if (speaker.name, said_text) in said and (j := next(later, None)) is not None:
                    who[k], who[j] = who[j], who[k]
                    speaker = who[k]
            else:
                label = intents[k % len(intents)]
                for _ in range(20):  # a speaker says each sentence once, where there are enough
                    said_text, annotation = text_for(rng, label)
                    if (speaker.name, said_text) not in said:
                        break
            said.add((speaker.name, said_text))
            clip_id, lead, tail, level, noise_db = recording(rng, layout, speaker, said_text, ids)
            if layout == "fsc":
                path = f"wavs/speakers/{speaker.name}/{clip_id}.wav"
            else:
                path = f"audio/slurp_real/audio-{clip_id}.flac"
            clips.append(
                Clip(
                    clip_id,
                    split,
                    speaker,
                    said_text,
                    label,
                    path,
                    lead,
                    tail,
                    level,
                    noise_db,
                    annotation,
                )
            )
    return clips


def recording(
    rng: random.Random, kind: str, speaker: Voice, text: str, ids: set[str]
) -> tuple[str, float, float, float, float]:
    """How a clip is recorded, drawn from `rng`: (its id, unique in `ids` and added to it,
    seconds of silence before and after the speech, peak level, noise floor in dB below it)."""
    while True:
        lead, tail = round(rng.uniform(0.05, 0.4), 3), round(rng.uniform(0.05, 0.3), 3)
        level, noise_db = round(rng.uniform(0.3, 0.9), 3), round(rng.uniform(45, 70), 1)
        key = f"{kind}|{speaker.name}|{text}|{lead}|{tail}|{level}|{noise_db}"
        clip_id = hashlib.sha1(key.encode()).hexdigest()[:20]
        if clip_id not in ids:
            ids.add(clip_id)
            return clip_id, lead, tail, level, noise_db


def plan_outliers(clips: list[Clip], n: int, seed: int) -> list[Clip]:
    """`n` outlier clips (split "outliers", under OUTLIER_DIR/<speaker>/) voiced by the
    speakers of the training split of `clips` (FSC layout), in its mix of engines."""
    if n <= 0:
        return []
    train = [c for c in clips if c.split == "train"]
    if not train or not train[0].path.startswith("wavs/"):
        raise ValueError("outliers are for synthetic FSC-layout corpora")
    texts = sorted(
        s.text
        for s in read_sentences(SLURP_DEVEL, label_space("slurp"))
        if s.label.split("_")[0] not in OUTLIER_SKIP_SCENARIOS
        and len(s.text.split()) <= OUTLIER_MAX_WORDS
    )
    rng = random.Random(f"outliers-{seed}")
    rng.shuffle(texts)
    out, ids = [], set()
    for k in range(n):
        speaker, text = rng.choice(train).speaker, texts[k % len(texts)]
        clip_id, lead, tail, level, noise_db = recording(rng, f"outlier|{k}", speaker, text, ids)
        path = f"{OUTLIER_DIR}/{speaker.name}/{clip_id}.wav"
        out.append(Clip(clip_id, "outliers", speaker, text, "", path, lead, tail, level, noise_db))
    return out


# --- rendering ------------------------------------------------------------------------


def _executable(name: str) -> str:
    """A TTS engine's executable, or a SynthError that says how to install it."""
    found = shutil.which(name)
    if not found:
        raise SynthError(
            f"{name} not found on PATH: the synthetic corpora are voiced by it. Install it "
            f"(Debian/Ubuntu: sudo apt-get install {name}; or `make voices`) and rerun."
        )
    return found


def espeak_path() -> str:
    """The espeak-ng executable, or a SynthError that says how to install it."""
    return _executable(ESPEAK)


def _tts_speech(cmd: list[str]) -> tuple[np.ndarray, int]:
    """The speech a TTS command writes to stdout as a WAV file, and its sample rate."""
    proc = subprocess.run(cmd, capture_output=True, timeout=120)
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode(errors="replace").strip()
        raise SynthError(f"{' '.join(cmd)!r} failed (exit {proc.returncode}): {err}")
    speech, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    return speech, rate


def synthesize(clip: Clip, espeak: str = ESPEAK) -> np.ndarray:
    """The clip's audio: 16 kHz mono float32, with its silences, level and noise floor."""
    if clip.speaker.engine in (kokoro.ENGINE, kokoro.EN_ENGINE):
        speech, rate = kokoro.engine(espeak).speak(clip.text, clip.speaker), kokoro.SAMPLE_RATE
    elif clip.speaker.engine == flite.ENGINE:
        speech, rate = _tts_speech(flite.command(clip.text, clip.speaker))
    elif clip.speaker.engine == pico.ENGINE:
        speech, rate = pico.speak(clip.text, clip.speaker), pico.SAMPLE_RATE
    else:
        speech, rate = _tts_speech([espeak, *clip.speaker.espeak_args(), "--stdout", clip.text])
    voiced = np.flatnonzero(np.abs(speech) > 0.01 * np.abs(speech).max(initial=0.0))
    if voiced.size == 0:
        raise SynthError(f"{clip.speaker.engine} produced silence for {clip.text!r}")
    speech = resample(speech[voiced[0] : voiced[-1] + 1], rate, SAMPLE_RATE)
    speech *= clip.level / np.abs(speech).max()
    lead, tail = (np.zeros(int(s * SAMPLE_RATE), np.float32) for s in (clip.lead, clip.tail))
    audio = np.concatenate([lead, speech, tail])
    rng = np.random.default_rng(int(clip.id, 16))
    noise = rng.standard_normal(audio.size).astype(np.float32)
    audio += noise * clip.level * 10 ** (-clip.noise_db / 20)
    return np.clip(audio, -1.0, 1.0)


def render(clip: Clip, root: Path, espeak: str = ESPEAK) -> tuple[bool, float]:
    """Write the clip under `root` unless it is there: (made now, duration in seconds)."""
    out = root / clip.path
    if out.is_file():
        return False, sf.info(str(out)).duration
    audio = synthesize(clip, espeak)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    fmt = "WAV" if out.suffix == ".wav" else "FLAC"
    sf.write(str(tmp), audio, SAMPLE_RATE, format=fmt, subtype="PCM_16")
    os.replace(tmp, out)  # atomic: a clip on disk is always whole
    return True, audio.size / SAMPLE_RATE


def render_all(
    clips: list[Clip],
    root: Path,
    espeak: str,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "synth",
) -> tuple[int, float]:
    """Render every clip not on disk yet under `root`: (clips made now, seconds of audio)."""
    root.mkdir(parents=True, exist_ok=True)
    used = {c.speaker.engine for c in clips}
    if flite.ENGINE in used:
        _executable(flite.EXECUTABLE)  # fail early (and once) if an engine is not installed
    if pico.ENGINE in used:
        try:
            pico.check_installed()
        except pico.PicoError as e:
            raise SynthError(str(e)) from None
    if kokoro.ENGINE in used or kokoro.EN_ENGINE in used:
        kokoro.engine(espeak)
    if kokoro.EN_ENGINE in used:
        kokoro.load_english_tables()
    # Threads suffice: the work is in espeak-ng subprocesses, GIL-free numpy/libsndfile and
    # onnxruntime; two per core hide the subprocess start-up (measured: 1.5x faster than one
    # per core). Kokoro runs (one ONNX thread each) are limited to one per core.
    workers = workers or 2 * (os.cpu_count() or 1)
    kokoro_slots = threading.Semaphore(max(1, min(workers, os.cpu_count() or 1)))

    def job(clip: Clip) -> tuple[bool, float]:
        if clip.speaker.engine not in (kokoro.ENGINE, kokoro.EN_ENGINE):
            return render(clip, root, espeak)
        with kokoro_slots:
            return render(clip, root, espeak)

    made, seconds = 0, 0.0
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        jobs = pool.map(job, clips)
        bar = tqdm(
            jobs, total=len(clips), desc=desc, unit="clip", disable=None if progress else True
        )
        for was_made, duration in bar:
            made += was_made
            seconds += duration
    finally:  # on an error or Ctrl-C, drop the clips not started yet
        pool.shutdown(wait=True, cancel_futures=True)
    return made, seconds


# --- metadata -------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_fsc(root: Path, clips: list[Clip]) -> list[Path]:
    files = []
    for split in SPLITS:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["", *fsc.COLUMNS])
        rows = [c for c in clips if c.split == split]
        for i, c in enumerate(rows):
            writer.writerow([i, c.path, c.speaker.name, c.text, *c.label.split("|")])
        files.append(fsc.split_file(root, split))
        _write_text(files[-1], buf.getvalue())
    return files


def _write_outliers(root: Path, clips: list[Clip]) -> Path:
    """OUTLIER_DIR/transcripts.csv: what each outlier clip says (training reads the audio)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "speaker", "transcript"])
    for c in clips:
        writer.writerow([Path(c.path).relative_to(OUTLIER_DIR), c.speaker.name, c.text])
    path = root / OUTLIER_DIR / "transcripts.csv"
    _write_text(path, buf.getvalue())
    return path


def _write_slurp(root: Path, clips: list[Clip]) -> list[Path]:
    files, slurp_id = [], 0
    for split in SPLITS:
        sentences: dict[str, dict] = {}  # one line per sentence, one recording per clip
        for c in clips:
            if c.split != split:
                continue
            if c.text not in sentences:
                slurp_id += 1
                scenario, action = c.label.split("_", 1)
                sentences[c.text] = {
                    "slurp_id": slurp_id,
                    "sentence": c.text,
                    "sentence_annotation": c.annotation,
                    "intent": c.label,
                    "action": action,
                    "scenario": scenario,
                    "recordings": [],
                }
            rec = {"file": Path(c.path).name, "wer": 0.0, "ent_wer": 0.0, "status": "correct"}
            rec |= {"speaker": c.speaker.name, "engine": c.speaker.engine}
            sentences[c.text]["recordings"].append(rec)
        files.append(slurp.split_file(root, split))
        _write_text(files[-1], "".join(json.dumps(s) + "\n" for s in sentences.values()))
    return files


def _check_target(root: Path, layout: str) -> None:
    """Refuse to write synthetic metadata over a corpus that `quads synth` did not make."""
    meta = [fsc.split_file(root, s) for s in SPLITS] + [slurp.split_file(root, s) for s in SPLITS]
    if any(p.exists() for p in meta) and not (root / META_FILE).is_file():
        raise SynthError(
            f"{root}: holds a corpus not made by quads synth; refusing to overwrite it"
        )
    if (root / META_FILE).is_file():
        previous = json.loads((root / META_FILE).read_text()).get("layout")
        if previous != layout:
            raise SynthError(f"{root}: holds a synthetic {previous} corpus, not {layout}")


def _note_stale(root: Path, layout: str, clips: list[Clip]) -> None:
    """Warn about clips on disk that this plan does not use (an earlier, other build)."""
    audio = root / ("wavs" if layout == "fsc" else "audio")
    planned = {root / c.path for c in clips}
    stale = [p for p in audio.rglob("*") if p.suffix in AUDIO_SUFFIXES and p not in planned]
    if stale:
        mb = sum(p.stat().st_size for p in stale) / 1e6
        logger.warning(
            "%s: %d clips (%.0f MB) on disk are not in this corpus (left by a build with other "
            "settings); they are unused, delete the folder and rebuild to reclaim the space",
            root,
            len(stale),
            mb,
        )


def build_corpus(
    root: str | Path,
    layout: str = "fsc",
    utterances: int | None = None,
    preset: str = "small",
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    shares: dict[str, float | dict[str, float]] | None = None,
    sizes: dict[str, int] | None = None,
    kokoro_holdout: str | None = None,
    text: str | Path | None = "default",
    voices_per_sentence: int = VOICES_PER_SENTENCE,
    outliers: int = 0,
) -> dict:
    """Build (or finish) a synthetic corpus at `root` in the FSC or SLURP layout, with
    `outliers` clips of speech that is none of the intents in OUTLIER_DIR (FSC layout).

    Returns a summary: clips, speakers and engines per split, clips made now vs found on
    disk, seconds, clips/s, hours of audio and megabytes.
    """
    espeak = espeak_path()
    root = Path(root)
    clips = plan_corpus(
        layout,
        utterances,
        preset,
        seed,
        shares,
        sizes,
        kokoro_holdout,
        text,
        voices_per_sentence,
    )
    extra = plan_outliers(clips, outliers, seed)
    _check_target(root, layout)
    start = time.perf_counter()
    made, seconds = render_all(clips + extra, root, espeak, workers, progress, f"synth {layout}")
    _note_stale(root, layout, clips)
    files = _write_fsc(root, clips) if layout == "fsc" else _write_slurp(root, clips)
    if extra:
        files.append(_write_outliers(root, extra))
    elapsed = time.perf_counter() - start
    summary = {
        "layout": layout,
        "root": str(root),
        "preset": preset if utterances is None else None,
        "seed": seed,
        "shares": engine_shares(shares, preset),
        "kokoro_holdout": kokoro_holdout,
        "text": str(DEFAULT_TEXT[layout] if text == "default" else text),
        "utterances": len(clips),
        "splits": {
            s: {
                "utterances": sum(c.split == s for c in clips),
                "speakers": len({c.speaker.name for c in clips if c.split == s}),
                "engines": {
                    e: sum(c.split == s and c.speaker.engine == e for c in clips) for e in ENGINES
                },
            }
            for s in SPLITS
        },
        "intents": len({c.label for c in clips}),
        "outliers": {
            "utterances": len(extra),
            "folder": OUTLIER_DIR if extra else None,
            "engines": {e: sum(c.speaker.engine == e for c in extra) for e in ENGINES},
        },
        "made": made,
        "reused": len(clips) + len(extra) - made,
        "seconds": round(elapsed, 2),
        "clips_per_second": round(made / elapsed, 1) if made else None,
        "audio_hours": round(seconds / 3600, 3),
        "megabytes": round(sum((root / c.path).stat().st_size for c in clips) / 1e6, 1),
        "files": [str(f.relative_to(root)) for f in files],
    }
    _write_text(root / META_FILE, json.dumps(summary, indent=2) + "\n")
    logger.info(
        "synth %s: %d clips at %s (%d made, %d already there) in %.1f s",
        layout,
        len(clips) + len(extra),
        root,
        made,
        len(clips) + len(extra) - made,
        elapsed,
    )
    return summary
