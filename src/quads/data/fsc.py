"""Fluent Speech Commands layout.

    <root>/data/{train,valid,test}_data.csv
        header: ,path,speakerId,transcription,action,object,location
    <root>/wavs/speakers/<speakerId>/<id>.wav   16 kHz mono; `path` is relative to <root>

The label is "action|object|location" (e.g. "activate|lights|kitchen").
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from quads.data.types import Corpus, CorpusError, RowChecker, Utterance, label_space, read_text

COLUMNS = ("path", "speakerId", "transcription", "action", "object", "location")


def split_file(root: Path, split: str) -> Path:
    return root / "data" / f"{split}_data.csv"


def fsc_label(action: str, obj: str, location: str) -> str:
    return f"{action}|{obj}|{location}"


def read_fsc(root: Path, split: str, skip_bad_rows: bool = False) -> Corpus:
    """Read `<root>/data/<split>_data.csv` (split: train, valid or test)."""
    path = split_file(root, split)
    if not path.is_file():
        raise CorpusError(f"{path}: FSC split file not found (expected {root}/data/*_data.csv)")
    labels = label_space("fsc")
    rows = RowChecker(labels, skip_bad_rows)
    with io.StringIO(read_text(path), newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CorpusError(
                f"{path}:1: missing column(s) {missing}; header is {reader.fieldnames}, "
                f"expected ,{','.join(COLUMNS)}"
            )
        try:
            for row in reader:
                line = reader.line_num
                if None in row or any(row[c] is None for c in COLUMNS):
                    rows.bad(path, line, f"expected {len(reader.fieldnames)} fields")
                    continue
                values = {c: row[c].strip() for c in COLUMNS}
                empty = [c for c in ("path", "speakerId", "action") if not values[c]]
                if empty:
                    rows.bad(path, line, f"empty value for column(s) {empty}")
                    continue
                audio = root / values["path"]
                utt = Utterance(
                    id=audio.stem,
                    path=audio,
                    label=fsc_label(values["action"], values["object"], values["location"]),
                    speaker=values["speakerId"],
                    transcript=values["transcription"],
                    split=split,
                )
                rows.add(path, line, utt)
        except (csv.Error, UnicodeDecodeError) as e:
            raise CorpusError(f"{path}:{reader.line_num}: not a valid CSV file ({e})") from None
    return rows.finish([path], labels)
