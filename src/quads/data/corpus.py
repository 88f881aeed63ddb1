"""One interface over the corpus layouts: `read_corpus(root, layout, split) -> Corpus`.

A corpus is a list of `Utterance`s plus its label space. A broken row (missing field,
unknown label, missing audio, an empty, NaN or out-of-bounds clip, duplicate id, bad JSON)
is a `CorpusError` naming the file and line; with `skip_bad_rows=True` it is skipped
instead, counted in `Corpus.skipped` and summarised in a logged warning.
A missing or empty split is always an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from quads.audio import AudioError, scan_clip

logger = logging.getLogger("quads")

LABEL_DIR = Path(__file__).parent / "labels"
LAYOUTS = ("fsc", "slurp")
SPLITS = ("train", "valid", "test")


class CorpusError(ValueError):
    """A corpus that cannot be read as asked; the message names the file and line."""


@dataclass(frozen=True)
class Utterance:
    id: str
    path: Path
    label: str  # FSC: "action|object|location"; SLURP: "scenario_action"
    speaker: str
    transcript: str
    split: str  # "train", "valid" or "test"


@dataclass
class Corpus:
    utterances: list[Utterance]
    labels: list[str]  # the layout's whole label space, in label-file order
    skipped: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, reason)

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def speakers(self) -> set[str]:
        return {u.speaker for u in self.utterances}


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
    path = LABEL_DIR / f"{layout}_intents.txt"
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown corpus layout {layout!r}; expected one of {LAYOUTS}")


def normalize_split(split: str) -> str:
    """The canonical split name: train, valid or test (SLURP's devel and dev mean valid)."""
    split = {"devel": "valid", "dev": "valid"}.get(split, split)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return split


class RowChecker:
    """Collects the good rows of one split: refuses a bad row, or skips and records it."""

    def __init__(self, labels: list[str], skip_bad_rows: bool) -> None:
        self.labels = set(labels)
        self.skip_bad_rows = skip_bad_rows
        self.skipped: list[tuple[str, int, str]] = []
        self.utterances: list[Utterance] = []
        self._ids: dict[str, tuple[str, int]] = {}

    def bad(self, file: Path, line: int, reason: str) -> None:
        if not self.skip_bad_rows:
            raise CorpusError(
                f"{file}:{line}: {reason} (set data.skip_bad_rows=true to skip such rows)"
            )
        self.skipped.append((str(file), line, reason))

    def add(self, file: Path, line: int, utt: Utterance) -> None:
        """Keep `utt` if its label, audio and id are good; otherwise `bad()`."""
        if utt.label not in self.labels:
            return self.bad(file, line, f"unknown label {utt.label!r}")
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


def read_corpus(
    root: str | Path,
    layout: str,
    split: str,
    skip_bad_rows: bool = False,
    include_synthetic: bool = False,
) -> Corpus:
    """Read one split of a corpus in the FSC or SLURP on-disk layout.

    `include_synthetic` (SLURP train only) adds `train_synthetic.jsonl` when present.
    """
    check_layout(layout)
    split = normalize_split(split)
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: corpus folder not found")
    if layout == "fsc":
        from quads.data.fsc import read_fsc

        return read_fsc(root, split, skip_bad_rows)
    from quads.data.slurp import read_slurp

    return read_slurp(root, split, skip_bad_rows, include_synthetic)
