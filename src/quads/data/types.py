"""The shared types of every corpus reader: `Utterance`, `Corpus`, `CorpusError`, the layouts'
names and label spaces, and `RowChecker`, which keeps a split's good rows.

A broken row (missing field, unknown label, missing audio, an empty, NaN or out-of-bounds
clip, duplicate id, bad JSON) is a `CorpusError` naming the file and line; with
`skip_bad_rows=True` it is skipped instead, counted in `Corpus.skipped` and summarised in a
logged warning. A missing or empty split is always an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from quads.audio import AudioError, scan_clip
from quads.config import LAYOUTS

logger = logging.getLogger("quads")

LABEL_DIR = Path(__file__).parent / "labels"
GENERIC_LAYOUTS = ("manifest", "folders", "hf")  # labels come from the data
SPLITS = ("train", "valid", "test")
OUTLIER = "<outlier>"  # the label of speech that is none of the intents (data.outliers)
AUDIO_SUFFIXES = (".wav", ".flac")


class CorpusError(ValueError):
    """A corpus that cannot be read as asked; the message names the file and line."""


@dataclass(frozen=True)
class Utterance:
    id: str
    path: Path
    label: str  # FSC: "action|object|location"; SLURP: "scenario_action"; else any text
    speaker: str
    transcript: str
    split: str  # "train", "valid" or "test"
    slots: tuple[tuple[str, str], ...] = ()  # (slot, value) of the slots said, by slot name

    @property
    def command(self) -> tuple[str, dict[str, str]]:
        """What a model must hear: the intent and its slots."""
        return self.label, dict(self.slots)


@dataclass
class Corpus:
    utterances: list[Utterance]
    # FSC/SLURP: the layout's whole label space, in label-file order; generic layouts: the
    # sorted labels of the training split.
    labels: list[str]
    skipped: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, reason)

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def speakers(self) -> set[str]:
        return {u.speaker for u in self.utterances}

    @property
    def slots(self) -> dict[str, list[str]]:
        """The slot space of these utterances: each slot's values, sorted (a model's slot
        heads are its training split's)."""
        values: dict[str, set[str]] = {}
        for u in self.utterances:
            for name, value in u.slots:
                values.setdefault(name, set()).add(value)
        return {name: sorted(values[name]) for name in sorted(values)}


def read_text(path: Path) -> str:
    """A corpus text file decoded as UTF-8 (a BOM is dropped); a CorpusError names the file,
    the line and the byte that is not UTF-8 (e.g. a Latin-1 export)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        byte = data[e.start : e.start + 1].hex()
        raise CorpusError(
            f"{path}:{line}: not UTF-8 text (byte 0x{byte}); save the file as UTF-8"
        ) from None


def label_space(layout: str) -> list[str]:
    """The intents of a layout, one per line of `labels/<layout>_intents.txt`."""
    check_layout(layout)
    if layout in GENERIC_LAYOUTS:
        raise ValueError(f"the {layout} layout has no fixed labels: they come from its data")
    path = LABEL_DIR / f"{layout}_intents.txt"
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def check_layout(layout: str, auto: bool = False) -> None:
    known = LAYOUTS + ("auto",) if auto else LAYOUTS
    if layout not in known:
        raise ValueError(f"unknown corpus layout {layout!r}; expected one of {known}")


def normalize_split(split: str) -> str:
    """The canonical split name: train, valid or test (SLURP's devel and dev mean valid)."""
    split = {"devel": "valid", "dev": "valid"}.get(split, split)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return split


class RowChecker:
    """Collects the good rows of one split: refuses a bad row, or skips and records it."""

    def __init__(self, labels: list[str] | None, skip_bad_rows: bool, where: str = "") -> None:
        # labels=None takes any label (a training split that defines the label space);
        # `where` says where the known labels come from, for the unknown-label message.
        self.labels = None if labels is None else set(labels)
        self.where = where
        self.skip_bad_rows = skip_bad_rows
        self.skipped: list[tuple[str, int, str]] = []
        self.utterances: list[Utterance] = []
        self._ids: dict[str, tuple[str, int]] = {}

    def bad(self, file: Path, line: int, reason: str) -> None:
        """A bad row of `file` (line 0: the file is the row, e.g. a clip in a folder)."""
        if not self.skip_bad_rows:
            where = f"{file}:{line}" if line else str(file)
            raise CorpusError(f"{where}: {reason} (set data.skip_bad_rows=true to skip such rows)")
        self.skipped.append((str(file), line, reason))

    def add(self, file: Path, line: int, utt: Utterance) -> None:
        """Keep `utt` if its label, audio and id are good; otherwise `bad()`."""
        if self.labels is not None and utt.label not in self.labels:
            return self.bad(file, line, f"unknown label {utt.label!r}{self.where}")
        if not utt.path.is_file():
            return self.bad(file, line, f"audio file not found: {utt.path}")
        try:  # found here, before training, not mid-epoch
            scan_clip(str(utt.path))
        except AudioError as e:
            return self.bad(file, line, f"bad audio: {e}")
        if utt.id in self._ids:
            first = "{}:{}".format(*self._ids[utt.id])
            return self.bad(file, line, f"duplicate utterance id {utt.id!r} (first at {first})")
        self._ids[utt.id] = (str(file), line)
        self.utterances.append(utt)

    def finish(self, files: list[Path], labels: list[str]) -> Corpus:
        names = ", ".join(str(f) for f in files)
        if not self.utterances:
            why = f" ({len(self.skipped)} bad rows skipped)" if self.skipped else ""
            raise CorpusError(f"{names}: no usable utterances in this split{why}")
        if self.skipped:
            f, line, reason = self.skipped[0]
            logger.warning(
                "%s: skipped %d bad row(s) of %d; first: %s:%d: %s",
                names,
                len(self.skipped),
                len(self.skipped) + len(self.utterances),
                f,
                line,
                reason,
            )
        return Corpus(self.utterances, labels, self.skipped)


def select_split(
    entries: list[tuple[Path, int, Utterance]],
    split: str,
    labels: list[str] | None,
    where: str,
    parsed: RowChecker,
    sources: list[Path],
) -> Corpus:
    """The utterances of `split` among the parsed `entries` (file, line, utterance), checked
    against `labels` (None: any, and the split's own labels become its label space);
    `parsed` carries the parse's skipped rows and the skip_bad_rows setting."""
    checker = RowChecker(labels, parsed.skip_bad_rows, where)
    checker.skipped = list(parsed.skipped)
    for file, line, utt in entries:
        if utt.split == split:
            checker.add(file, line, utt)
    corpus = checker.finish(sources, labels or [])
    if labels is None:
        corpus.labels = sorted({u.label for u in corpus.utterances})
    return corpus
