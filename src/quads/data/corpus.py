"""One interface over the corpus layouts: `read_corpus(root, layout, split) -> Corpus`.

Layouts: "fsc" and "slurp" (the real corpora's on-disk layouts, fixed label spaces from
`labels/`), and the generic "manifest" (CSV files of path,label[,speaker,transcript]),
"folders" (`root/[<split>/]<label>/*.wav`) and "hf" (a Hugging Face dataset saved with
`save_to_disk`), whose label space is the sorted set of labels of the training split.
"auto" detects the layout (`detect_layout`). The types they share are in `types.py`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from quads.audio import AudioError, scan_clip
from quads.data.folders import read_folders
from quads.data.fsc import read_fsc
from quads.data.hf import is_hf_dataset, read_hf
from quads.data.manifest import manifest_files, read_manifest
from quads.data.slurp import read_slurp
from quads.data.types import (
    AUDIO_SUFFIXES,
    GENERIC_LAYOUTS,
    OUTLIER,
    SPLITS,
    Corpus,
    CorpusError,
    Utterance,
    check_layout,
    normalize_split,
)

logger = logging.getLogger("quads")


def detect_layout(root: str | Path) -> str:
    """The layout of the corpus at `root`, from the files it holds:

    fsc: data/{train,valid,test}_data.csv; slurp: dataset/slurp/{train,devel,test}.jsonl (a
    folder may hold one split only); hf: dataset_dict.json or state.json (save_to_disk);
    manifest: a .csv file, or a folder with train.csv, manifest.csv or metadata.csv (also in
    train/: Hugging Face `audiofolder`); folders: a folder with sub-folders of audio.
    """
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".csv":
        return "manifest"
    if not root.is_dir():
        raise CorpusError(f"{root}: corpus folder not found")
    if any((root / "data" / f"{split}_data.csv").is_file() for split in SPLITS):
        return "fsc"
    slurp = root / "dataset" / "slurp"
    if any((slurp / f"{split}.jsonl").is_file() for split in ("train", "devel", "test")):
        return "slurp"
    if is_hf_dataset(root):
        return "hf"
    try:
        manifest_files(root)
        return "manifest"
    except CorpusError:
        pass
    if any(p.is_dir() and not p.name.startswith((".", "_")) for p in root.iterdir()):
        return "folders"
    raise CorpusError(
        f"{root}: cannot tell the corpus layout: expected FSC (data/train_data.csv), SLURP "
        "(dataset/slurp/train.jsonl), a manifest (train.csv, manifest.csv or metadata.csv), "
        "folders (<label>/*.wav) or a saved Hugging Face dataset; name one with --layout"
    )


def read_corpus(
    root: str | Path,
    layout: str,
    split: str,
    skip_bad_rows: bool = False,
    include_synthetic: bool = False,
    labels: list[str] | None = None,
) -> Corpus:
    """Read one split of a corpus in any layout ("auto": detected).

    `include_synthetic` (SLURP train only) adds `train_synthetic.jsonl` when present.
    `labels` (generic layouts) is the label space a valid/test split must keep to (a
    model's labels); by default it is the training split's, so that a label training
    never saw is an error naming the file and line.
    """
    check_layout(layout, auto=True)
    split = normalize_split(split)
    if layout == "auto":
        layout = detect_layout(root)
    root = Path(root)
    if layout in GENERIC_LAYOUTS:
        read = {"manifest": read_manifest, "folders": read_folders, "hf": read_hf}[layout]
        return read(root, split, skip_bad_rows, labels)
    if not root.is_dir():
        raise CorpusError(f"{root}: corpus folder not found")
    if layout == "fsc":
        return read_fsc(root, split, skip_bad_rows)
    return read_slurp(root, split, skip_bad_rows, include_synthetic)


def read_outliers(folder: str | Path, max_seconds: float) -> list[Utterance]:
    """The clips under `folder` (wav/flac, any depth) as training utterances labelled
    OUTLIER; clips longer than `max_seconds` (the context) are left out and counted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(
            f"{folder}: outlier folder (data.outliers) not found; make one with `quads synth "
            "--outliers N`, or train without: --set data.outliers=null"
        )
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    out, too_long = [], 0
    for p in paths:
        try:
            seconds = scan_clip(str(p))
        except AudioError as e:
            raise CorpusError(str(e)) from None
        if seconds > max_seconds + 1e-3:
            too_long += 1
            continue
        rel = p.relative_to(folder)
        out.append(Utterance(str(rel), p, OUTLIER, p.parent.name, "", "train"))
    if not out:
        raise CorpusError(f"{folder}: no outlier clips of at most {max_seconds:g} s")
    if too_long:
        logger.info(
            "%s: %d of %d outlier clips are longer than %g s and left out",
            folder,
            too_long,
            len(paths),
            max_seconds,
        )
    return out
