"""FSC as slots: one intent head over the 31 (action, object, location) triples against an
action head with `object` and `location` slot heads, same data, recipe and budget.

    python benchmarks/fsc_slots.py [--seeds 0,1,2]     # after benchmarks/method_table.py

The slot model reads the method table's corpus (`data/method/table`) as a manifest whose
intent is the action and whose slots are the object and the location ("none" is absent);
its command acceptance (intent and both slots right) is FSC's rule, all three right. It
trains as the table's `quads-4bit` rows do (preset fsc-bench, 4 bits, the same seeds and
840-clip draws), and is compared with them on validation (which decides) and on the fresh
test (paired, same clips). Results: benchmarks/results/fsc/fsc_slots.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path

import numpy as np
from method_table import DATA, OUT, RUNS, build_data, config, right_per_clip
from provenance import provenance, provenance_line, sha256_file

SLOTS = DATA / "table-slots"
ROW = "quads-4bit"


def build_manifest() -> Path:
    """The table corpus as a manifest: label = action, slots = object and location."""
    table = build_data()
    SLOTS.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        with (table / "data" / f"{split}_data.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        with (SLOTS / f"{split}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label", "speaker", "transcript", "slots"])
            for r in rows:
                slots = {k: r[k] for k in ("object", "location") if r[k] != "none"}
                path = Path("..") / "table" / r["path"]
                w.writerow(
                    [path, r["action"], r["speakerId"], r["transcription"], json.dumps(slots)]
                )
    return SLOTS


def train(seed: int) -> Path:
    from quads.train.mct import Trainer

    cfg = config(seed)
    cfg.data.root, cfg.data.layout = str(SLOTS), "manifest"
    cfg.out_dir = str(RUNS / f"seed{seed}" / f"{ROW}-slots")
    if not (Path(cfg.out_dir) / "run.json").is_file():
        Trainer(cfg, progress=False).run(resume=True)
    return Path(cfg.out_dir)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from quads.evaluation.significance import compare

    build_manifest()
    rows = {"intent-31": [], "slots": []}
    seeds = [int(s) for s in args.seeds.split(",")]
    for seed in seeds:
        slot_run, whole_run = train(seed), RUNS / f"seed{seed}" / ROW
        if not (whole_run / "run.json").is_file():
            raise SystemExit(
                f"{whole_run}: train the method table's {ROW} row for seed {seed} first"
            )
        for name, run in (("intent-31", whole_run), ("slots", slot_run)):
            result = json.loads((run / "run.json").read_text())
            rows[name].append(
                {
                    "seed": seed,
                    "val_acc": result["best_val_acc"],
                    "test_acc": result["command_acceptance"],
                    "size_bytes": result["size_bytes"],
                    "model_sha256": sha256_file(run / "model.quads"),
                    "right": right_per_clip(run),
                }
            )
    a = np.array([r.pop("right") for r in rows["slots"]])
    b = np.array([r.pop("right") for r in rows["intent-31"]])
    test = compare(a, b)
    summary = {
        "provenance": provenance(),
        "rows": rows,
        "slots_minus_intent": {
            "test": test.pop("difference"),
            **test,
            "valid": float(
                np.mean([r["val_acc"] for r in rows["slots"]])
                - np.mean([r["val_acc"] for r in rows["intent-31"]])
            ),
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fsc_slots.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "# FSC: one 31-class intent head, or an action head with object and location slots",
        "",
        f"{provenance_line(summary['provenance'])} Written by `benchmarks/fsc_slots.py`.",
        "",
        "QUADS 4-bit, preset fsc-bench, same seeds and training draws; accuracy = all of "
        "action, object and location right (FSC's rule), in %.",
        "",
        "| head | seeds | valid (decides) | fresh test | size bytes |",
        "|---|---|---|---|---|",
    ]
    for name, rs in rows.items():
        val = np.mean([r["val_acc"] for r in rs])
        test = np.mean([r["test_acc"] for r in rs])
        lines.append(
            f"| {name} | {len(rs)} | {100 * val:.2f} | {100 * test:.2f} | {rs[0]['size_bytes']:,} |"
        )
    g = summary["slots_minus_intent"]
    lo, hi = g["interval_95"]
    lines += [
        "",
        f"Slots minus 31-class on the test: {100 * g['test']:+.2f} points, 95 % paired interval "
        f"[{100 * lo:+.2f}, {100 * hi:+.2f}], McNemar p = {g['mcnemar']['p']:.3f}: "
        f"**{g['verdict']}**.",
    ]
    (OUT / "fsc_slots.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
