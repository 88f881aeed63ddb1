"""Hugging Face layout: an audio dataset saved with `datasets`' `save_to_disk` (a `Dataset`
or a `DatasetDict` of splits). Reading it needs the optional extra: pip install 'quads[hf]'.

    <root>/dataset_dict.json + <root>/<split>/   (train, validation/valid/dev, test)
    <root>/state.json + dataset_info.json        one Dataset: splits drawn by speaker

Columns: the audio column (the first with the `Audio` feature), the label (`label`,
`intent`, `labels` or `command`; a `ClassLabel` gives its names), and optionally the
speaker (`speaker_id`, `speaker`, `client_id`) and text (`transcript`, `transcription`,
`text`, `sentence`). Audio is read undecoded (no torchcodec needed): clips stored in the
dataset are written once, as they are, to `<root>/.quads_cache/audio/`; clips stored as
paths are used in place. The label space is the training split's, as for manifests.
"""

from __future__ import annotations

import os
from pathlib import Path

from quads.data.splits import SPLIT_NAMES, split_by_speaker
from quads.data.types import Corpus, CorpusError, RowChecker, Utterance, select_split

LABEL_COLUMNS = ("label", "intent", "labels", "command")
SPEAKER_COLUMNS = ("speaker_id", "speaker", "client_id")
TEXT_COLUMNS = ("transcript", "transcription", "text", "sentence")


def is_hf_dataset(root: Path) -> bool:
    return (root / "dataset_dict.json").is_file() or (
        (root / "state.json").is_file() and (root / "dataset_info.json").is_file()
    )


def _load(root: Path):
    try:
        import datasets
    except ImportError:
        raise CorpusError(
            f"{root}: a Hugging Face dataset; reading it needs the optional package "
            "`datasets`: pip install 'quads[hf]'"
        ) from None
    try:
        return datasets, datasets.load_from_disk(str(root))
    except (OSError, ValueError) as e:
        raise CorpusError(f"{root}: not a readable Hugging Face dataset ({e})") from None


def _column(names: list[str], wanted: tuple[str, ...]) -> str | None:
    return next((c for c in wanted if c in names), None)


def _clip_path(root: Path, key: str, index: int, audio: dict) -> Path | None:
    """The file of one audio cell: its own path, or its bytes written once to the cache."""
    if audio.get("bytes") is None:
        path = Path(audio.get("path") or "")
        return path if path.is_file() else None
    suffix = Path(audio.get("path") or "").suffix or ".wav"
    out = root / ".quads_cache" / "audio" / key / f"{index}{suffix}"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_bytes(audio["bytes"])
        os.replace(tmp, out)
    return out


def _rows(root: Path, key: str, ds, datasets_module, split: str, rows: RowChecker):
    """(row number, utterance) for every well-formed row of one Dataset."""
    features = ds.features
    names = list(features)
    audio_col = next((c for c in names if isinstance(features[c], datasets_module.Audio)), None)
    label_col = _column(names, LABEL_COLUMNS)
    if audio_col is None or label_col is None:
        raise CorpusError(
            f"{root / key}: needs an Audio column and a label column ({', '.join(LABEL_COLUMNS)}); "
            f"it has {names}"
        )
    speaker_col, text_col = _column(names, SPEAKER_COLUMNS), _column(names, TEXT_COLUMNS)
    label_names = getattr(features[label_col], "names", None)
    ds = ds.cast_column(audio_col, datasets_module.Audio(decode=False))
    keep = [c for c in (audio_col, label_col, speaker_col, text_col) if c]
    out = []
    for i, row in enumerate(ds.select_columns(keep)):
        where = root / key
        label = row[label_col]
        if label is None or label == "" or (label_names and not 0 <= label < len(label_names)):
            rows.bad(where, i + 1, f"row {i}: bad label {label!r}")
            continue
        label = label_names[label] if label_names else str(label)
        path = _clip_path(root, key, i, row[audio_col] or {})
        if path is None:
            rows.bad(where, i + 1, f"row {i}: no audio (neither bytes nor an existing path)")
            continue
        speaker = str(row[speaker_col]) if speaker_col and row[speaker_col] else path.stem
        text = str(row[text_col] or "") if text_col else ""
        out.append((i + 1, Utterance(f"{key}/{i}", path, label, speaker, text, split)))
    return out


def read_hf(
    root: Path, split: str, skip_bad_rows: bool = False, labels: list[str] | None = None
) -> Corpus:
    """Read one split of a saved Hugging Face dataset (see the module docstring)."""
    root = Path(root)
    if not is_hf_dataset(root):
        raise CorpusError(f"{root}: not a dataset saved by save_to_disk")
    datasets_module, data = _load(root)
    rows = RowChecker(None, skip_bad_rows)
    entries: list[tuple[Path, int, Utterance]] = []
    if isinstance(data, datasets_module.DatasetDict):
        for key, ds in data.items():
            name = SPLIT_NAMES.get(key.lower())
            if name is not None:
                entries += [
                    (root / key, n, u) for n, u in _rows(root, key, ds, datasets_module, name, rows)
                ]
    else:
        drawn = _rows(root, "all", data, datasets_module, "", rows)
        try:
            split_of = split_by_speaker(u.speaker for _, u in drawn)
        except ValueError as e:
            raise CorpusError(f"{root}: {e}") from None
        entries = [
            (
                root,
                n,
                Utterance(u.id, u.path, u.label, u.speaker, u.transcript, split_of[u.speaker]),
            )
            for n, u in drawn
        ]
    where = f" (not one of the model's {labels and len(labels)} labels)"
    if labels is None and split != "train":
        labels = sorted({u.label for _, _, u in entries if u.split == "train"})
        where = f" (training never saw it: not one of the {len(labels)} training labels)"
    return select_split(entries, split, labels, where, rows, [root])
