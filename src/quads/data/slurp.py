"""SLURP layout.

    <root>/dataset/slurp/{train,devel,test}.jsonl   (+ optional train_synthetic.jsonl)
    <root>/audio/slurp_real/<file>                  (synthetic: audio/slurp_synth/<file>)

Each jsonl line is one sentence with `scenario`, `action`, `sentence` and
`recordings: [{"file": ...}, ...]`; every recording is one utterance (id = file stem).
The label is `scenario + "_" + action` (SLURP's own `intent` field is inconsistent).
Real SLURP lines carry no speaker; a recording's optional "speaker" key is used when
present (the synthetic corpus writes one), else the speaker is "unknown".
"""

from __future__ import annotations

import json
from pathlib import Path

from quads.data.types import Corpus, CorpusError, RowChecker, Utterance, label_space, read_text

SPLIT_FILES = {"train": "train", "valid": "devel", "test": "test"}
KEYS = ("scenario", "action", "sentence", "recordings")


def split_file(root: Path, split: str, synthetic: bool = False) -> Path:
    name = "train_synthetic" if synthetic else SPLIT_FILES[split]
    return root / "dataset" / "slurp" / f"{name}.jsonl"


def audio_dir(root: Path, synthetic: bool = False) -> Path:
    return root / "audio" / ("slurp_synth" if synthetic else "slurp_real")


def _read_file(path: Path, audio: Path, split: str, rows: RowChecker) -> None:
    for line_no, text in enumerate(read_text(path).split("\n"), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            rows.bad(path, line_no, f"not valid JSON ({e})")
            continue
        if not isinstance(record, dict):
            rows.bad(path, line_no, "expected a JSON object")
            continue
        missing = [k for k in KEYS if k not in record]
        if missing:
            rows.bad(path, line_no, f"missing key(s) {missing}")
            continue
        recordings = record["recordings"]
        if not isinstance(recordings, list) or not recordings:
            rows.bad(path, line_no, "'recordings' must be a non-empty list")
            continue
        label = f"{record['scenario']}_{record['action']}"
        for rec in recordings:
            if not isinstance(rec, dict) or not rec.get("file"):
                rows.bad(path, line_no, "a recording without a 'file'")
                continue
            utt = Utterance(
                id=Path(rec["file"]).stem,
                path=audio / rec["file"],
                label=label,
                speaker=str(rec.get("speaker") or "unknown"),
                transcript=str(record["sentence"]),
                split=split,
            )
            rows.add(path, line_no, utt)


def read_slurp(
    root: Path, split: str, skip_bad_rows: bool = False, include_synthetic: bool = False
) -> Corpus:
    """Read one SLURP split (train, valid = devel, or test)."""
    path = split_file(root, split)
    if not path.is_file():
        raise CorpusError(f"{path}: SLURP split file not found")
    labels = label_space("slurp")
    rows = RowChecker(labels, skip_bad_rows)
    files = [path]
    _read_file(path, audio_dir(root), split, rows)
    synth = split_file(root, split, synthetic=True)
    if include_synthetic and split == "train" and synth.is_file():
        files.append(synth)
        _read_file(synth, audio_dir(root, synthetic=True), split, rows)
    return rows.finish(files, labels)
