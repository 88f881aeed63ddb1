"""A corpus that trains on a synthetic corpus and validates on real speech: the real clips
of a `../shared/data/real-speech` set split by speaker (sha256 of the speaker id, even ->
valid, odd -> test), so that one half chooses the epoch and the other half reports.

    python real_halves.py SYNTHETIC_CORPUS REAL_SET OUT
    # e.g. data/keywords ../shared/data/real-speech/speech-commands data/kw-realval

OUT gets the synthetic train.csv, valid.csv and test.csv from the real clips, and links
`wavs` (the synthetic audio) and `real` (the real audio).
"""

import csv
import hashlib
import shutil
import sys
from pathlib import Path

synthetic, real, out = (Path(a).resolve() for a in sys.argv[1:4])
out.mkdir(parents=True, exist_ok=True)
shutil.copy(synthetic / "train.csv", out / "train.csv")
for name, target in (("wavs", synthetic / "wavs"), ("real", real / "audio")):
    if not (out / name).exists():
        (out / name).symlink_to(target)
with open(real / "clips.csv", newline="") as f:
    rows = list(csv.DictReader(f))
halves: dict[str, list[dict]] = {"valid": [], "test": []}
for r in rows:
    odd = int(hashlib.sha256(r["speaker"].encode()).hexdigest(), 16) % 2
    path = "real/" + r["path"].removeprefix("audio/")
    halves["test" if odd else "valid"].append({**r, "path": path, "slots": "{}"})
for split, split_rows in halves.items():
    with open(out / f"{split}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "label", "speaker", "transcript", "slots"])
        w.writeheader()
        w.writerows(split_rows)
    print(f"{split}: {len(split_rows)} clips")
