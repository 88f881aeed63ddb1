"""Multi-stage Combined Training (MCT), and the baselines through the same loop.

The schedule is a list of phases (`plan`). For QUADS, each of N MCT iterations is
a distillation phase (gamma = 1: L_dis = alpha * L1 + (1 - alpha) * CE, full-precision
weights trained) followed by a quantization phase (gamma = 0: weights re-clustered into
2^b centroids warm-started from the previous codebook, codes fixed, centroids trained by
gradient), then a final quantization phase. The distillation phase after a quantization
phase starts from the quantized weights (centroids[codes]).

`Trainer.run()` trains, validates every epoch, keeps the best deployable checkpoint,
checkpoints atomically after every epoch (`--resume` continues exactly where it stopped),
exports the best model to a `.quads` file and evaluates that file on the test split.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import json
import logging
import os
import random
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm import tqdm

from quads.audio import FeatureSettings
from quads.config import Config, to_dict
from quads.data.augment import Augmenter
from quads.data.corpus import Corpus, read_corpus
from quads.data.dataset import SpeechDataset
from quads.evaluate.metrics import evaluate_predictions
from quads.inference import predict_corpus
from quads.models.student import SLUModel, encoder_from_state
from quads.models.teacher import Teacher, layer_index, teacher_targets
from quads.models.whisper_weights import load_whisper
from quads.quant.codebook import (
    CodebookLayer,
    dequantize,
    extract_codebooks,
    post_training_quantize,
    quantize_model,
)
from quads.quant.packing import load_quads, save_quads
from quads.train.losses import FeatureAlignment, quads_loss

log = logging.getLogger("quads")

STRATEGIES = ("quads", "finetune", "distill", "distill_ptq", "distill_qat", "qat", "ptq")
LOG_COLUMNS = ["epoch", "iteration", "phase", "train_loss", "train_acc", "val_acc", "val_f1"]
LOG_COLUMNS += ["lr", "seconds"]


class TrainingError(RuntimeError):
    """Training cannot go on (NaN loss, divergence); the last good checkpoint is kept."""


@dataclass(frozen=True)
class Phase:
    kind: str  # "distill" (gamma = 1), "quantize" (gamma = 0) or "finetune" (CE, no teacher)
    epochs: int
    iteration: int = 0  # MCT iteration, 1-based; 0 outside MCT
    recluster: bool = False  # quantize phases: cluster the weights at the start
    teacher: bool = True  # quantize phases: may distil (train.quant_distill)


def plan(cfg: Config) -> tuple[list[Phase], bool]:
    """The phases of `cfg.train.strategy` and whether PTQ follows training.

    Every strategy gets the same budget of epochs as QUADS, so the rows compare fairly.
    """
    t = cfg.train
    if t.strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {t.strategy!r}; expected one of {STRATEGIES}")
    budget = t.iterations * 2 * t.epochs_per_phase + t.final_quant_epochs
    if t.strategy == "quads":
        phases = []
        for it in range(1, t.iterations + 1):
            phases.append(Phase("distill", t.epochs_per_phase, it))
            phases.append(Phase("quantize", t.epochs_per_phase, it, recluster=True))
        if t.final_quant_epochs:
            phases.append(Phase("quantize", t.final_quant_epochs, t.iterations))
        return [p for p in phases if p.epochs > 0], False
    half = budget // 2
    return {
        "finetune": ([Phase("finetune", budget)], False),
        "ptq": ([Phase("finetune", budget)], True),
        "distill": ([Phase("distill", budget)], False),
        "distill_ptq": ([Phase("distill", budget)], True),
        "distill_qat": ([Phase("distill", half), Phase("quantize", budget - half, 0, True)], False),
        # QAT alone: no teacher. Its intent head starts random, and fixed codes drawn from a
        # random head cannot learn, so the head first trains in a full-precision half.
        "qat": (
            [Phase("finetune", half), Phase("quantize", budget - half, 0, True, teacher=False)],
            False,
        ),
    }[t.strategy]


def build_student(cfg: Config, labels: list[str]) -> SLUModel:
    """Whisper encoder (pretrained or random init, optionally truncated) + pool + head."""
    m = cfg.model
    weights = load_whisper(m.student)
    state = weights.encoder_state if m.pretrained else None
    encoder = encoder_from_state(weights.config, state, cfg.audio.context_seconds, m.student_layers)
    if not m.pretrained:  # the sinusoidal position table is fixed, not learned
        encoder.embed_positions.weight.data.copy_(
            weights.encoder_state["embed_positions.weight"][: encoder.config.max_source_positions]
        )
    return SLUModel(encoder, labels, m.pooling, weights.n_mels)


def is_quantized(model: torch.nn.Module) -> bool:
    return any(isinstance(m, CodebookLayer) for m in model.modules())


def deployable_bits(cfg: Config) -> int:
    """The bits of the exported model: full precision for the unquantized baselines."""
    return 32 if cfg.train.strategy in ("finetune", "distill") else cfg.quant.bits


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether training runs its matmuls in bf16 autocast (train.precision)."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"train.precision: expected auto, bf16 or fp32, got {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def init_distributed() -> None:
    """Join the process group when started by torchrun (NCCL on GPUs, gloo on CPUs)."""
    if int(os.environ.get("WORLD_SIZE", 1)) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def _atomic_save(obj: object, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """One training run: `Trainer(cfg).run(resume=...)` -> results dict (also run.json)."""

    def __init__(self, cfg: Config, progress: bool = True) -> None:
        self.cfg = cfg
        self.progress = progress
        self.out = Path(cfg.out_dir)
        self.rank, self.world = 0, 1
        if dist.is_available() and dist.is_initialized():
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.main = self.rank == 0
        local = int(os.environ.get("LOCAL_RANK", 0))
        self.device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        _seed_everything(cfg.train.seed)
        self.phases, self.ptq_after = plan(cfg)
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

        self.model = build_student(cfg, self.labels).to(self.device)
        self.settings = FeatureSettings.from_config(cfg.audio, self.model.n_mels)
        pairs = cfg.model.align_layers
        n_layers = self.model.encoder.config.encoder_layers
        self.student_idx = [layer_index(s, n_layers) for s, _ in pairs]
        self.targets = None
        self.align = None
        if any(self._distils(p) for p in self.phases):
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
        self.books: dict[str, torch.Tensor] = {}

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
        return teacher_targets(teacher, utts, labels, cache, progress=self.progress and self.main)

    def _loader(self, corpus: Corpus, train: bool, epoch: int = 0) -> DataLoader:
        aug = None
        if train and self.cfg.data.augment.enabled:
            aug = Augmenter(self.cfg.data.augment, seed=self.cfg.train.seed * 1000 + epoch)
        ds = SpeechDataset(corpus.utterances, self.labels, self.settings, aug)
        bs = self.cfg.train.batch_size
        if not train:
            return DataLoader(ds, batch_size=bs, num_workers=self.cfg.data.num_workers)
        if self.world > 1:
            sampler = DistributedSampler(ds, seed=self.cfg.train.seed, drop_last=True)
            sampler.set_epoch(epoch)
        else:  # a fresh generator per epoch: the same order after a resume
            gen = torch.Generator().manual_seed(self.cfg.train.seed * 100_003 + epoch)
            sampler = RandomSampler(ds, generator=gen)
        return DataLoader(ds, batch_size=bs, sampler=sampler, num_workers=self.cfg.data.num_workers)

    # ------------------------------------------------------------------ phases
    def _enter(self, phase: Phase) -> None:
        """Put the model into the form a phase trains."""
        if phase.kind in ("distill", "finetune"):
            if is_quantized(self.model):  # start from the quantized weights centroids[codes]
                self.books = extract_codebooks(self.model)
                dequantize(self.model)
        elif phase.recluster or not is_quantized(self.model):
            if is_quantized(self.model):
                self.books = extract_codebooks(self.model)
                dequantize(self.model)
            quantize_model(
                self.model, self.cfg.quant, previous=self.books, seed=self.cfg.train.seed
            )

    def _optimizer(self, phase: Phase) -> torch.optim.Optimizer:
        t = self.cfg.train
        groups: dict[str, list] = {"centroids": [], "decay": [], "no_decay": [], "head": []}
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            if name.endswith("centroids"):
                groups["centroids"].append(p)
            elif name.startswith(("head", "pool")):
                groups["head"].append(p)
            elif p.ndim >= 2:
                groups["decay"].append(p)
            else:
                groups["no_decay"].append(p)
        if self.align is not None and self._distils(phase):
            groups["head"].extend(self.align.parameters())
        params = [
            {"params": groups["centroids"], "base_lr": t.centroid_lr, "weight_decay": 0.0},
            {"params": groups["decay"], "base_lr": t.lr, "weight_decay": t.weight_decay},
            {"params": groups["no_decay"], "base_lr": t.lr, "weight_decay": 0.0},
            {"params": groups["head"], "base_lr": t.head_lr, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW([{**g, "lr": g["base_lr"]} for g in params if g["params"]])

    def _set_lr(self, opt: torch.optim.Optimizer, epoch: int, step: int, steps: int) -> None:
        """Learning rates at `step` of `steps` in the (1-based, global) `epoch`: constant,
        after a linear warm-up at the start of every phase after the first
        (train.warmup_steps): its optimizer starts afresh on an already trained model, and
        Adam's first steps are its largest."""
        factor, warmup = 1.0, self.cfg.train.warmup_steps
        index = bisect.bisect_right(self.phase_starts, epoch) - 1  # the phase of this epoch
        if index > 0 and warmup:
            done = (epoch - self.phase_starts[index]) * steps + step
            factor = min(1.0, (done + 1) / warmup)
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * factor

    def _distils(self, phase: Phase) -> bool:
        """Whether a phase trains on L_dis (the teacher) rather than CE alone."""
        return phase.kind == "distill" or (
            phase.kind == "quantize" and phase.teacher and self.cfg.train.quant_distill
        )

    def train_epoch(self, phase: Phase, opt: torch.optim.Optimizer, epoch: int) -> dict:
        """One pass over the training split; returns mean loss and accuracy."""
        t = self.cfg.train
        teacher = self._distils(phase)
        # gamma selects the phase: 1 = distillation loss L_dis, 0 = CE only (quantization).
        gamma = 1.0 if teacher else 0.0
        step = _Step(self.model, self.align if teacher else None, self.student_idx)
        if self.world > 1:
            ids = [self.device] if self.device.type == "cuda" else None
            step = torch.nn.parallel.DistributedDataParallel(step, device_ids=ids)
        step.train()
        total, correct, loss_sum = 0, 0, 0.0
        tag = f" it{phase.iteration}" if phase.iteration else ""
        bar = tqdm(
            self._loader(self.train_set, True, epoch),
            desc=f"epoch {epoch} {phase.kind}{tag}",
            disable=not (self.progress and self.main),
            leave=False,
            unit="batch",
        )
        for i, (mel, y, idx) in enumerate(bar):
            self._set_lr(opt, epoch, i, len(bar))
            mel, y, target = mel.to(self.device), y.to(self.device), None
            if teacher:
                target = torch.from_numpy(np.asarray(self.targets[idx.numpy()], np.float32))
                target = target.to(self.device)
            with torch.autocast(self.device.type, torch.bfloat16, enabled=self.amp):
                logits, align = step(mel, target)
            logits, align = logits.float(), align.float()
            loss = quads_loss(logits, y, align if teacher else None, t.alpha, gamma)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss became {loss.item()} in epoch {epoch} ({phase.kind}); the last good "
                    f"checkpoint is kept at {self.out / 'checkpoint.pt'}. Lower train.lr or "
                    "train.centroid_lr and resume."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(step.parameters(), t.grad_clip)
            opt.step()
            n = y.numel()
            total += n
            correct += int((logits.argmax(-1) == y).sum())
            loss_sum += loss.item() * n
            bar.set_postfix(loss=f"{loss_sum / total:.3f}", acc=f"{correct / total:.3f}")
        return {"train_loss": loss_sum / max(total, 1), "train_acc": correct / max(total, 1)}

    # ------------------------------------------------------------------ run
    def validate(self) -> dict:
        y_pred = predict_corpus(
            self.model, self.valid_set, self.settings, self.cfg.train.batch_size
        )
        y_true = [u.label for u in self.valid_set.utterances]
        m = evaluate_predictions(y_true, y_pred, self.labels, self.cfg.data.layout)
        return {"val_acc": m["accuracy"], "val_f1": m["f1"]}

    def _model_state(self) -> dict:
        return {"state": self.model.state_dict(), "quantized": is_quantized(self.model)}

    def _restore_model(self, saved: dict) -> None:
        """Load a saved student, rebuilding its codebook layers first if it had them."""
        if saved["quantized"] and not is_quantized(self.model):
            quick = dataclasses.replace(self.cfg.quant, kmeans_iters=1)
            quantize_model(self.model, quick)  # the structure; codes and centroids load below
        elif not saved["quantized"] and is_quantized(self.model):
            dequantize(self.model)
        self.model.load_state_dict(saved["state"])

    def _deployable(self, phase: Phase) -> bool:
        """Whether this phase's model is what the strategy ships (so may be 'best')."""
        return phase.kind == "quantize" or self.ptq_after or deployable_bits(self.cfg) == 32

    def run(self, resume: bool = False) -> dict:
        """Train all phases (or what is left of them), export and test the best model."""
        self.out.mkdir(parents=True, exist_ok=True)
        ckpt_path, best_path = self.out / "checkpoint.pt", self.out / "best.pt"
        st = {"phase": 0, "done": 0, "epoch": 0, "best_acc": -1.0, "rows": [], "complete": False}
        if ckpt_path.exists():
            if not resume:
                raise TrainingError(
                    f"{self.out} already holds a run: pass --resume to continue it, or choose "
                    "another out_dir"
                )
            ckpt = torch.load(ckpt_path, weights_only=False)
            st = ckpt["progress"]
            self._restore_model(ckpt["model"])
            self.books = ckpt["books"]
            if self.align is not None and ckpt["align"] is not None:
                self.align.load_state_dict(ckpt["align"])
            torch.set_rng_state(ckpt["rng"])
            log.info("resuming %s at epoch %d", self.out, st["epoch"] + 1)
        if self.main:
            (self.out / "config.json").write_text(json.dumps(to_dict(self.cfg), indent=2))

        for pi in range(st["phase"], len(self.phases)):
            phase = self.phases[pi]
            resumed_mid_phase = pi == st["phase"] and st["done"] > 0
            if not resumed_mid_phase:
                self._enter(phase)
            opt = self._optimizer(phase)
            if resumed_mid_phase:
                opt.load_state_dict(ckpt["optim"])
            for e in range(st["done"] if resumed_mid_phase else 0, phase.epochs):
                t0 = time.time()
                st["epoch"] += 1
                row = {"epoch": st["epoch"], "iteration": phase.iteration, "phase": phase.kind}
                row.update(self.train_epoch(phase, opt, st["epoch"]))
                row.update(self.validate())
                row.update(lr=opt.param_groups[0]["lr"], seconds=round(time.time() - t0, 1))
                st["rows"].append(row)
                st["phase"], st["done"] = pi, e + 1
                if self.main:
                    log.info(
                        "epoch %d %s: loss %.4f train acc %.3f val acc %.3f val F1 %.3f (%.0fs)",
                        row["epoch"],
                        phase.kind,
                        row["train_loss"],
                        row["train_acc"],
                        row["val_acc"],
                        row["val_f1"],
                        row["seconds"],
                    )
                    if self._deployable(phase) and row["val_acc"] > st["best_acc"]:
                        st["best_acc"] = row["val_acc"]
                        best = {
                            **self._model_state(),
                            "epoch": st["epoch"],
                            "val_acc": row["val_acc"],
                        }
                        _atomic_save(best, best_path)
                    self._write_log(st["rows"])
                    _atomic_save(
                        {
                            "progress": st,
                            "model": self._model_state(),
                            "books": self.books,
                            "align": self.align.state_dict() if self.align else None,
                            "optim": opt.state_dict(),
                            "rng": torch.get_rng_state(),
                        },
                        ckpt_path,
                    )
            st["done"] = 0
        if self.world > 1:
            dist.barrier()
        if not self.main:
            return {}
        results = self.export(best_path)
        results["train_seconds"] = round(sum(r["seconds"] for r in st["rows"]), 1)
        # Peak resident memory of this process so far (Linux reports KiB).
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if self.targets is not None:
            results["teacher_cache_mb"] = round(self.targets.nbytes / 2**20, 1)
        (self.out / "run.json").write_text(json.dumps(results, indent=2))
        return results

    def _write_log(self, rows: list[dict]) -> None:
        tmp = self.out / "log.csv.tmp"
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, LOG_COLUMNS)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.out / "log.csv")

    def export(self, best_path: Path) -> dict:
        """Best checkpoint -> (PTQ) -> model.quads; test metrics measured on that file."""
        best = torch.load(best_path, weights_only=False)
        self._restore_model(best)
        if self.ptq_after:
            post_training_quantize(self.model, self.cfg.quant)
        elif deployable_bits(self.cfg) != 32:
            # Codebook layers stay as trained; 16-bit layers trained off the fp16 grid in
            # the last phase are rounded back onto it, so the file stores them in 2 bytes.
            quantize_model(self.model, self.cfg.quant)
        path = self.out / "model.quads"
        meta = {
            "features": {
                "sample_rate": self.settings.sample_rate,
                "n_mels": self.settings.n_mels,
                "context_seconds": self.settings.context_seconds,
            },
            "layout": self.cfg.data.layout,
            "bits": deployable_bits(self.cfg),
            "strategy": self.cfg.train.strategy,
            "pretrained": self.cfg.model.pretrained,
            "student": self.cfg.model.student,
            "teacher": self.cfg.model.teacher,
            "best_epoch": best["epoch"],
        }
        size = save_quads(path, self.model, meta)
        packed, _ = load_quads(path)
        y_pred = predict_corpus(packed, self.test_set, self.settings, self.cfg.train.batch_size)
        y_true = [u.label for u in self.test_set.utterances]
        test = evaluate_predictions(y_true, y_pred, self.labels, self.cfg.data.layout)
        (self.out / "test_metrics.json").write_text(json.dumps(test, indent=2))
        log.info(
            "test accuracy %.4f, macro-F1 %.4f; %s is %d bytes",
            test["accuracy"],
            test["f1"],
            path,
            size,
        )
        return {
            "strategy": self.cfg.train.strategy,
            "init": "pretrained" if self.cfg.model.pretrained else "random",
            "bits": meta["bits"],
            "accuracy": test["accuracy"],
            "f1": test["f1"],
            "size_bytes": size,
            "best_epoch": best["epoch"],
            "best_val_acc": best["val_acc"],
            "model": str(path),
        }


class _Step(torch.nn.Module):
    """Student + feature alignment as one module, so DDP sees every trained parameter."""

    def __init__(
        self, model: SLUModel, align: FeatureAlignment | None, student_idx: list[int]
    ) -> None:
        super().__init__()
        self.model, self.align, self.student_idx = model, align, student_idx

    def forward(
        self, mel: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feats, hidden = self.model.features(mel, output_hidden_states=target is not None)
        logits = self.model.classify(feats)
        if target is None or self.align is None:
            return logits, logits.new_zeros(())
        return logits, self.align([hidden[i] for i in self.student_idx], target)
