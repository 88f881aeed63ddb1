"""`quads export MODEL.quads --onnx OUT.onnx`: a .quads file as an ONNX model, fp32 or int8.

fp32 keeps codebook layers as codes + codebook (see `graph.py`), so the file stays near the
size of the packed model. int8 is ONNX Runtime's dynamic quantization of the encoder's
matrix products (weights int8, activations quantized per call from their own range); it
needs dense weights first, and it changes logits. This module holds the one int8 recipe
(`Int8Scheme`, `quantize_int8`) and how a scheme is chosen for a model (`choose_int8`):
on a validation split, by the predictions that change against fp32, then the logit error,
then the cost; the layers whose int8 error moves the logits most can stay fp32.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx

from quads.runtime.audio import SAMPLE_RATE, fit_to_context, load_audio, log_mel
from quads.runtime.graph import FRONTEND_MATMULS, MATMUL_SUFFIX, build_model
from quads.runtime.quadsfile import Codebook, read_quads

if TYPE_CHECKING:
    from quads.runtime.session import IntentSession


@dataclass(frozen=True)
class Int8Scheme:
    """How a model becomes int8: weight scales per tensor or per output channel; `grid`:
    each codebook layer's centroids first rounded to multiples of max|c| / 127, so that
    per-tensor int8 holds the (rounded) weights exactly; `fp32`: the weight MatMuls (named
    `{layer}.matmul`, see `graph.MATMUL_SUFFIX`) left in fp32, a mixed-precision model."""

    per_channel: bool = False
    grid: bool = False
    fp32: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        name = "int8" + ("-channel" if self.per_channel else "") + ("-grid" if self.grid else "")
        return name + (f"+fp32x{len(self.fp32)}" if self.fp32 else "")

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "per_channel": self.per_channel,
            "grid": self.grid,
            "fp32": list(self.fp32),
        }


PLAIN_SCHEMES = (Int8Scheme(), Int8Scheme(per_channel=True), Int8Scheme(grid=True))


def export_onnx(
    model: str | os.PathLike,
    out: str | os.PathLike,
    int8: bool | Int8Scheme = False,
    frontend: bool = False,
) -> int:
    """Write the ONNX model of a .quads file to `out`; returns its size in bytes.

    int8: an `Int8Scheme` (True: the plain per-tensor one), dynamic int8 quantization of the
    MatMuls with a constant weight; frontend: raw audio in (see `graph.py`)."""
    scheme = Int8Scheme() if int8 is True else int8 or None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if scheme is not None:
            quantize_int8(dense_model(model, scheme.grid, frontend), tmp, scheme)
        else:
            header, tensors = read_quads(model)
            onnx.save(
                build_model(header["spec"], tensors, header["meta"], "codes", frontend), str(tmp)
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out.stat().st_size


def snap_to_int8_grid(tensors: dict) -> dict:
    """Each codebook layer's centroids rounded to multiples of max|c| / 127."""
    out = {}
    for name, t in tensors.items():
        if isinstance(t, Codebook):
            scale = float(np.abs(t.centroids).max()) / 127 or 1.0
            t = Codebook(
                t.codes, (np.round(t.centroids / scale) * scale).astype(np.float32), t.bits
            )
        out[name] = t
    return out


def dense_model(model: str | os.PathLike, grid: bool = False, frontend: bool = False):
    """The fp32 ONNX model of a .quads file with dense weights (what int8 starts from)."""
    header, tensors = read_quads(model)
    if grid:
        tensors = snap_to_int8_grid(tensors)
    return build_model(header["spec"], tensors, header["meta"], "dense", frontend)


def weight_matmuls(proto: onnx.ModelProto) -> list[str]:
    """The MatMul nodes of the model's linear layers, in graph order (the int8 candidates)."""
    return [
        n.name for n in proto.graph.node if n.op_type == "MatMul" and n.name.endswith(MATMUL_SUFFIX)
    ]


def quantize_int8(proto: onnx.ModelProto, out: Path, scheme: Int8Scheme = Int8Scheme()) -> None:
    """ONNX Runtime dynamic int8 quantization of the weight MatMuls but those `scheme.fp32`
    names (the log-mel frontend's DFT and filter products stay fp32 too: their inputs span
    too many decades for int8). `proto` has dense weights (`dense_model`, with
    `scheme.grid` applied there); the scheme rides along in the model's metadata."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    unknown = set(scheme.fp32) - set(weight_matmuls(proto))
    if unknown:
        raise ValueError(f"no weight MatMul named {sorted(unknown)} in the model")
    with tempfile.TemporaryDirectory() as tmp, _quiet_quantizer():
        src = Path(tmp) / "fp32.onnx"
        onnx.save(proto, str(src))
        quantize_dynamic(
            src,
            out,
            op_types_to_quantize=["MatMul"],
            per_channel=scheme.per_channel,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(FRONTEND_MATMULS) + list(scheme.fp32),
            extra_options={"MatMulConstBOnly": True},
        )
    quantized = onnx.load(str(out))
    props = {p.key: p.value for p in proto.metadata_props}  # labels and settings
    if "quads" in props:
        info = json.loads(props["quads"])
        info["int8"] = scheme.to_json()
        props["quads"] = json.dumps(info)
    onnx.helper.set_model_props(quantized, props)
    onnx.save(quantized, str(out))


class _QuietQuantizer(logging.Filter):
    """Drops what onnxruntime's quantizer logs to the root logger on every call: its INFO
    lines (one per tensor) and the advice to pre-process shapes (the graph comes with its
    shapes from `graph.py`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ours = "onnxruntime" in record.pathname.replace("\\", "/").split("/")
        advice = str(record.msg).startswith("Please consider to run pre-processing")
        return not (ours and (record.levelno < logging.WARNING or advice))


@contextlib.contextmanager
def _quiet_quantizer():
    root, quiet = logging.getLogger(), _QuietQuantizer()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def split_mels(
    data: str | os.PathLike, split: str, n_mels: int, context_seconds: float, layout: str
) -> tuple[np.ndarray, list[str]]:
    """Log-mel (N, n_mels, frames) of a corpus split at the model's context, and its labels."""
    from quads.data.corpus import read_corpus

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
    from quads.runtime.session import IntentSession

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
    from quads.runtime.session import IntentSession

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
    """Accuracy and macro-F1 of a .onnx or .quads model on a corpus split, via the runtime."""
    from quads.data.corpus import read_corpus
    from quads.evaluate.metrics import evaluate_predictions
    from quads.runtime.session import IntentSession

    session = IntentSession(model, threads)
    layout = layout or session.meta.get("layout", "fsc")
    corpus = read_corpus(data, layout, split)
    preds: list[str] = []
    for i in range(0, len(corpus.utterances), batch_size):
        batch = corpus.utterances[i : i + batch_size]
        audio = np.stack([session.load(u.path) for u in batch])
        logits = session.logits(session.inputs(audio))
        preds += [session.labels[j] for j in logits.argmax(-1)]
    truth = [u.label for u in corpus.utterances]
    result = evaluate_predictions(truth, preds, session.labels, layout)
    return {"accuracy": result["accuracy"], "f1": result["f1"], "n": len(truth)}
