"""The method table: QUADS, quads-paper and the baselines at 4, 3 and 2 bits, three seeds
each, on a test set no earlier design round has seen; mean and spread per row, and a paired
test of each QUADS row against the best baseline at its bit width.

    python benchmarks/method_table.py --shard 0/2 & python benchmarks/method_table.py --shard 1/2
    python benchmarks/method_table.py --gather      # the table from the rows trained so far
    python benchmarks/method_table.py --rows quads-mixed-2.5MB   # only these rows, now

Corpus (built on first use): synthetic FSC "small" (seed 0). Training: each seed draws its own
840 of the 1,400 training clips. Validation, which chooses every checkpoint: the corpus's
valid and test splits (600 clips; the old test split is a second validation set). Test: 900
clips of a fresh corpus (synth seed 101) whose speakers are in no other split, read once per
row. Recipe: preset fsc-bench (3 MCT iterations of 2-epoch phases + 1 final epoch; 13 epochs
per row, every baseline the same budget).

Rows train in priority order (the 4-bit comparison, then 2, then 3 bits; fine-tune -> QAT
last), each seed of a row before the next row; a killed run resumes where it stopped when
the command is run again. Results: benchmarks/results/fsc/method_table.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path

import numpy as np
from provenance import provenance, provenance_line, sha256_file

DATA = Path("data/method")
RUNS = Path("runs/method")
SEEDS = (0, 1, 2)
FRESH_SEED = 101  # voices of no earlier corpus
# One unit of work = the rows one training serves: a distillation run validates its PTQ at
# each bit width after every epoch, so the three distill -> PTQ rows come with it.
DISTILL = [
    ("distill", 32, ""),
    ("distill_ptq", 4, ""),
    ("distill_ptq", 3, ""),
    ("distill_ptq", 2, ""),
]
UNITS = [DISTILL]
for _bits in (4, 2, 3):  # QUADS, then its strongest competitor, then the paper's rule
    UNITS += [[("quads", _bits, "")], [("distill_qat", _bits, "")], [("quads", _bits, "paper")]]
UNITS += [[("qat", b, "")] for b in (4, 2, 3)]
# Beyond the paper: bits per layer under a 2.5 MB size figure (quant/mixed.py), against
# uniform QUADS at 3 and 4 bits (appended last, so the shards' earlier work keeps its place).
UNITS += [[("quads", 3, "mixed-2.5MB")]]
MIXED_AGAINST = ("quads-3bit", "quads-4bit")
# Seed 0 only, last: fine-tune -> PTQ, the row whose 4-bit accuracy fell to 77 % in the
# one-seed table (benchmarks/ptq_sensitivity.py explains it from this run).
FINETUNE = [("finetune", 32, ""), ("ptq", 4, ""), ("ptq", 2, "")]
BASELINES = ("distill_ptq", "distill_qat", "qat")  # what QUADS rows are tested against
OUT = Path(__file__).parent / "results" / "fsc"


def build_data() -> Path:
    """The table's corpus at DATA/table: train and valid from DATA/small, test from DATA/fresh."""
    from quads.synth.corpus import build_corpus

    table = DATA / "table"
    if (table / "data" / "test_data.csv").is_file():
        return table
    build_corpus(DATA / "small", layout="fsc", preset="small")
    sizes = {"train": 31, "valid": 31, "test": 900}  # only the test split is used
    build_corpus(DATA / "fresh", layout="fsc", preset="small", seed=FRESH_SEED, sizes=sizes)
    rows = {s: _rows(DATA / "small", s) for s in ("train", "valid", "test")}
    seen = {r["speakerId"] for split in rows.values() for r in split}
    fresh = [r for r in _rows(DATA / "fresh", "test") if r["speakerId"] not in seen]
    out = {"train": rows["train"], "valid": rows["valid"] + rows["test"], "test": fresh}
    (table / "data").mkdir(parents=True, exist_ok=True)
    for split, split_rows in out.items():
        with (table / "data" / f"{split}_data.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, list(split_rows[0]))
            w.writeheader()
            w.writerows(split_rows)
    logging.info("table corpus: %s", {s: len(r) for s, r in out.items()})
    return table


def _rows(root: Path, split: str) -> list[dict]:
    """A split's CSV rows, paths made relative to the table folder (a sibling of root)."""
    with (root / "data" / f"{split}_data.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["path"] = f"../{root.name}/{r['path']}"
        r.pop("", None)
    return rows


def config(seed: int):
    from quads.config import load_config

    return load_config(
        "fsc-bench",
        [f"data.root={DATA / 'table'}", f"out_dir={RUNS}", f"train.seed={seed}", "train.threads=1"],
    )


def train(k: int, n: int, rows: list[str] | None = None) -> None:
    """Train the K-th of N shares of the units, seeds of a unit side by side in the order;
    with `rows`, only the units that hold one of those row names."""
    from quads.train.baselines import Job, compare, row_name

    build_data()
    work = [(seed, unit) for unit in UNITS for seed in SEEDS] + [(0, FINETUNE)]
    if rows:
        names = {row_name(s, True, b, v): (s, b, v) for unit in UNITS for s, b, v in unit}
        unknown = sorted(set(rows) - set(names))
        if unknown:
            raise SystemExit(f"--rows: no row named {', '.join(unknown)}; rows: {sorted(names)}")
        work = [(s, u) for s, u in work if any(names.get(r) in u for r in rows)]
    for seed, unit in work[k::n]:
        jobs = [Job(strategy, True, bits, variant) for strategy, bits, variant in unit]
        compare(config(seed), RUNS / f"seed{seed}", jobs, progress=False)


def gather() -> dict:
    """Every trained row: per seed accuracy, mean, spread; paired tests against the best
    baseline at the same bits."""
    from quads.evaluation.significance import compare
    from quads.train.baselines import row_name

    rows: dict[str, dict] = {}
    for unit in [*UNITS, FINETUNE]:
        for strategy, bits, variant in unit:
            name = row_name(strategy, True, bits, variant)
            runs = [RUNS / f"seed{s}" / name for s in SEEDS]
            done = [r for r in runs if (r / "run.json").is_file()]
            if not done:
                continue
            results = [json.loads((r / "run.json").read_text()) for r in done]
            right = [right_per_clip(r) for r in done]
            acc = [float(np.mean(x)) for x in right]
            rows[name] = {
                "strategy": strategy,
                "variant": variant,
                "bits": bits,
                "seeds": [int(r.parent.name[4:]) for r in done],
                "accuracy": acc,
                "mean": float(np.mean(acc)),
                "std": float(np.std(acc, ddof=1)) if len(acc) > 1 else None,
                "f1": [r["f1"] for r in results],
                "best_val_acc": [r["best_val_acc"] for r in results],
                "size_bytes": results[0]["size_bytes"],
                "mean_bits": results[0].get("mean_bits"),
                "model_sha256": [sha256_file(r / "model.quads") for r in done],
                "_right": right,
            }
    for row in rows.values():
        if row["strategy"] != "quads" or row["bits"] == 32:
            continue
        rivals = [
            r for r in rows.values() if r["strategy"] in BASELINES and r["bits"] == row["bits"]
        ]
        both = [r for r in rivals if r["seeds"] == row["seeds"]]
        tests = {}
        for rival in both:
            name = row_name(rival["strategy"], True, rival["bits"], rival["variant"])
            tests[name] = compare(row["_right"], rival["_right"])
        if both:
            best = max(both, key=lambda r: r["mean"])
            best_name = row_name(best["strategy"], True, best["bits"], best["variant"])
            row["against"] = {"row": best_name, **tests[best_name]}
        if row["variant"].startswith("mixed"):  # and uniform QUADS, smaller and larger
            for name in MIXED_AGAINST:
                if name in rows and rows[name]["seeds"] == row["seeds"]:
                    tests[name] = compare(row["_right"], rows[name]["_right"])
        if tests:
            row["against_each"] = tests  # every baseline at these bits (same seeds)
    for row in rows.values():
        del row["_right"]
    return rows


def right_per_clip(run: Path) -> list[bool]:
    """Per test clip, in file order, whether the run's model got it right."""
    lines = (run / "test_predictions.jsonl").read_text().splitlines()
    return [json.loads(line)["right"] for line in lines]


def write(rows: dict) -> None:
    prov = provenance()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "method_table.json").write_text(
        json.dumps({"provenance": prov, "rows": rows}, indent=2) + "\n"
    )
    lines = [
        "# The method table: seeds, spread and paired tests",
        "",
        f"{provenance_line(prov)} Written by `benchmarks/method_table.py`; each model's sha256: "
        "method_table.json.",
        "",
        "Test: 900 fresh clips (voices of no other split), accuracy in %; mean +- standard "
        "deviation over the seeds. `vs best baseline`: the accuracy difference to the best "
        "baseline at the same bits (same seeds, same clips), its 95 % paired bootstrap "
        "interval and McNemar's exact p; `tie` where the interval holds 0.",
        "",
        "| row | bits | seeds | accuracy % | per seed | size MB | vs best baseline | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        spread = f" +- {100 * r['std']:.2f}" if r["std"] is not None else ""
        seeds = ", ".join(f"{100 * a:.2f}" for a in r["accuracy"])
        vs, call = "", ""
        if "against" in r:
            g = r["against"]
            lo, hi = g["interval_95"]
            vs = (
                f"{100 * g['difference']:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}] vs {g['row']}, "
                f"p = {g['mcnemar']['p']:.3f}"
            )
            call = g["verdict"]
        bits = r["bits"]
        if r["variant"].startswith("mixed") and r.get("mean_bits"):
            bits = f"{r['mean_bits']:.2f} mean"
        lines.append(
            f"| {name} | {bits} | {len(r['seeds'])} | {100 * r['mean']:.2f}{spread} | {seeds} "
            f"| {r['size_bytes'] / 2**20:.2f} | {vs} | {call} |"
        )
    for name, r in rows.items():
        if not r["variant"].startswith("mixed"):
            continue
        lines += ["", f"{name} (bits per layer under a size budget) against each row:", ""]
        for other, g in r.get("against_each", {}).items():
            lo, hi = g["interval_95"]
            lines.append(
                f"- {other}: {100 * g['difference']:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}], "
                f"p = {g['mcnemar']['p']:.3f}: {g['verdict']}"
            )
    (OUT / "method_table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shard", default="0/1", help="K/N: train only the K-th of N shares")
    p.add_argument("--gather", action="store_true", help="write the table, train nothing")
    p.add_argument("--rows", nargs="+", help="train only the units of these rows")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if not args.gather:
        k, n = (int(v) for v in args.shard.split("/"))
        train(k, n, args.rows)
    write(gather())


if __name__ == "__main__":
    main()
