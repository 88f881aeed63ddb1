"""Multi-stage Combined Training (MCT): the training run, read top to bottom in `Trainer.run`.

    for each phase of the plan (train/schedule.py):
        enter the phase (train/transition.py): dequantize, or cluster into 2^b centroids
        for each epoch: train on L_dis or CE (train/loop.py), validate, keep the best
                        deployable model, checkpoint (train/checkpoint.py)
                        (a PTQ strategy validates the model clustered as it would ship,
                        and keeps the checkpoint whose clustered model validates best)
    export the best model to a .quads file and test that file once (train/export.py)

The baselines (fine-tuning, distillation, PTQ, QAT) run through the same loop.
"""

from __future__ import annotations

import bisect
import copy
import csv
import dataclasses
import json
import logging
import math
import os
import random
import resource
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from quads.audio import HOP_LENGTH, FeatureSettings
from quads.config import PRECISIONS, Config, to_dict
from quads.data.augment import Augmenter
from quads.data.auto import needs_resolving, resolve_config
from quads.data.corpus import read_corpus, read_outliers
from quads.data.dataset import SpeechDataset, trim_batch
from quads.data.types import Corpus
from quads.evaluation.metrics import score_commands
from quads.inference import commands_of, corpus_logits
from quads.models.student import SLUModel, encoder_from_state
from quads.models.teacher import Teacher, layer_index, teacher_targets
from quads.models.whisper_weights import load_whisper
from quads.quant.mixed import allocate_bits, input_energy, mean_bits
from quads.quant.surgery import is_quantized, post_training_quantize
from quads.train import checkpoint
from quads.train.export import export
from quads.train.loop import (
    EpochContext,
    Step,
    TrainingError,
    make_optimizer,
    named_state,
    train_epoch,
    trained_parameters,
)
from quads.train.losses import FeatureAlignment, classification_loss
from quads.train.schedule import Phase, PhaseKind, deployable_bits, plan
from quads.train.transition import enter_phase, restore_student, set_reassign

log = logging.getLogger("quads")

LOG_COLUMNS = [
    "epoch", "iteration", "phase", "train_loss", "train_acc", "val_acc", "val_f1", "val_loss",
]  # fmt: skip
LOG_COLUMNS += ["lr", "seconds"]  # lr: train.lr as the schedule left it at the epoch's end

__all__ = ["Phase", "Trainer", "TrainingError", "build_student", "init_distributed"]


def build_student(
    cfg: Config, labels: list[str], slots: dict[str, list[str]] | None = None
) -> SLUModel:
    """Whisper encoder (pretrained or random init, optionally truncated) + pool + the heads
    (the intents, and each slot's values + "absent")."""
    m = cfg.model
    weights = load_whisper(m.student)
    state = weights.encoder_state if m.pretrained else None
    encoder = encoder_from_state(weights.config, state, cfg.audio.context_seconds, m.student_layers)
    if not m.pretrained:  # the sinusoidal position table is fixed, not learned
        encoder.embed_positions.weight.data.copy_(
            weights.encoder_state["embed_positions.weight"][: encoder.config.max_source_positions]
        )
    return SLUModel(encoder, labels, m.pooling, weights.n_mels, slots)


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether training runs its matmuls in bf16 autocast (train.precision)."""
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision: expected one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def init_distributed() -> None:
    """Join the process group when started by torchrun (NCCL on GPUs, gloo on CPUs)."""
    if int(os.environ.get("WORLD_SIZE", 1)) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """One training run: `Trainer(cfg).run(resume=...)` -> results dict (also run.json).

    `ptq_bits`: bit widths at which the full-precision model is also clustered (PTQ) and
    validated after every epoch, each keeping `best-<b>bit.pt`, the checkpoint whose PTQ
    model validates best (a PTQ strategy: its own quant.bits; the method table: every
    PTQ row that reuses this run)."""

    def __init__(self, cfg: Config, progress: bool = True, ptq_bits: tuple[int, ...] = ()) -> None:
        if needs_resolving(cfg):  # layout "auto", context from the longest training clip
            cfg = resolve_config(cfg)
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.rank, self.world = 0, 1
        if dist.is_available() and dist.is_initialized():
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.main = self.rank == 0
        self.progress = progress and self.main
        local = int(os.environ.get("LOCAL_RANK", 0))
        self.device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        _seed_everything(cfg.train.seed)
        self.phases, self.ptq_after = plan(cfg)
        self.ptq_bits = tuple(dict.fromkeys([cfg.quant.bits] * self.ptq_after + list(ptq_bits)))
        if self.ptq_bits and any(p.quantized for p in self.phases):
            raise ValueError(
                f"PTQ validation needs a full-precision strategy, not {cfg.train.strategy}"
            )
        epochs = [p.epochs for p in self.phases]
        self.phase_starts = [1 + sum(epochs[:i]) for i in range(len(epochs))]  # global, 1-based
        self.amp = use_bf16(cfg.train.precision, self.device)

        d = cfg.data
        self.train_set = read_corpus(d.root, d.layout, "train", d.skip_bad_rows)
        self.valid_set = read_corpus(d.root, d.layout, "valid", d.skip_bad_rows)
        self.test_set = read_corpus(d.root, d.layout, "test", d.skip_bad_rows)
        utts = self.train_set.utterances
        if cfg.train.max_train_utterances and cfg.train.max_train_utterances < len(utts):
            # A seeded random subset, so every speaker and intent can still appear.
            keep = random.Random(cfg.train.seed).sample(
                range(len(utts)), cfg.train.max_train_utterances
            )
            self.train_set.utterances = [utts[i] for i in sorted(keep)]
        self.labels = self.train_set.labels
        if d.outliers:  # speech that is none of the intents, trained towards uniform
            outliers = read_outliers(Path(d.root) / d.outliers, cfg.audio.context_seconds)
            self.train_set.utterances += outliers
            log.info("training with %d outlier clips from %s", len(outliers), d.outliers)

        self.model = build_student(cfg, self.labels, self.train_set.slots).to(self.device)
        self.settings = FeatureSettings.from_config(cfg.audio, self.model.n_mels)
        if cfg.quant.size_budget_mb is not None:
            self._allocate_bits()
        pairs = cfg.model.align_layers
        n_layers = self.model.encoder.config.encoder_layers
        self.student_idx = [layer_index(s, n_layers) for s, _ in pairs]
        self.targets = None
        self.align = None
        if any(p.distils for p in self.phases):
            teacher = Teacher(
                cfg.model.teacher,
                cfg.audio.context_seconds,
                [t for _, t in pairs],
                cfg.model.align_pool,
            ).to(self.device)
            self.align = FeatureAlignment(
                self.model.encoder.config.d_model, teacher.dim, len(pairs), cfg.model.align_pool
            ).to(self.device)
            # Last: computing the cache draws on the global RNG, reusing it does not, and
            # every initialisation must be the same either way.
            self.targets = self._teacher_targets(teacher)
            del teacher
        self.books: dict[str, torch.Tensor] = {}  # the last codebooks, to warm-start k-means
        self.moments: dict = {}  # Adam's state by parameter name, carried across phases

    def _allocate_bits(self, clips: int = 64) -> None:
        """Mixed precision: bits per layer under quant.size_budget_mb (quant/mixed.py), from
        the initial student's weights and its inputs on `clips` training clips; the choice
        becomes quant.bits_per_module (so config.json holds it)."""
        q = self.cfg.quant
        if not (self.ptq_after or any(p.quantized for p in self.phases)):
            raise ValueError(
                f"quant.size_budget_mb does not apply to train.strategy "
                f"{self.cfg.train.strategy!r}: it ships no quantized model"
            )
        utts = self.train_set.utterances
        pick = random.Random(self.cfg.train.seed).sample(utts, min(clips, len(utts)))
        calib = dataclasses.replace(self.train_set, utterances=pick)
        step = Step(self.model, None, [])

        def run_batches() -> None:
            for mel, _, _ in self._loader(calib):
                step(mel.to(self.device), None)

        self.model.eval()
        energy = input_energy(self.model, run_batches)
        self.model.train()
        budget = round(q.size_budget_mb * 8e6)
        bits = allocate_bits(self.model, q, budget, energy, q.bits_choices, self.cfg.train.seed)
        self.cfg.quant = dataclasses.replace(q, bits_per_module=bits, size_budget_mb=None)
        log.info(
            "quant.size_budget_mb %.3g: %.2f bits per weight on average; %s",
            q.size_budget_mb,
            mean_bits(self.model, bits),
            ", ".join(f"{name} {b}" for name, b in bits.items()),
        )

    # ------------------------------------------------------------------ data
    def _teacher_targets(self, teacher: Teacher) -> np.ndarray:
        cache = None
        if self.cfg.train.cache_teacher:
            cache = Path(self.cfg.train.cache_dir or Path(self.cfg.data.root) / ".quads_cache")
        utts, labels = self.train_set.utterances, self.labels
        if self.world > 1 and cache is not None:
            if self.main:  # rank 0 computes the cache; the others read it
                teacher_targets(teacher, utts, labels, cache, progress=self.progress)
            dist.barrier()
        return teacher_targets(teacher, utts, labels, cache, progress=self.progress)

    def _loader(self, corpus: Corpus, phase: Phase | None = None, epoch: int = 0) -> DataLoader:
        """Batches of `corpus`: shuffled and augmented for a training `phase`, in order for
        validation (phase None)."""
        aug = None
        if phase is not None and self.cfg.data.augment.enabled:
            augment = self.cfg.data.augment
            if phase.distils:  # teacher targets are frame-aligned with the clean clip
                augment = dataclasses.replace(augment, speed=(1.0, 1.0))
            # an onset moves by whole alignment windows (2 mel hops per encoder frame)
            window = 2 * HOP_LENGTH * max(self.cfg.model.align_pool, 1)
            aug = Augmenter(augment, seed=self.cfg.train.seed * 1000 + epoch, window=window)
        ds = SpeechDataset(corpus.utterances, self.model.heads, self.settings, aug)
        bs, workers = self.cfg.train.batch_size, self.cfg.data.num_workers
        if phase is None:
            return DataLoader(ds, batch_size=bs, num_workers=workers, collate_fn=trim_batch)
        if self.world > 1:
            sampler = DistributedSampler(ds, seed=self.cfg.train.seed, drop_last=True)
            sampler.set_epoch(epoch)
        else:  # a fresh generator per epoch: the same order after a resume
            gen = torch.Generator().manual_seed(self.cfg.train.seed * 100_003 + epoch)
            sampler = RandomSampler(ds, generator=gen)
        return DataLoader(
            ds, batch_size=bs, sampler=sampler, num_workers=workers, collate_fn=trim_batch
        )

    # ------------------------------------------------------------------ phases
    def enter(self, phase: Phase) -> None:
        """The MCT transition into `phase`: dequantize, or cluster into 2^b centroids."""
        self.books = enter_phase(self.model, phase, self.cfg, self.books)

    def _named(self, phase: Phase) -> list[tuple[str, torch.nn.Parameter]]:
        return trained_parameters(self.model, self.align if phase.distils else None)

    def optimizer(self, phase: Phase) -> torch.optim.Optimizer:
        """This phase's AdamW, with the moments of the parameters trained before."""
        return make_optimizer(self._named(phase), self.cfg.train, self.moments)

    def _lr_factor(self, epoch: int):
        """Learning-rate factor at step i of n in the (global, 1-based) `epoch`: a linear
        warm-up over the first train.warmup_steps of every phase after the first."""
        p = bisect.bisect_right(self.phase_starts, epoch) - 1  # the phase of this epoch
        warmup = self.cfg.train.warmup_steps

        def factor(i: int, n: int) -> float:
            if p == 0 or not warmup:
                return 1.0
            return min(1.0, ((epoch - self.phase_starts[p]) * n + i + 1) / warmup)

        return factor

    def train_epoch(self, phase: Phase, opt: torch.optim.Optimizer, epoch: int) -> dict:
        """One pass over the training split on L_dis (gamma = 1) or CE (gamma = 0)."""
        step = Step(self.model, self.align if phase.distils else None, self.student_idx)
        if self.world > 1:
            ids = [self.device] if self.device.type == "cuda" else None
            step = torch.nn.parallel.DistributedDataParallel(step, device_ids=ids)
        ctx = EpochContext(
            self.targets,
            self.device,
            self.amp,
            self.cfg.train,
            self.progress,
            self.model.heads.sizes,
        )
        tag = f" it{phase.iteration}" if phase.iteration else ""
        desc = f"epoch {epoch} {phase.kind.value}{tag}"
        loader = self._loader(self.train_set, phase, epoch)
        return train_epoch(step, loader, opt, phase, self._lr_factor(epoch), ctx, desc)

    def validate(self, model: SLUModel | None = None) -> dict:
        """val_acc: command acceptance of `model` (default: the one in training; the intent
        and every slot right, the intent accuracy for a model without slots); val_f1:
        macro-F1 over intents; val_loss: the heads' summed cross-entropy on the true
        commands (training's CE), a mean over the clips."""
        model = model or self.model
        logits, targets = corpus_logits(
            model, self.valid_set, self.settings, self.cfg.train.batch_size
        )
        truth = [u.command for u in self.valid_set.utterances]
        pred = commands_of(model, logits)
        m = score_commands(truth, pred, self.labels, model.heads.slot_names, self.cfg.data.layout)
        loss = classification_loss(logits, targets, 0.0, model.heads.sizes).item()
        return {"val_acc": m["command_acceptance"], "val_f1": m["f1"], "val_loss": loss}

    def _better(self, row: dict, st: dict) -> bool:
        """Whether this epoch's model beats the best so far (train.select): a higher val_acc,
        or with "accuracy+loss" the same val_acc at a lower val_loss (a synthetic validation
        set is often all right at several epochs: the first of them is no better a pick)."""
        if row["val_acc"] != st["best_acc"]:
            return row["val_acc"] > st["best_acc"]
        return self.cfg.train.select == "accuracy+loss" and row["val_loss"] < st["best_loss"]

    def validate_ptq(self, bits: int) -> float:
        """Validation accuracy of the model as PTQ at `bits` would ship it (a clustered copy;
        the model in training is left as it is)."""
        clustered = copy.deepcopy(self.model)  # (no draw on the RNG: training goes on the same)
        post_training_quantize(clustered, dataclasses.replace(self.cfg.quant, bits=bits))
        return self.validate(clustered)["val_acc"]

    def _deployable(self, phase: Phase) -> bool:
        """Whether this phase's model is what the strategy ships (so may be 'best')."""
        return phase.quantized or self.ptq_after or deployable_bits(self.cfg) == 32

    def _student(self) -> dict:
        return {"state": self.model.state_dict(), "quantized": is_quantized(self.model)}

    # ------------------------------------------------------------------ run
    def run(self, resume: bool = False) -> dict:
        """Train all phases (or what is left of them), export and test the best model."""
        with checkpoint.run_lock(self.out):
            return self._run(resume)

    def _run(self, resume: bool) -> dict:
        ckpt_path, best_path = self.out / "checkpoint.pt", self.out / "best.pt"
        st = {"phase": 0, "done": 0, "epoch": 0, "best_acc": -1.0, "best_loss": math.inf}
        st["rows"] = []
        st["best_ptq"] = {str(b): -1.0 for b in self.ptq_bits}
        saved_optim = None
        if ckpt_path.exists():
            if not resume:
                raise TrainingError(
                    f"{self.out} already holds a run: pass --resume to continue it, or choose "
                    "another out_dir"
                )
            ckpt = checkpoint.load(ckpt_path)
            st, saved_optim, self.books = ckpt["progress"], ckpt["optim"], ckpt["books"]
            self.moments = ckpt.get("moments", {})  # (not kept before 2026-12: inexact)
            st.setdefault("best_ptq", {str(b): -1.0 for b in self.ptq_bits})
            st.setdefault("best_loss", math.inf)  # (not kept before 2026-12-05)
            restore_student(self.model, ckpt["model"], self.cfg)
            if self.align is not None and ckpt["align"] is not None:
                self.align.load_state_dict(ckpt["align"])
            torch.set_rng_state(ckpt["rng"])
            log.info("resuming %s at epoch %d", self.out, st["epoch"] + 1)
        if self.main:
            (self.out / "config.json").write_text(json.dumps(to_dict(self.cfg), indent=2))

        for pi in range(st["phase"], len(self.phases)):
            phase = self.phases[pi]
            first = st["done"] if saved_optim is not None else 0
            if saved_optim is None:
                self.enter(phase)  # MCT: dequantize, or cluster into 2^b centroids
            set_reassign(self.model, phase.kind == PhaseKind.QAT)
            opt = self.optimizer(phase)
            if saved_optim is not None:  # resumed inside (or at the end of) this phase
                opt.load_state_dict(saved_optim)
                saved_optim = None
            for e in range(first, phase.epochs):
                t0 = time.time()
                st["epoch"] += 1
                row = {"epoch": st["epoch"], "iteration": phase.iteration}
                row["phase"] = phase.kind.value
                try:
                    row.update(self.train_epoch(phase, opt, st["epoch"]))
                except TrainingError as err:
                    raise TrainingError(
                        f"{err}; the last good checkpoint is kept at {ckpt_path}. Lower "
                        "train.lr or train.centroid_lr and resume."
                    ) from None
                row.update(self.validate())
                for b in self.ptq_bits:
                    row[f"val_acc_{b}bit"] = self.validate_ptq(b)
                group = opt.param_groups[0]
                lr = self.cfg.train.lr * group["lr"] / group["base_lr"]
                row.update(lr=lr, seconds=round(time.time() - t0, 1))
                st["rows"].append(row)
                st["phase"], st["done"] = pi, e + 1
                if self.main:
                    self._log_epoch(row, st["rows"])
                    if self._deployable(phase) and self._better(row, st):
                        st["best_acc"], st["best_loss"] = row["val_acc"], row["val_loss"]
                        best = {**self._student(), "epoch": st["epoch"], "val_acc": row["val_acc"]}
                        checkpoint.save(best, best_path)
                    for b in self.ptq_bits:  # the checkpoint whose PTQ model validates best
                        acc = row[f"val_acc_{b}bit"]
                        if acc > st["best_ptq"][str(b)]:
                            st["best_ptq"][str(b)] = acc
                            best = {**self._student(), "epoch": st["epoch"], "val_acc": acc}
                            checkpoint.save(best, self.out / f"best-{b}bit.pt")
                    checkpoint.save(
                        {
                            "progress": st,
                            "model": self._student(),
                            "books": self.books,
                            "align": self.align.state_dict() if self.align else None,
                            "optim": opt.state_dict(),
                            "moments": self.moments,  # of the phases before this one
                            "rng": torch.get_rng_state(),
                        },
                        ckpt_path,
                    )
            self.moments.update(named_state(opt, self._named(phase)))
            st["phase"], st["done"] = pi + 1, 0
        if self.world > 1:
            dist.barrier()
        if not self.main:
            return {}
        if self.ptq_after:  # PTQ ships the checkpoint chosen on PTQ validation
            best_path = self.out / f"best-{self.cfg.quant.bits}bit.pt"
        results = self.export(best_path)
        results["train_seconds"] = round(sum(r["seconds"] for r in st["rows"]), 1)
        # Peak resident memory of this process so far (Linux reports KiB).
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if self.targets is not None:
            results["teacher_cache_mb"] = round(self.targets.nbytes / 2**20, 1)
        (self.out / "run.json").write_text(json.dumps(results, indent=2))
        return results

    def _log_epoch(self, row: dict, rows: list[dict]) -> None:
        columns = LOG_COLUMNS + [f"val_acc_{b}bit" for b in self.ptq_bits]
        log.info(
            "epoch %d %s: loss %.4f train acc %.3f val acc %.3f val F1 %.3f (%.0fs)",
            row["epoch"],
            row["phase"],
            row["train_loss"],
            row["train_acc"],
            row["val_acc"],
            row["val_f1"],
            row["seconds"],
        )
        tmp = self.out / "log.csv.tmp"
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, columns)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.out / "log.csv")

    def export(self, best_path: Path) -> dict:
        """Best checkpoint -> (PTQ) -> model.quads; test metrics measured on that file."""
        best = checkpoint.load(best_path)
        return export(
            self.model,
            best,
            self.cfg,
            self.settings,
            self.valid_set,
            self.test_set,
            self.out,
            self.ptq_after,
        )
