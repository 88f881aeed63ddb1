"""Real sentences as the text of synthetic corpora (`quads synth --text FILE.jsonl`).

A text source is a SLURP-style JSONL file: one request a line with `sentence`, `scenario`
and `action` (and optionally `sentence_annotation`); the label is `scenario_action`.
The package ships SLURP's devel annotations (`texts/slurp_devel.jsonl`: 2,033 real requests,
59 intents, CC BY 4.0, Bastianelli et al. 2020), the default text of SLURP-layout corpora.

The sentences are split sentence-disjointly (per intent: 15% valid, 15% test, the rest
train), so a model is tested on wordings it never trained on. Each split's sentences are
ordered round-robin over intents, so a corpus smaller than the source still covers them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from quads.data.types import SPLITS

TEXT_DIR = Path(__file__).parent / "texts"
SLURP_DEVEL = TEXT_DIR / "slurp_devel.jsonl"
EVAL_SHARE = 0.15


class TextSourceError(ValueError):
    """A text source that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Sentence:
    text: str
    label: str
    annotation: str = ""  # "[slot : value]" marks, as SLURP's sentence_annotation


def read_sentences(path: str | Path, labels: list[str]) -> list[Sentence]:
    """The distinct sentences of a JSONL text source, each with a label from `labels`."""
    path = Path(path)
    if not path.is_file():
        raise TextSourceError(f"{path}: text source not found")
    known = set(labels)
    out: dict[str, Sentence] = {}
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise TextSourceError(f"{path}:{line_no}: not valid JSON ({e})") from None
            if not isinstance(rec, dict):
                raise TextSourceError(f"{path}:{line_no}: expected a JSON object")
            missing = [k for k in ("sentence", "scenario", "action") if not rec.get(k)]
            if missing:
                raise TextSourceError(f"{path}:{line_no}: missing key(s) {missing}")
            label = f"{rec['scenario']}_{rec['action']}"
            if label not in known:
                raise TextSourceError(f"{path}:{line_no}: unknown intent {label!r}")
            text = " ".join(str(rec["sentence"]).split())
            annotation = str(rec.get("sentence_annotation") or text)
            out.setdefault(text, Sentence(text, label, annotation))
    if not out:
        raise TextSourceError(f"{path}: no sentences")
    return list(out.values())


def split_sentences(sentences: list[Sentence], seed: int) -> dict[str, list[Sentence]]:
    """Sentence-disjoint train/valid/test: per intent 15% valid and 15% test (at least one
    each where the intent has three sentences or more), ordered round-robin over intents."""
    rng = random.Random(f"sentences-{seed}")
    by_label: dict[str, list[Sentence]] = {}
    for s in sorted(sentences, key=lambda s: (s.label, s.text)):
        by_label.setdefault(s.label, []).append(s)
    parts: dict[str, dict[str, list[Sentence]]] = {split: {} for split in SPLITS}
    for label, group in by_label.items():
        rng.shuffle(group)
        n_eval = max(1, round(EVAL_SHARE * len(group))) if len(group) >= 3 else 0
        parts["valid"][label] = group[:n_eval]
        parts["test"][label] = group[n_eval : 2 * n_eval]
        parts["train"][label] = group[2 * n_eval :]
    return {split: round_robin([s for g in parts[split].values() for s in g]) for split in SPLITS}


def round_robin(sentences: list[Sentence]) -> list[Sentence]:
    """The sentences reordered: the first of each intent, then the second of each, ..."""
    groups: dict[str, list[Sentence]] = {}
    for s in sentences:
        groups.setdefault(s.label, []).append(s)
    longest = max(map(len, groups.values()), default=0)
    return [g[i] for i in range(longest) for g in groups.values() if i < len(g)]


def sentence_stream(pool: list[Sentence], n: int, per_sentence: int) -> list[Sentence]:
    """`n` clips' sentences from a split's pool, taken in pool order: each sentence said by
    `per_sentence` voices (fewer where `n` clips would not reach every intent otherwise,
    more where the pool is too small)."""
    if not pool:
        raise TextSourceError("a split has no sentences")
    n_labels = len({s.label for s in pool})
    used = pool[: max(-(-n // per_sentence), min(n, n_labels))]
    repeat = -(-n // len(used))
    return [s for s in used for _ in range(repeat)][:n]
