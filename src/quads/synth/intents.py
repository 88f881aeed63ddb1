"""Commands without recordings: a YAML of intents becomes a synthetic corpus in the manifest
layout (`quads synth --intents my_commands.yaml --out data/my-commands`).

The YAML names each intent (the intent name is the label) with its phrasings; `{slot}`
fields are filled from slot values, shared at the top or given per intent:

    slots:
      drink: [espresso, latte, cappuccino]
    intents:
      make_coffee:
        - make me a {drink}
        - "{drink} please"          # quoted: a phrase starting with { would be YAML
      stop: [stop, cancel that]
      set_timer:
        phrases: ["set a timer for {minutes} minutes"]
        slots: {minutes: [two, five, ten]}

The corpus is planned and voiced like the built-in ones (`quads.synth.corpus`: espeak-ng
speakers that never cross splits, a deterministic plan from the seed, resumable
rendering) and written as `train.csv`, `valid.csv`, `test.csv` (path,label,speaker,
transcript) next to `wavs/`. Real recordings join by adding rows to those files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import string
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm import tqdm

from quads.data.types import SPLITS
from quads.synth import corpus as synth

# Clips per intent for `--preset` (valid and test get 15 % each, at least one per intent).
PER_INTENT = {"tiny": 6, "small": 40, "medium": 120, "full": 300}
COLUMNS = ("path", "label", "speaker", "transcript")
MAX_INTENTS = 1000


class _WordsLoader(yaml.SafeLoader):
    """safe_load, but yes/no/on/off/true/false stay words: YAML 1.1 reads them as booleans,
    and in a file of spoken commands they are what people say."""


_WordsLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class IntentsError(ValueError):
    """An intents YAML that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Intent:
    name: str
    phrases: tuple[str, ...]
    slots: dict[str, tuple[str, ...]]


def _strings(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise IntentsError(f"{where}: expected a non-empty list of strings, got {value!r}")
    out = []
    for i, v in enumerate(value):
        if not isinstance(v, (str, int, float)) or isinstance(v, bool) or not str(v).strip():
            raise IntentsError(f"{where}[{i}]: expected a non-empty string, got {v!r}")
        out.append(" ".join(str(v).split()))
    return tuple(out)


def _slots(value: object, where: str) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IntentsError(f"{where}: expected a mapping of slot name -> values, got {value!r}")
    return {str(k): _strings(v, f"{where}.{k}") for k, v in value.items()}


def _fields(phrase: str, where: str) -> list[str]:
    try:
        return [f for _, f, _, _ in string.Formatter().parse(phrase) if f is not None]
    except ValueError as e:
        raise IntentsError(f"{where}: bad braces in {phrase!r} ({e})") from None


def load_intents(path: str | Path) -> list[Intent]:
    """Read and check an intents YAML (a SafeLoader: no code runs from it)."""
    path = Path(path)
    if not path.is_file():
        raise IntentsError(f"{path}: intents file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_WordsLoader)  # noqa: S506
    except UnicodeDecodeError as e:
        raise IntentsError(f"{path}: not a UTF-8 text file ({e})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        why = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise IntentsError(
            f"{where}: not valid YAML ({why}); quote a phrase that starts with '{{' or holds "
            "': ', e.g. - '{drink} please'"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("intents"), dict):
        raise IntentsError(f"{path}: expected a mapping with an 'intents' mapping at the top")
    unknown = sorted(set(data) - {"intents", "slots"})
    if unknown:
        raise IntentsError(f"{path}: unknown top-level key(s) {unknown}; known: intents, slots")
    shared = _slots(data.get("slots"), f"{path}: slots")
    intents = []
    for name, value in data["intents"].items():
        where = f"{path}: intents.{name}"
        if not str(name).strip() or "\n" in str(name):
            raise IntentsError(f"{where}: an intent needs a one-line name")
        own: dict[str, tuple[str, ...]] = {}
        if isinstance(value, dict):
            extra = sorted(set(value) - {"phrases", "slots"})
            if extra:
                raise IntentsError(f"{where}: unknown key(s) {extra}; known: phrases, slots")
            own = _slots(value.get("slots"), f"{where}.slots")
            value = value.get("phrases")
        phrases = _strings(value, f"{where}.phrases" if own else where)
        slots = {**shared, **own}
        for i, phrase in enumerate(phrases):
            for field in _fields(phrase, f"{where}[{i}]"):
                if field not in slots:
                    raise IntentsError(
                        f"{where}[{i}]: {phrase!r} uses slot {{{field}}}, which has no values "
                        f"(slots: {sorted(slots)})"
                    )
        intents.append(Intent(str(name), phrases, slots))
    if not 2 <= len(intents) <= MAX_INTENTS:
        raise IntentsError(f"{path}: expected 2 to {MAX_INTENTS} intents, got {len(intents)}")
    return intents


def say(rng: random.Random, intent: Intent) -> str:
    """One phrasing of `intent`, its slots filled at random."""
    phrase = rng.choice(intent.phrases)
    parts = []
    for literal, field, _, _ in string.Formatter().parse(phrase):
        parts.append(literal)
        if field is not None:
            parts.append(rng.choice(intent.slots[field]))
    text = "".join(parts).strip()
    return text[0].upper() + text[1:]


def plan_intents(
    intents: list[Intent], utterances: int | None = None, preset: str = "small", seed: int = 0
) -> list[synth.Clip]:
    """The deterministic list of clips (same intents and arguments, same plan)."""
    if preset not in PER_INTENT:
        raise ValueError(f"unknown preset {preset!r}; expected one of {list(PER_INTENT)}")
    total = utterances if utterances is not None else PER_INTENT[preset] * len(intents)
    sizes = synth.split_sizes(total, len(intents))
    rng = random.Random(seed)
    speakers = synth._speakers(rng, total)
    clips: list[synth.Clip] = []
    ids: set[str] = set()
    for split in SPLITS:
        n = sizes[split]
        who = (speakers[split] * (n // len(speakers[split]) + 1))[:n]
        rng.shuffle(who)
        said: set[tuple[str, str]] = set()
        for k, speaker in enumerate(who):
            intent = intents[k % len(intents)]
            for _ in range(20):  # a speaker says each sentence once, where there are enough
                text = say(rng, intent)
                if (speaker.name, text) not in said:
                    break
            said.add((speaker.name, text))
            while True:
                lead, tail = round(rng.uniform(0.05, 0.4), 3), round(rng.uniform(0.05, 0.3), 3)
                level, noise_db = round(rng.uniform(0.3, 0.9), 3), round(rng.uniform(45, 70), 1)
                key = f"intents|{speaker.name}|{text}|{lead}|{tail}|{level}|{noise_db}"
                clip_id = hashlib.sha1(key.encode()).hexdigest()[:20]
                if clip_id not in ids:
                    break
            ids.add(clip_id)
            path = f"wavs/{speaker.name}/{clip_id}.wav"
            clips.append(
                synth.Clip(
                    clip_id, split, speaker, text, intent.name, path, lead, tail, level, noise_db
                )
            )
    return clips


def _check_target(root: Path) -> None:
    """Refuse to write over a manifest that `quads synth` did not make."""
    made = (root / synth.META_FILE).is_file()
    if any((root / f"{s}.csv").exists() for s in SPLITS) and not made:
        raise synth.SynthError(f"{root}: holds a manifest not made by quads synth; not overwriting")
    if made:
        previous = json.loads((root / synth.META_FILE).read_text()).get("layout")
        if previous != "manifest":
            raise synth.SynthError(f"{root}: holds a synthetic {previous} corpus, not a manifest")


def _write_manifest(root: Path, clips: list[synth.Clip]) -> list[Path]:
    files = []
    for split in SPLITS:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        for c in clips:
            if c.split == split:
                writer.writerow([c.path, c.label, c.speaker.name, c.text])
        files.append(root / f"{split}.csv")
        synth._write_text(files[-1], buf.getvalue())
    return files


def build_intents_corpus(
    intents_file: str | Path,
    root: str | Path,
    utterances: int | None = None,
    preset: str = "small",
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Voice the intents of `intents_file` into a manifest corpus at `root` (or finish one).

    Returns a summary like `synth.build_corpus`'s (also written to `<root>/synth.json`).
    """
    espeak = synth.espeak_path()
    intents = load_intents(intents_file)
    root = Path(root)
    clips = plan_intents(intents, utterances, preset, seed)
    _check_target(root)
    root.mkdir(parents=True, exist_ok=True)
    workers = workers or 2 * (os.cpu_count() or 1)
    start = time.perf_counter()
    made, seconds = 0, 0.0
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        jobs = pool.map(lambda c: synth.render(c, root, espeak), clips)
        bar = tqdm(
            jobs,
            total=len(clips),
            desc="synth intents",
            unit="clip",
            disable=None if progress else True,
        )
        for was_made, duration in bar:
            made += was_made
            seconds += duration
    finally:  # on an error or Ctrl-C, drop the clips not started yet
        pool.shutdown(wait=True, cancel_futures=True)
    files = _write_manifest(root, clips)
    elapsed = time.perf_counter() - start
    summary = {
        "layout": "manifest",
        "root": str(root),
        "intents_file": str(intents_file),
        "intents": len(intents),
        "preset": preset if utterances is None else None,
        "seed": seed,
        "utterances": len(clips),
        "splits": {
            s: {
                "utterances": sum(c.split == s for c in clips),
                "speakers": len({c.speaker.name for c in clips if c.split == s}),
            }
            for s in SPLITS
        },
        "made": made,
        "reused": len(clips) - made,
        "seconds": round(elapsed, 2),
        "audio_hours": round(seconds / 3600, 3),
        "files": [str(f.relative_to(root)) for f in files],
    }
    synth._write_text(root / synth.META_FILE, json.dumps(summary, indent=2) + "\n")
    return summary
