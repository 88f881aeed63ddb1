"""The paper's comparison: QUADS at several bit widths against its baselines.

`compare()` trains each row with the same code path and epoch budget (see `mct.plan`) into
`<out>/<run>/`, and gathers the rows into `<out>/results.json` in the shape `quads.report`
reads. A finished row is not trained again, an interrupted one resumes: rerunning the same
command after a crash continues where it stopped. PTQ rows reuse the training of their
full-precision row (same schedule, so the same model) and only cluster it.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
from pathlib import Path

from quads.config import Config
from quads.evaluate.cost import whisper_encoder_gmacs
from quads.models.whisper_weights import load_whisper
from quads.train.mct import Trainer

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
# A PTQ row = its full-precision row's best checkpoint, clustered once.
PTQ_SOURCE = {"ptq": "finetune", "distill_ptq": "distill"}


def row_name(strategy: str, pretrained: bool, bits: int) -> str:
    init = "" if pretrained else "-random"
    return f"{strategy}{init}-{bits}bit" if strategy not in FULL_PRECISION else f"{strategy}{init}"


def paper_jobs(
    quads_bits: list[int],
    baseline_bits: list[int],
    baselines: list[tuple[str, bool]] | None = None,
) -> list[tuple[str, bool, int]]:
    """(strategy, pretrained, bits) rows: QUADS at `quads_bits`, each baseline at
    `baseline_bits` (the full-precision ones at 32 bits)."""
    jobs = [("quads", True, b) for b in quads_bits]
    for strategy, pretrained in BASELINES if baselines is None else baselines:
        bits_list = [32] if strategy in FULL_PRECISION else baseline_bits
        jobs += [(strategy, pretrained, b) for b in bits_list]
    return jobs


def compare(
    cfg: Config, out: Path, jobs: list[tuple[str, bool, int]], progress: bool = True
) -> dict:
    """Train every (strategy, pretrained, bits) row in order; write results.json after each."""
    student = load_whisper(cfg.model.student).config
    gmacs = whisper_encoder_gmacs(student, cfg.audio.context_seconds)
    gmacs_30 = whisper_encoder_gmacs(student, 30.0)
    rows = []
    for strategy, pretrained, bits in jobs:
        name = row_name(strategy, pretrained, bits)
        result = _run(cfg, out, strategy, pretrained, bits, progress)
        rows.append(
            {
                "name": name,
                "run": name,
                "gmacs": round(gmacs, 3),
                "gmacs_30s": round(gmacs_30, 3),
                **{k: result[k] for k in ("strategy", "init", "bits", "accuracy", "f1")},
                "size_bytes": result["size_bytes"],
                "train_seconds": result.get("train_seconds"),
            }
        )
        _write(out, cfg, rows)
    return _write(out, cfg, rows)


def _run_config(cfg: Config, out: Path, strategy: str, pretrained: bool, bits: int) -> Config:
    run_cfg = copy.deepcopy(cfg)
    run_cfg.train.strategy = strategy
    run_cfg.model.pretrained = pretrained
    run_cfg.quant.bits = bits
    run_cfg.out_dir = str(out / row_name(strategy, pretrained, bits))
    return run_cfg


def _run(
    cfg: Config, out: Path, strategy: str, pretrained: bool, bits: int, progress: bool
) -> dict:
    """Train one row, or reuse it when its run.json exists. A PTQ row quantizes the best
    checkpoint of its full-precision row instead of training the same model again."""
    run_cfg = _run_config(cfg, out, strategy, pretrained, bits)
    run_dir = Path(run_cfg.out_dir)
    if (run_dir / "run.json").is_file():
        log.info("%s: done already, reusing it", run_dir.name)
        return json.loads((run_dir / "run.json").read_text())
    log.info("=== %s ===", run_dir.name)
    if strategy not in PTQ_SOURCE:
        return Trainer(run_cfg, progress=progress).run(resume=True)
    source = PTQ_SOURCE[strategy]
    _run(cfg, out, source, pretrained, 32, progress)
    source_dir = Path(_run_config(cfg, out, source, pretrained, 32).out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(source_dir / "log.csv", run_dir / "log.csv")
    result = Trainer(run_cfg, progress=progress).export(source_dir / "best.pt")
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
