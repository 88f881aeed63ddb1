"""Which int8 scheme a model ships with, chosen on validation data (`choose_int8`), and the
accuracy of an exported model on a corpus split (`corpus_accuracy`).

The choice ranks candidates by the predictions that change against fp32, then by how many
MatMuls stay fp32 (speed), then by the logit error; the layers whose int8 error moves the
logits most can stay fp32. Build-time code: it reads corpora; the device never runs it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from quads.data.corpus import read_corpus
from quads.evaluation.metrics import evaluate_predictions
from quads.runtime.audio import SAMPLE_RATE, fit_to_context, load_audio, log_mel
from quads.runtime.export import (
    PLAIN_SCHEMES,
    Int8Scheme,
    dense_model,
    quantize_int8,
    weight_matmuls,
)
from quads.runtime.graph import MATMUL_SUFFIX
from quads.runtime.session import IntentSession


def split_mels(
    data: str | os.PathLike, split: str, n_mels: int, context_seconds: float, layout: str
) -> tuple[np.ndarray, list[str]]:
    """Log-mel (N, n_mels, frames) of a corpus split at the model's context, and its labels."""
    corpus = read_corpus(data, layout, split)
    n_samples = int(round(context_seconds * SAMPLE_RATE))
    audio = np.stack(
        [fit_to_context(load_audio(u.path), n_samples, u.path) for u in corpus.utterances]
    )
    return log_mel(audio, n_mels), [u.label for u in corpus.utterances]


def onnx_logits(
    model: str | os.PathLike | IntentSession,
    mels: np.ndarray,
    threads: int = 1,
    batch_size: int = 16,
) -> np.ndarray:
    """Logits of a .onnx or .quads model (a path, or an `IntentSession`; mel input) for a
    batch of log-mels."""
    session = model if isinstance(model, IntentSession) else IntentSession(model, threads)
    return np.concatenate(
        [session.logits(mels[i : i + batch_size]) for i in range(0, len(mels), batch_size)]
    )


def compare_logits(got: np.ndarray, ref: np.ndarray) -> dict:
    """Predictions changed against the reference and the logit error (in units of the
    reference's logit spread, so that models compare)."""
    spread = float(ref.std()) or 1.0
    return {
        "changed": int((got.argmax(-1) != ref.argmax(-1)).sum()),
        "mean_logit_err": float(np.abs(got - ref).mean() / spread),
        "max_logit_err": float(np.abs(got - ref).max() / spread),
    }


def choose_int8(
    model: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "valid",
    layout: str | None = None,
    max_fp32: int = 4,
    probe_clips: int = 300,
    threads: int = 1,
    log=None,
) -> tuple[Int8Scheme, list[dict]]:
    """The int8 scheme for a .quads model, chosen on a corpus split (validation: never the
    test split) against the fp32 model's logits.

    1. The plain schemes (`PLAIN_SCHEMES`: per-tensor, per-channel, grid) are scored: how
       many predictions change against fp32, and the logit error.
    2. If the best of them changes any prediction, each weight MatMul's sensitivity is the
       logit error of a model in which it alone is int8 (on `probe_clips` clips spread over
       the split), and the 1, 2, ... `max_fp32` most sensitive stay fp32 (on top of the best
       plain scheme) until no prediction changes.
    3. The choice: fewest changed predictions, then fewest fp32 MatMuls (speed), then the
       smallest mean logit error.

    Returns the chosen scheme and one row per scored candidate (its scheme, changed,
    mean/max logit error; sensitivities under "sensitivity")."""
    log = log or (lambda *_: None)
    fp32 = IntentSession(model, threads)
    layout = layout or fp32.meta.get("layout", "fsc")
    mels, _ = split_mels(data, split, fp32.n_mels, fp32.context_seconds, layout)
    ref = onnx_logits(fp32, mels)
    del fp32
    rows: list[dict] = []
    protos = {}

    def score(scheme: Int8Scheme, subset: np.ndarray | None = None) -> dict:
        if scheme.grid not in protos:
            protos[scheme.grid] = dense_model(model, scheme.grid)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "int8.onnx"
            quantize_int8(protos[scheme.grid], path, scheme)
            idx = slice(None) if subset is None else subset
            row = {
                "scheme": scheme,
                **compare_logits(onnx_logits(path, mels[idx], threads), ref[idx]),
            }
        return row

    for scheme in PLAIN_SCHEMES:
        rows.append(score(scheme))
        log(_describe(rows[-1], split))
    best = min(rows, key=_rank)
    if best["changed"] and max_fp32 > 0:
        base = best["scheme"]
        probe = np.unique(np.linspace(0, len(mels) - 1, min(probe_clips, len(mels))).astype(int))
        nodes = weight_matmuls(protos[base.grid])
        sensitivity = {}
        for node in nodes:  # only `node` int8
            alone = Int8Scheme(base.per_channel, base.grid, tuple(n for n in nodes if n != node))
            sensitivity[node] = score(alone, probe)["mean_logit_err"]
        ranked = sorted(nodes, key=lambda n: -sensitivity[n])
        log(
            "sensitivity (logit error with only that MatMul int8): "
            + ", ".join(f"{n.removesuffix(MATMUL_SUFFIX)} {sensitivity[n]:.4f}" for n in ranked[:8])
        )
        for k in range(1, min(max_fp32, len(nodes)) + 1):
            scheme = Int8Scheme(base.per_channel, base.grid, tuple(ranked[:k]))
            rows.append(score(scheme))
            rows[-1]["sensitivity"] = {n: sensitivity[n] for n in ranked[:k]}
            log(_describe(rows[-1], split))
            if rows[-1]["changed"] == 0:
                break
    chosen = min(rows, key=_rank)["scheme"]
    log(f"int8 scheme chosen on {split}: {chosen.name}")
    return chosen, rows


def _rank(row: dict) -> tuple:
    return row["changed"], len(row["scheme"].fp32), row["mean_logit_err"]


def _describe(row: dict, split: str) -> str:
    return (
        f"{row['scheme'].name}: {row['changed']} {split} predictions changed vs fp32, "
        f"logit error mean {row['mean_logit_err']:.4f} max {row['max_logit_err']:.3f}"
        + (f" (fp32: {', '.join(row['scheme'].fp32)})" if row["scheme"].fp32 else "")
    )


def corpus_accuracy(
    model: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "valid",
    layout: str | None = None,
    threads: int | None = None,
    batch_size: int = 16,
) -> dict:
    """Accuracy and macro-F1 of a .onnx or .quads model on a corpus split, on onnxruntime
    (the model's top answer, no rejection)."""
    from quads.runtime.session import load

    runtime = load(model, threads)
    layout = layout or runtime.meta.get("layout", "fsc")
    corpus = read_corpus(data, layout, split)
    preds = runtime.predict([u.path for u in corpus.utterances], 1, False, batch_size)
    truth = [u.label for u in corpus.utterances]
    result = evaluate_predictions(truth, [p.best for p in preds], runtime.labels, layout)
    return {"accuracy": result["accuracy"], "f1": result["f1"], "n": len(truth)}
