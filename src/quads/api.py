"""The Python API: what `import quads` offers, and what every `quads` command wraps.

    model = quads.load_model("model.quads")        # onnxruntime if installed, else torch
    model.predict(["clip.wav"])                    # [Prediction(intent=..., ...)]
    quads.synth("data/mine", intents="commands.yaml")
    run = quads.train("commands-demo", data="data/mine", out="runs/mine")
    quads.evaluate(run["model"], "data/mine", split="test")

Heavy modules (torch, transformers, the training code) are imported inside the functions, so
that `import quads` and the onnxruntime path run without torch.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path

from quads.runtime.predict import Model, all_read

log = logging.getLogger("quads")

ENGINES = ("auto", "onnxruntime", "torch")
SIZES = ("tiny", "small", "medium", "full")


def runtime_installed() -> bool:
    """Whether the lean runtime (numpy + onnxruntime + soundfile, and onnx to build the graph
    of a .quads file) can be imported."""
    needed = ("onnxruntime", "soundfile", "onnx")
    return all(importlib.util.find_spec(name) is not None for name in needed)


def load_model(path: str | os.PathLike, engine: str = "auto", threads: int | None = None) -> Model:
    """A `.quads` (or exported `.onnx`) model, ready to `predict`.

    engine: "onnxruntime" (numpy + onnxruntime, no torch), "torch", or "auto" (onnxruntime
    when installed, else torch); `threads` sets onnxruntime's."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    path = Path(path)
    onnx_file = path.suffix == ".onnx"
    if engine == "auto":
        engine = "onnxruntime" if onnx_file or runtime_installed() else "torch"
    if engine == "torch":
        if onnx_file:
            raise ValueError(f"{path}: an .onnx model runs on onnxruntime, not torch")
        if threads is not None:
            raise ValueError("threads applies to the onnxruntime engine only")
        from quads.inference import load

        return load(path)
    from quads.runtime.session import load

    return load(path, threads)


def make_config(
    config: str | os.PathLike | None = "fsc-demo",
    data: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    layout: str | None = None,
    overrides: list[str] | None = None,
):
    """A training `Config`: a preset name or YAML file, with another corpus (`data`, its
    layout detected unless given), a run folder and `section.key=value` overrides."""
    from quads.config import load_config

    extra = list(overrides or [])
    if data is not None:
        extra.append(f"data.root={data}")
    if layout is not None:
        extra.append(f"data.layout={layout}")
    if out is not None:
        extra.append(f"out_dir={out}")
    return load_config(None if config is None else str(config), extra)


def train(
    config: str | os.PathLike | None = "fsc-demo",
    data: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    layout: str | None = None,
    overrides: list[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train one model (QUADS or a baseline, as the config's train.strategy says), export its
    `.quads` file and test it once. Returns the run's summary ("model": the file's path,
    "accuracy", "f1", "size_bytes", ...). `resume` continues an interrupted run in `out`.
    Progress bars show on a terminal only (`progress=False`: never); the log has a line per
    epoch."""
    from quads.safe_io import load_checkpoint
    from quads.train.mct import Trainer, init_distributed

    cfg = make_config(config, data, out, layout, overrides)
    checkpoint = Path(cfg.out_dir) / "checkpoint.pt"
    if resume and checkpoint.is_file():
        load_checkpoint(checkpoint)  # refused, naming it, before the training code loads it
    init_distributed()  # a no-op unless started by torchrun
    return Trainer(cfg, progress=progress).run(resume=resume)


def evaluate(
    model: str | os.PathLike | Model,
    data: str | os.PathLike,
    split: str = "test",
    layout: str = "auto",
    reject: bool = True,
    batch_size: int = 16,
    skip_bad_rows: bool = False,
    engine: str = "auto",
) -> dict:
    """Accuracy, macro-F1 and per-intent scores of a model on a corpus split (any layout;
    the labels are the model's own), and for a model with slots the command acceptance
    (intent and every slot right), per-slot scores and slot F1. Scores are of the model's
    top answer; with `reject`,
    "rejection" says how many clips the model would answer "unknown" and what that costs.
    "by_engine" breaks a synthetic corpus down by TTS engine."""
    from quads.data.auto import note_audio, scan_audio
    from quads.data.corpus import read_corpus
    from quads.data.types import GENERIC_LAYOUTS
    from quads.evaluation.metrics import breakdown, score_commands
    from quads.runtime.gate import LOW_CONFIDENCE, NO_SPEECH
    from quads.synth.corpus import engine_of

    if not isinstance(model, Model):
        model = load_model(model, engine)
    corpus = read_corpus(data, layout, split, skip_bad_rows, labels=model.labels)
    note_audio(scan_audio(corpus.utterances), f"{data} ({split})")
    t0 = time.time()
    preds = all_read(model.predict([u.path for u in corpus.utterances], 1, reject, batch_size))
    truth = [u.command for u in corpus.utterances]
    heard = [(p.best, p.heard) for p in preds]
    kind = model.meta.get("layout")  # FSC/SLURP labels split into slots
    kind = None if kind in GENERIC_LAYOUTS else kind
    result = score_commands(truth, heard, model.labels, model.heads.slot_names, kind)
    if reject:
        n = len(preds)
        answered = [(p.intent, p.slots) for p in preds]
        result["rejection"] = {
            "threshold": model.rejection.get("threshold", 0.0),
            "rejected": sum(p.intent is None for p in preds) / n,
            "rejected_no_speech": sum(p.reason == NO_SPEECH for p in preds) / n,
            "rejected_low_confidence": sum(p.reason == LOW_CONFIDENCE for p in preds) / n,
            "accuracy_with_rejection": sum(a == t for a, t in zip(answered, truth)) / n,
        }
    result["model"] = model.path
    if Path(model.path).is_file():
        result["bytes"] = Path(model.path).stat().st_size
    result["engine"] = model.engine
    result["seconds"] = round(time.time() - t0, 2)
    engines = [engine_of(u.speaker) for u in corpus.utterances]
    y_true, y_pred = [t for t, _ in truth], [p for p, _ in heard]
    result["by_engine"] = breakdown(y_true, y_pred, engines, model.labels, kind)
    result["skipped_rows"] = len(corpus.skipped)
    return result


def calibrate(
    model: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "valid",
    layout: str = "auto",
    out: str | os.PathLike | None = None,
    max_drop: float = 0.005,
    batch_size: int = 16,
    skip_bad_rows: bool = False,
) -> dict:
    """Choose a model's rejection threshold on a corpus split (validation, never test) and
    write it into the model file (`out`: a copy instead). Returns the "rejection" entry."""
    import shutil

    from quads.config import RejectionConfig
    from quads.data.corpus import read_corpus
    from quads.evaluation.rejection import calibrate_model
    from quads.quant.packing import rewrite_meta
    from quads.safe_io import check_output_path

    target = Path(out or model)
    check_output_path(target)
    loaded = load_model(model, "torch")
    corpus = read_corpus(data, layout, split, skip_bad_rows, labels=loaded.labels)
    cfg = RejectionConfig(max_accuracy_drop=max_drop)
    entry = calibrate_model(loaded, corpus, cfg, batch_size, split)
    if target.resolve() != Path(model).resolve():
        shutil.copyfile(model, target)
    entry["bytes"] = rewrite_meta(target, {"rejection": entry})
    return entry


def synth(
    out: str | os.PathLike,
    intents: str | os.PathLike | None = None,
    layout: str | None = None,
    size: str = "small",
    **options,
) -> dict:
    """Build a synthetic corpus in `out`: the FSC or SLURP layout, or, with `intents` (a
    YAML file of your commands), a manifest corpus of them. `options` are
    `quads.synth.corpus.build_corpus`'s (utterances, seed, workers, shares, ...) or
    `quads.synth.intents.build_intents_corpus`'s. Returns the corpus summary."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if intents is not None:
        from quads.synth.intents import build_intents_corpus

        if layout not in (None, "manifest"):
            raise ValueError(f"--intents builds a manifest corpus, not the {layout} layout")
        return build_intents_corpus(intents, out, preset=size, **options)
    from quads.synth.corpus import build_corpus

    if layout == "manifest":
        raise ValueError(
            "the manifest layout is for your own commands: give their YAML (--intents FILE)"
        )
    return build_corpus(out, layout=layout or "fsc", preset=size, **options)
