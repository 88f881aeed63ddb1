"""Manifest layout: CSV files that list clips and their labels.

    <root>/train.csv, valid.csv, test.csv     one file per split (a test.csv alone is
                                              enough to evaluate a model), or
    <root>/manifest.csv (or <root> itself is a .csv file)   one file for all splits
    <root>/metadata.csv, or <root>/{train,validation,test}/metadata.csv   (Hugging Face
                                              `audiofolder` with metadata: `file_name`)

Columns (a header row names them, in any order): `path` (or `file_name`), `label` and
optional `speaker`, `transcript`, `slots` (a JSON object {"slot": "value"} of the slots said,
e.g. {"size": "large", "coffeeDrink": "latte"}; absent slots left out); a one-file manifest
may add `split` (train, valid/validation/dev, test).
`path` is relative to the CSV file's folder, or absolute, so a manifest can point at
clips in several places (a synthetic corpus plus a few real recordings). Without a
`speaker`, the speaker comes from the file name (`splits.speaker_of`); without a `split`
column the splits are drawn by speaker (`splits.split_by_speaker`).

The label space is the sorted set of the training split's labels: a valid or test row
with a label training never saw is an error naming the file and line.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

from quads.data.splits import SPLIT_NAMES, speaker_of, split_by_speaker
from quads.data.types import Corpus, CorpusError, RowChecker, Utterance, select_split

REQUIRED = ("path", "label")
ONE_FILE = "manifest.csv"
HF_FILE = "metadata.csv"  # Hugging Face audiofolder; its path column is `file_name`


def manifest_files(root: Path) -> dict[str, Path]:
    """{"train": ..., "valid": ..., "test": ...} for per-split files, or {"all": file}."""
    if root.is_file():
        return {"all": root}
    per_split = {s: root / f"{s}.csv" for s in ("train", "valid", "test")}
    if any(f.is_file() for f in per_split.values()):  # a test.csv alone evaluates a model
        return per_split
    for name in (ONE_FILE, HF_FILE):
        if (root / name).is_file():
            return {"all": root / name}
    if (root / "train" / HF_FILE).is_file():
        found = {s: root / s / HF_FILE for s in ("train", "valid", "test")}
        for folder in ("validation", "dev"):
            if (root / folder / HF_FILE).is_file():
                found["valid"] = root / folder / HF_FILE
        return found
    if not root.exists():
        raise CorpusError(f"{root}: corpus folder not found")
    raise CorpusError(
        f"{root}: no manifest here (expected train.csv, valid.csv, test.csv or {ONE_FILE})"
    )


def _parse(path: Path, split: str | None, rows: RowChecker) -> list[tuple[int, Utterance]]:
    """The well-formed rows of one CSV as (line, utterance); split None: from the `split`
    column, or "" (drawn later) when there is none. Malformed rows go to `rows.bad`."""
    out: list[tuple[int, Utterance]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [c.strip() for c in reader.fieldnames or []]
            if "path" not in header and "file_name" in header:  # Hugging Face audiofolder
                header[header.index("file_name")] = "path"
            reader.fieldnames = header
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise CorpusError(
                    f"{path}:1: missing column(s) {missing}; header is {header}, expected "
                    "path,label and optionally speaker,transcript" + (",split" if not split else "")
                )
            has_split = split is None and "split" in header
            for row in reader:
                line = reader.line_num
                if None in row or any(v is None for v in row.values()):
                    rows.bad(path, line, f"expected {len(header)} fields")
                    continue
                values = {k: v.strip() for k, v in row.items()}
                empty = [c for c in REQUIRED if not values[c]]
                if empty:
                    rows.bad(path, line, f"empty value for column(s) {empty}")
                    continue
                where = split or ""
                if has_split:
                    where = SPLIT_NAMES.get(values["split"].lower(), "")
                    if not where:
                        rows.bad(path, line, f"unknown split {values['split']!r}")
                        continue
                try:
                    slots = _slots(values.get("slots", ""))
                except ValueError as e:
                    rows.bad(path, line, f"slots: {e}")
                    continue
                audio = Path(values["path"])
                audio = audio if audio.is_absolute() else path.parent / audio
                utt = Utterance(
                    id=values["path"],
                    path=audio,
                    label=values["label"],
                    speaker=values.get("speaker") or speaker_of(audio),
                    transcript=values.get("transcript", ""),
                    split=where,
                    slots=slots,
                )
                out.append((line, utt))
    except (csv.Error, UnicodeDecodeError) as e:
        raise CorpusError(f"{path}: not a valid UTF-8 CSV file ({e})") from None
    return out


def _slots(text: str) -> tuple[tuple[str, str], ...]:
    """A `slots` cell -> ((slot, value), ...) sorted by slot; ValueError says what is wrong."""
    if not text:
        return ()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"{text!r} is not JSON") from None
    ok = isinstance(data, dict) and all(
        isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip()
        for k, v in data.items()
    )
    if not ok:
        raise ValueError(f'{text!r} is not an object of "slot": "value" strings')
    return tuple(sorted(data.items()))


def _draw_splits(path: Path, entries: list[tuple[int, Utterance]]) -> list[tuple[int, Utterance]]:
    """Give rows without a split one, drawn by speaker."""
    todo = {u.speaker for _, u in entries if not u.split}
    if not todo:
        return entries
    try:
        split_of = split_by_speaker(todo)
    except ValueError as e:
        raise CorpusError(f"{path}: {e}") from None
    return [(line, u if u.split else replace(u, split=split_of[u.speaker])) for line, u in entries]


def read_manifest(
    root: Path, split: str, skip_bad_rows: bool = False, labels: list[str] | None = None
) -> Corpus:
    """Read one split of a manifest corpus (see the module docstring)."""
    root = Path(root)
    files = manifest_files(root)
    one_file = "all" in files
    path = files["all" if one_file else split]
    if not path.is_file():
        raise CorpusError(f"{path}: manifest split file not found")
    rows = RowChecker(None, skip_bad_rows)
    entries = _parse(path, None if one_file else split, rows)
    if one_file:
        entries = _draw_splits(path, entries)
    where = ""
    if labels is None and split != "train":
        # The label space is the training split's.
        train = read_manifest(root, "train", skip_bad_rows)
        labels = train.labels
        train_file = files["all" if one_file else "train"]
        where = f" (training never saw it: the training split of {train_file} has {labels})"
        if len(labels) > 10:
            where = f" (training never saw it: not one of the {len(labels)} labels of {train_file})"
    elif labels is not None:
        where = f" (not one of the model's {len(labels)} labels)"
    return select_split([(path, n, u) for n, u in entries], split, labels, where, rows, [path])
