"""Commands without recordings: a grammar of intents and slots becomes a synthetic corpus in
the manifest layout (`quads synth --intents commands.yaml -o data/my-commands`).

Two grammar formats (the expression syntax is `grammar.py`'s):

Our YAML: each intent (its name is the label) lists its phrasings; `$slot` is a slot the
model predicts, `{slot}` a filler that only varies the wording; values are shared at the top
or given per intent:

    slots:
      drink: [espresso, latte, cappuccino]
      size: [small, large]
    intents:
      make_coffee:
        - make me a (size) $drink         # "(size)": an optional word
        - "$drink please"                 # quoted: a phrase starting with $ or { is YAML too
        - "[get, give] me a {size} $drink"
      stop: [stop, cancel that]
      set_timer:
        phrases: ["set a timer for $minutes minutes"]
        slots: {minutes: [two, five, ten]}

A Picovoice Rhino context (`context: {expressions: ..., slots: ...}`), as it stands.

The corpus covers the grammar evenly (every expression of an intent and every slot value in
turn, `grammar.Sampler`), is voiced like the built-in ones (espeak-ng speakers, Flite and
Kokoro voices in the size's engine shares, none in two splits; a deterministic plan from the
seed; resumable rendering) and is written as `train.csv`, `valid.csv`, `test.csv`
(path,label,speaker,transcript,slots) next to `wavs/`. Real recordings join by adding rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import time
from pathlib import Path

import yaml

from quads.data.types import SPLITS
from quads.synth import corpus as synth
from quads.synth.grammar import (
    Choice,
    Expression,
    Grammar,
    GrammarError,
    Optional,
    Sampler,
    Slot,
    parse_expression,
    rhino_grammar,
    walk,
)

# Clips per "unit" for each size: a unit is an intent, or four values of the grammar's
# labelled slots (so a grammar of many slot values gets clips enough to say each of them).
PER_INTENT = {"tiny": 6, "small": 40, "medium": 120, "full": 300}
VALUES_PER_UNIT = 4
COLUMNS = ("path", "label", "speaker", "transcript", "slots")
MAX_INTENTS = 1000


class _WordsLoader(yaml.SafeLoader):
    """safe_load, but yes/no/on/off/true/false stay words: YAML 1.1 reads them as booleans,
    and in a file of spoken commands they are what people say."""


_WordsLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _strings(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise GrammarError(f"{where}: expected a non-empty list of strings, got {value!r}")
    out = []
    for i, v in enumerate(value):
        if not isinstance(v, (str, int, float)) or isinstance(v, bool) or not str(v).strip():
            raise GrammarError(f"{where}[{i}]: expected a non-empty string, got {v!r}")
        out.append(" ".join(str(v).split()))
    return tuple(out)


def _slots(value: object, where: str) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GrammarError(f"{where}: expected a mapping of slot name -> values, got {value!r}")
    return {str(k): _strings(v, f"{where}.{k}") for k, v in value.items()}


def _own_types(tokens: tuple, own: dict[str, str]) -> tuple:
    """The tokens with slot types renamed per `own` (an intent's own value lists)."""
    out = []
    for t in tokens:
        if isinstance(t, Slot) and t.type in own:
            t = Slot(own[t.type], t.name, t.labelled)
        elif isinstance(t, Choice):
            t = Choice(tuple(_own_types(o, own) for o in t.options))
        elif isinstance(t, Optional):
            t = Optional(_own_types(t.tokens, own))
        out.append(t)
    return tuple(out)


def _our_grammar(data: dict, path: Path) -> Grammar:
    """Our intents YAML (see the module docstring) as a Grammar."""
    unknown = sorted(set(data) - {"intents", "slots"})
    if unknown:
        raise GrammarError(f"{path}: unknown top-level key(s) {unknown}; known: intents, slots")
    values = dict(_slots(data.get("slots"), f"{path}: slots"))
    intents: dict[str, tuple[Expression, ...]] = {}
    for name, value in data["intents"].items():
        where = f"{path}: intents.{name}"
        if not str(name).strip() or "\n" in str(name):
            raise GrammarError(f"{where}: an intent needs a one-line name")
        own: dict[str, tuple[str, ...]] = {}
        if isinstance(value, dict):
            extra = sorted(set(value) - {"phrases", "slots"})
            if extra:
                raise GrammarError(f"{where}: unknown key(s) {extra}; known: phrases, slots")
            own = _slots(value.get("slots"), f"{where}.slots")
            value = value.get("phrases")
        rename = {k: f"{name}.{k}" for k in own}
        values |= {rename[k]: v for k, v in own.items()}
        expressions = []
        for i, phrase in enumerate(_strings(value, f"{where}.phrases" if own else where)):
            e = parse_expression(phrase, f"{where}[{i}]")
            e = Expression(e.text, _own_types(e.tokens, rename))
            for t in walk(e.tokens):
                if isinstance(t, Slot) and t.type not in values:
                    said = f"${t.name}" if t.labelled else f"{{{t.name}}}"
                    raise GrammarError(
                        f"{where}[{i}]: {phrase!r} uses slot {said}, which has no values "
                        f"(slots: {sorted(set(values) - set(rename.values()) | set(own))})"
                    )
            expressions.append(e)
        intents[str(name)] = tuple(expressions)
    grammar = Grammar(intents, values)
    grammar.check(str(path))
    if not (2 <= len(intents) or grammar.slots) or len(intents) > MAX_INTENTS:
        raise GrammarError(
            f"{path}: expected 2 to {MAX_INTENTS} intents (or one with $slots), got {len(intents)}"
        )
    return grammar


def load_grammar(path: str | Path) -> Grammar:
    """Read and check a grammar: our intents YAML or a Rhino context (a SafeLoader: no code
    runs from it). GrammarError names the file and the entry."""
    path = Path(path)
    if not path.is_file():
        raise GrammarError(f"{path}: intents file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_WordsLoader)  # noqa: S506
    except UnicodeDecodeError as e:
        raise GrammarError(f"{path}: not a UTF-8 text file ({e})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        why = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise GrammarError(
            f"{where}: not valid YAML ({why}); quote a phrase that starts with '{{' or '$' or "
            "holds ': ', e.g. - '{drink} please'"
        ) from None
    if isinstance(data, dict) and "context" in data:
        return rhino_grammar(data, str(path))
    if not isinstance(data, dict) or not isinstance(data.get("intents"), dict):
        raise GrammarError(
            f"{path}: expected a mapping with an 'intents' mapping at the top (or a Rhino "
            "'context')"
        )
    return _our_grammar(data, path)


def corpus_size(grammar: Grammar, size: str) -> int:
    """Clips for a corpus of `size`: PER_INTENT[size] per intent and per VALUES_PER_UNIT
    values of the labelled slots."""
    if size not in PER_INTENT:
        raise ValueError(f"unknown size {size!r}; expected one of {list(PER_INTENT)}")
    values = sum(len(v) for v in grammar.slots.values())
    return PER_INTENT[size] * (len(grammar.intents) + math.ceil(values / VALUES_PER_UNIT))


def plan_intents(
    grammar: Grammar,
    utterances: int | None = None,
    size: str = "small",
    seed: int = 0,
    shares: dict[str, float | dict[str, float]] | None = None,
    sizes: dict[str, int] | None = None,
) -> list[synth.Clip]:
    """The deterministic list of clips (same grammar and arguments, same plan). `shares`:
    engines besides espeak-ng and their share of each split (default: the size's); `sizes`:
    clips per split instead of `utterances` (e.g. a test set of voices never trained on)."""
    names = list(grammar.intents)
    if sizes is None:
        total = utterances if utterances is not None else corpus_size(grammar, size)
        sizes = synth.split_sizes(total, len(names))
    elif set(sizes) != set(SPLITS) or min(sizes.values()) < 1:
        raise ValueError(f"sizes={sizes}: each of {SPLITS} needs at least one clip")
    rng = random.Random(seed)
    voices = synth.voices_per_clip(rng, sizes, synth.engine_shares(shares, size), seed)
    sampler = Sampler(grammar, rng)
    clips: list[synth.Clip] = []
    ids: set[str] = set()
    for split in SPLITS:
        who = voices[split]
        rng.shuffle(who)
        said: set[tuple[str, str]] = set()
        for k, speaker in enumerate(who):
            expression = sampler.expression(names[k % len(names)])
            for _ in range(20):  # a speaker says each sentence once, where there are enough
                text, slots = sampler.fill(expression)
                text = text[:1].upper() + text[1:]
                if (speaker.name, text) not in said:
                    break
            said.add((speaker.name, text))
            clip_id, lead, tail, level, noise_db = synth.recording(
                rng, "intents", speaker, text, ids
            )
            clips.append(
                synth.Clip(
                    clip_id,
                    split,
                    speaker,
                    text,
                    names[k % len(names)],
                    f"wavs/{speaker.name}/{clip_id}.wav",
                    lead,
                    tail,
                    level,
                    noise_db,
                    slots=tuple(sorted(slots.items())),
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
                slots = json.dumps(dict(c.slots), ensure_ascii=False)
                writer.writerow([c.path, c.label, c.speaker.name, c.text, slots])
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
    shares: dict[str, float | dict[str, float]] | None = None,
    sizes: dict[str, int] | None = None,
) -> dict:
    """Voice the grammar of `intents_file` into a manifest corpus at `root` (or finish one).
    `preset` is the corpus size; `shares` the engines besides espeak-ng (default: the
    size's). Returns a summary like `synth.build_corpus`'s (also `<root>/synth.json`)."""
    espeak = synth.espeak_path()
    grammar = load_grammar(intents_file)
    root = Path(root)
    clips = plan_intents(grammar, utterances, preset, seed, shares, sizes)
    _check_target(root)
    start = time.perf_counter()
    made, seconds = synth.render_all(clips, root, espeak, workers, progress, "synth intents")
    files = _write_manifest(root, clips)
    elapsed = time.perf_counter() - start
    summary = {
        "layout": "manifest",
        "root": str(root),
        "intents_file": str(intents_file),
        "intents": len(grammar.intents),
        "slots": {name: len(values) for name, values in grammar.slots.items()},
        "wordings": grammar.size,
        "preset": preset if utterances is None else None,
        "seed": seed,
        "shares": synth.engine_shares(shares, preset),
        "utterances": len(clips),
        "splits": {
            s: {
                "utterances": sum(c.split == s for c in clips),
                "speakers": len({c.speaker.name for c in clips if c.split == s}),
                "engines": {
                    e: sum(c.split == s and c.speaker.engine == e for c in clips)
                    for e in synth.ENGINES
                },
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
