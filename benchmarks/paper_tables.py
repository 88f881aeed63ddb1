"""Reproduce the paper's two tables on a synthetic corpus: QUADS at 32/16/8/4/2 bits against
its baselines (Table 1 + the init x strategy ablation of Table 2).

    python benchmarks/paper_tables.py --layout fsc            # preset fsc-bench
    python benchmarks/paper_tables.py --layout slurp --rows 3
    python benchmarks/paper_tables.py --shard 0/2 & python benchmarks/paper_tables.py --shard 1/2

Rows train in priority order, each written to results.json as soon as it is done; rerunning
resumes (finished rows are reused), so `--rows N` can extend a table later. `--shard K/N`
trains only the K-th of N disjoint parts of the rows (run N at once on N cores with
train.threads = 1; a last run without --shard gathers the table; `--trained-only` gathers
what is trained so far without training more). The figures, report.md and plots are copied
to benchmarks/results/<layout>/.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from provenance import provenance, provenance_line, sha256_file

if TYPE_CHECKING:
    from quads.train.baselines import Job

# Most telling rows first: QUADS against sequential distill-then-quantize and PTQ (PTQ rows
# are nearly free: they cluster their full-precision row once), then the MCT ablations.
# Each row is a quads.train.baselines.Job: (strategy, pretrained, bits[, variant]).
JOBS = [
    ("quads", True, 4),
    ("distill", True, 32),
    ("distill_ptq", True, 4),
    ("distill_ptq", True, 2),
    ("quads", True, 2),
    ("quads", True, 3),
    ("distill_ptq", True, 3),
    ("quads", True, 4, "codes_fixed"),
    ("quads", True, 4, "codes_fixed_restart_quantized"),
    ("quads", True, 4, "no_quant_teacher"),
    ("finetune", True, 32),
    ("ptq", True, 4),
    ("ptq", True, 2),
    ("quads", True, 32),
    ("distill_qat", True, 4),
    ("qat", True, 4),
    ("quads", False, 4),
    ("quads", True, 8),
    ("quads", True, 16),
    ("qat", True, 2),
    ("distill_qat", True, 2),
    ("quads", True, 4, "restart_quantized"),
]
# The synthetic corpus each table trains and tests on (`quads synth --preset`).
CORPUS = {"fsc": "medium", "slurp": "small"}


def shard(jobs: list[Job], k: int, n: int) -> list[Job]:
    """The K-th of N parts; a PTQ row goes with the full-precision run it reuses."""
    from quads.train.baselines import PTQ_SOURCE, Job

    runs: list[Job] = []
    mine = []
    for entry in jobs:
        job = Job(*entry)
        source = PTQ_SOURCE.get(job.strategy)
        run = Job(source, job.pretrained, 32, job.variant) if source else job
        if run not in runs:
            runs.append(run)
        if runs.index(run) % n == k:
            mine.append(entry)
    return mine


def trained(out: Path, job: Job) -> bool:
    """Whether a row needs no training: it is done, or it is PTQ of a finished run."""
    from quads.train.baselines import PTQ_SOURCE, Job, row_name

    source = PTQ_SOURCE.get(job.strategy)
    if source:
        job = Job(source, job.pretrained, 32, job.variant)
    return (out / row_name(*job) / "run.json").is_file()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layout", choices=["fsc", "slurp"], default="fsc")
    p.add_argument("--rows", type=int, default=len(JOBS), help="train only the first N rows")
    p.add_argument("--shard", default="0/1", help="K/N: train only the K-th of N parts")
    p.add_argument(
        "--trained-only",
        action="store_true",
        help="gather the rows already trained (and PTQ rows of trained runs), train nothing",
    )
    args = p.parse_args()
    from quads.config import load_config
    from quads.report import write_report
    from quads.synth.corpus import build_corpus
    from quads.train.baselines import Job, compare

    k, n = (int(v) for v in args.shard.split("/"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    cfg = load_config(f"{args.layout}-bench")
    build_corpus(cfg.data.root, layout=args.layout, preset=CORPUS[args.layout])
    out = Path(cfg.out_dir)
    if n > 1:  # N processes side by side, one core each; a run without --shard gathers
        cfg.train.threads = 1
        compare(cfg, out, shard([Job(*j) for j in JOBS[: args.rows]], k, n))
        return
    jobs = [Job(*j) for j in JOBS[: args.rows]]
    if args.trained_only:
        jobs = [job for job in jobs if trained(out, job)]
    results = compare(cfg, out, jobs)
    write_report(out)

    dest = Path(__file__).parent / "results" / args.layout
    dest.mkdir(parents=True, exist_ok=True)
    for f in [out / "results.json", out / "report.md", *out.glob("*.png")]:
        shutil.copy(f, dest / f.name)
    # Provenance of the copies: the commit and machine, and each row's model file.
    prov = provenance()
    prov["models_sha256"] = {
        row["name"]: sha256_file(out / row["name"] / "model.quads")
        for row in results["rows"]
        if (out / row["name"] / "model.quads").is_file()
    }
    copied = json.loads((dest / "results.json").read_text())
    (dest / "results.json").write_text(json.dumps({"provenance": prov, **copied}, indent=2) + "\n")
    title, _, rest = (dest / "report.md").read_text().partition("\n")
    line = f"{provenance_line(prov)} Each model file's sha256: results.json."
    (dest / "report.md").write_text(f"{title}\n\n{line}\n{rest}")
    for row in results["rows"]:
        print(
            f"{row['name']:22s} acc {row['accuracy']:.4f}  F1 {row['f1']:.4f}  "
            f"{row['size_bytes'] / 2**20:.2f} MiB"
        )
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
