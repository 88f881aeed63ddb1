"""Folders layout (Speech Commands, Hugging Face `audiofolder`): the folder is the label.

    <root>/<label>/*.wav                    splits drawn by speaker, or from Speech
                                            Commands' validation_list.txt / testing_list.txt
    <root>/<split>/<label>/*.wav            split folders: train, valid (validation, dev), test

Any audio file soundfile reads counts (wav, flac, ogg, mp3, aiff), in the label folder or
below it. Folders whose names start with "_" or "." are skipped (Speech Commands'
`_background_noise_`). The speaker is the file-name prefix before `_nohash_`, else the
whole stem (`splits.speaker_of`). The label space is the sorted set of the training
split's labels: a valid or test folder training never saw is an error naming it.
"""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from quads.data.splits import SPLIT_NAMES, speaker_of, split_by_speaker
from quads.data.types import Corpus, CorpusError, RowChecker, Utterance

AUDIO_SUFFIXES = {f".{fmt.lower()}" for fmt in sf.available_formats()} | {".aif", ".oga"}
LISTS = {"valid": "validation_list.txt", "test": "testing_list.txt"}  # Speech Commands


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def split_folders(root: Path) -> dict[str, Path] | None:
    """{split: folder} when `root` holds a train folder of label folders, else None."""
    found = {
        SPLIT_NAMES[p.name.lower()]: p for p in _visible_dirs(root) if p.name.lower() in SPLIT_NAMES
    }
    if "train" not in found or not _visible_dirs(found["train"]):
        return None
    return found


def _clips(folder: Path, split: str, base: Path) -> list[Utterance]:
    """Every audio file under the label folders of `folder`; ids relative to `base`."""
    out = []
    for label_dir in _visible_dirs(folder):
        for path in sorted(label_dir.rglob("*")):
            if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
                rel = path.relative_to(base).as_posix()
                out.append(Utterance(rel, path, label_dir.name, speaker_of(path), "", split))
    return out


def _listed_splits(root: Path, clips: list[Utterance]) -> list[Utterance] | None:
    """Splits from Speech Commands' list files (paths relative to root), if both exist."""
    if not all((root / name).is_file() for name in LISTS.values()):
        return None
    split_of = {}
    for split, name in LISTS.items():
        for line in (root / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                split_of[line.strip()] = split
    return [
        Utterance(u.id, u.path, u.label, u.speaker, "", split_of.get(u.id, "train")) for u in clips
    ]


def all_clips(root: Path) -> list[Utterance]:
    """Every clip of the corpus with its split."""
    folders = split_folders(root)
    if folders is not None:
        return [u for split, folder in folders.items() for u in _clips(folder, split, root)]
    clips = _clips(root, "", root)
    if not clips:
        raise CorpusError(f"{root}: no audio files in label folders (expected <label>/*.wav)")
    listed = _listed_splits(root, clips)
    if listed is not None:
        return listed
    try:
        split_of = split_by_speaker(u.speaker for u in clips)
    except ValueError as e:
        raise CorpusError(f"{root}: {e}") from None
    return [Utterance(u.id, u.path, u.label, u.speaker, "", split_of[u.speaker]) for u in clips]


def read_folders(
    root: Path, split: str, skip_bad_rows: bool = False, labels: list[str] | None = None
) -> Corpus:
    """Read one split of a folders corpus (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: corpus folder not found")
    clips = all_clips(root)
    where = f" (not one of the model's {labels and len(labels)} labels)"
    if labels is None and split != "train":
        labels = sorted({u.label for u in clips if u.split == "train"})
        where = f" (training never saw it: no training clips in a folder named so under {root})"
    rows = RowChecker(labels, skip_bad_rows, where)
    for u in clips:
        if u.split == split:
            rows.add(u.path, 0, u)
    folders = split_folders(root)
    corpus = rows.finish([folders.get(split, root / split) if folders else root], labels or [])
    if labels is None:
        corpus.labels = sorted({u.label for u in corpus.utterances})
    return corpus
