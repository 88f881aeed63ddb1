"""The paper's comparison: QUADS at several bit widths against its baselines.

`compare()` trains each row with the same code path and epoch budget (see `schedule.plan`) into
`<out>/<run>/`, and gathers the rows into `<out>/results.json` in the shape `quads.report`
reads. A finished row is not trained again, an interrupted one resumes: rerunning the same
command after a crash continues where it stopped. PTQ rows reuse the training of their
full-precision row (same schedule, so the same model) and only cluster it: that run clusters
and validates its model at each PTQ row's bit width after every epoch, and a PTQ row ships
the checkpoint whose clustered model validated best (one validation read per epoch, as
every other row).
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
from pathlib import Path
from typing import NamedTuple

from quads.config import Config
from quads.data.auto import needs_resolving, resolve_config
from quads.evaluation.cost import whisper_encoder_gmacs
from quads.models.whisper_weights import load_whisper
from quads.train.mct import Trainer, TrainingError

log = logging.getLogger("quads")

# (strategy, pretrained) rows of the paper's Table 2, run at the bit widths asked.
BASELINES = [
    ("finetune", True),
    ("distill", True),
    ("ptq", True),
    ("distill_ptq", True),
    ("distill_qat", True),
    ("qat", True),
    ("quads", False),
]
FULL_PRECISION = ("finetune", "distill")
# A PTQ row = a checkpoint of its full-precision row, clustered once.
PTQ_SOURCE = {"ptq": "finetune", "distill_ptq": "distill"}


# Ablation variants of a row: a name suffix -> the settings it changes.
VARIANTS: dict[str, dict[str, object]] = {
    "": {},
    "codes_fixed": {"codes": "fixed"},  # quantization phases train centroids only
    # ... and distillation phases restart from centroids[codes] (the rule before latent weights)
    "codes_fixed_restart_quantized": {"codes": "fixed", "restart": "quantized"},
    "restart_quantized": {"restart": "quantized"},  # distil from centroids[codes], no latent
    "no_quant_teacher": {"quant_distill": False},  # gamma = 0: CE only in quantization phases
    # quads-paper: the paper's phases as written (codes fixed, centroids trained, gamma = 0
    # in quantization phases, distillation restarting from centroids[codes])
    "paper": {"codes": "fixed", "restart": "quantized", "quant_distill": False},
    # mixed precision: bits per layer under a size budget (quant/mixed.py), the job's bits
    # only a fallback for layers the allocation does not name (none)
    "mixed-2.5MB": {"quant.size_budget_mb": 2.5},
}


class Job(NamedTuple):
    """One row of a table: a strategy, its initialisation, bits and an ablation variant."""

    strategy: str
    pretrained: bool
    bits: int
    variant: str = ""


def row_name(strategy: str, pretrained: bool, bits: int, variant: str = "") -> str:
    if variant == "paper":  # a method of its own, named as such: quads-paper-4bit
        strategy, variant = f"{strategy}-paper", ""
    init = "" if pretrained else "-random"
    if variant.startswith("mixed"):  # no one bit width: quads-mixed-2.5MB
        return f"{strategy}{init}-{variant}"
    name = f"{strategy}{init}-{bits}bit" if strategy not in FULL_PRECISION else f"{strategy}{init}"
    return f"{name}-{variant}" if variant else name


def paper_jobs(
    quads_bits: list[int],
    baseline_bits: list[int],
    baselines: list[tuple[str, bool]] | None = None,
) -> list[Job]:
    """Rows: QUADS at `quads_bits`, each baseline at `baseline_bits` (the full-precision
    ones at 32 bits)."""
    jobs = [Job("quads", True, b) for b in quads_bits]
    for strategy, pretrained in BASELINES if baselines is None else baselines:
        bits_list = [32] if strategy in FULL_PRECISION else baseline_bits
        jobs += [Job(strategy, pretrained, b) for b in bits_list]
    return jobs


def compare(cfg: Config, out: Path, jobs: list[Job], progress: bool = True) -> dict:
    """Train every row in order; write results.json after each."""
    if needs_resolving(cfg):  # layout "auto", context from the longest training clip
        cfg = resolve_config(cfg)
    student = load_whisper(cfg.model.student).config
    gmacs = whisper_encoder_gmacs(student, cfg.audio.context_seconds)
    gmacs_30 = whisper_encoder_gmacs(student, 30.0)
    jobs = [Job(*j) for j in jobs]
    ptq_bits: dict[Job, list[int]] = {}  # full-precision run -> the PTQ rows' bit widths
    for job in jobs:
        if job.strategy in PTQ_SOURCE:
            ptq_bits.setdefault(_source(job), []).append(job.bits)
    rows = []
    for job in jobs:
        name = row_name(*job)
        result = _run(cfg, out, job, progress, ptq_bits)
        rows.append(
            {
                "name": name,
                "run": name,
                "gmacs": round(gmacs, 3),
                "gmacs_30s": round(gmacs_30, 3),
                **{k: result[k] for k in ("strategy", "init", "bits", "accuracy", "f1")},
                "variant": job.variant,
                "size_bytes": result["size_bytes"],
                "mean_bits": result.get("mean_bits"),
                "best_val_acc": result.get("best_val_acc"),
                "train_seconds": result.get("train_seconds"),
            }
        )
        _write(out, cfg, rows)
    return _write(out, cfg, rows)


def _run_config(cfg: Config, out: Path, job: Job) -> Config:
    run_cfg = copy.deepcopy(cfg)
    run_cfg.train.strategy = job.strategy
    run_cfg.model.pretrained = job.pretrained
    run_cfg.quant.bits = job.bits
    for key, value in VARIANTS[job.variant].items():  # "key" is in train, "quant.key" in quant
        section, _, name = key.rpartition(".")
        setattr(getattr(run_cfg, section or "train"), name, value)
    run_cfg.out_dir = str(out / row_name(*job))
    return run_cfg


def _source(job: Job) -> Job:
    """The full-precision run whose checkpoints a PTQ row clusters."""
    return Job(PTQ_SOURCE[job.strategy], job.pretrained, 32, job.variant)


def _run(cfg: Config, out: Path, job: Job, progress: bool, ptq_bits: dict[Job, list[int]]) -> dict:
    """Train one row, or reuse it when its run.json exists. A PTQ row clusters the checkpoint
    of its full-precision row chosen on PTQ validation instead of training it again."""
    run_cfg = _run_config(cfg, out, job)
    run_dir = Path(run_cfg.out_dir)
    if (run_dir / "run.json").is_file():
        log.info("%s: done already, reusing it", run_dir.name)
        return json.loads((run_dir / "run.json").read_text())
    log.info("=== %s ===", run_dir.name)
    if job.strategy not in PTQ_SOURCE:
        bits = tuple(ptq_bits.get(job, ()))
        return Trainer(run_cfg, progress=progress, ptq_bits=bits).run(resume=True)
    source = _source(job)
    _run(cfg, out, source, progress, ptq_bits)
    source_dir = Path(_run_config(cfg, out, source).out_dir)
    best = source_dir / f"best-{job.bits}bit.pt"
    if not best.is_file():
        raise TrainingError(
            f"{source_dir} was trained without validating PTQ at {job.bits} bits; move it "
            "away and rerun, to train it again with that validation"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(source_dir / "log.csv", run_dir / "log.csv")
    result = Trainer(run_cfg, progress=progress).export(best)
    (run_dir / "run.json").write_text(json.dumps(result, indent=2))
    return result


# The paper's own rows (real FSC / SLURP, Whisper-large teacher), shown beside ours.
PAPER = {
    "fsc": [
        {
            "name": "paper QUADS 4-bit",
            "strategy": "quads",
            "init": "pretrained",
            "bits": 4,
            "accuracy": 0.9739,
            "f1": 0.9612,
            "size_bytes": int(3.65 * 2**20),
            "gmacs": None,
            "gmacs_30s": 18.5,
        },
    ],
    "slurp": [
        {
            "name": "paper QUADS 4-bit",
            "strategy": "quads",
            "init": "pretrained",
            "bits": 4,
            "accuracy": 0.6898,
            "f1": 0.6439,
            "size_bytes": int(3.46 * 2**20),
            "gmacs": None,
            "gmacs_30s": 18.5,
        },
    ],
}


def _write(out: Path, cfg: Config, rows: list[dict]) -> dict:
    results = {
        "dataset": f"{cfg.data.layout.upper()} corpus at {cfg.data.root}",
        "layout": cfg.data.layout,
        "teacher": cfg.model.teacher,
        "student": cfg.model.student,
        "rows": rows,
        "reference": PAPER.get(cfg.data.layout, []),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results
