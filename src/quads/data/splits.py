"""Speakers and automatic splits for corpora that bring neither (folders, one-file manifests).

The speaker of a clip is the file-name prefix before `_nohash_` (the Speech Commands
convention: `0a7c2a8d_nohash_1.wav` is speaker `0a7c2a8d`), else the whole file stem.
Automatic splits are speaker-disjoint and deterministic: speakers are ranked by a hash of
their name; the first 10 % (at least one) are the test split, the next 10 % (at least
one) the valid split, the rest train. The result depends only on the set of speaker names,
never on file order, the machine or a random seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

EVAL_SHARE = 0.1  # of the speakers, for each of valid and test
SPLIT_NAMES = {  # folder or column value -> split
    "train": "train",
    "training": "train",
    "valid": "valid",
    "validation": "valid",
    "dev": "valid",
    "devel": "valid",
    "test": "test",
    "testing": "test",
}


def speaker_of(path: str | Path) -> str:
    """`<speaker>_nohash_<n>.wav` -> `<speaker>`; any other file -> its stem."""
    stem = Path(path).stem
    head, sep, _ = stem.partition("_nohash_")
    return head if sep and head else stem


def split_by_speaker(speakers: Iterable[str]) -> dict[str, str]:
    """Each speaker's split (train, valid or test). Needs at least 3 speakers."""
    ranked = sorted(set(speakers), key=lambda s: (hashlib.sha1(s.encode()).hexdigest(), s))
    n = len(ranked)
    if n < 3:
        raise ValueError(
            f"only {n} speaker(s): automatic splits need at least 3 (one each for train, "
            "valid and test); name the speakers, or give the splits yourself"
        )
    n_eval = max(1, round(EVAL_SHARE * n))
    n_eval = min(n_eval, (n - 1) // 2)  # train keeps at least one speaker
    out = {s: "test" for s in ranked[:n_eval]}
    out.update({s: "valid" for s in ranked[n_eval : 2 * n_eval]})
    out.update({s: "train" for s in ranked[2 * n_eval :]})
    return out
