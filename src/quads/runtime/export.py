"""`quads export MODEL.quads --onnx OUT.onnx`: a .quads file as an ONNX model, fp32 or int8.

fp32 keeps codebook layers as codes + codebook (see `graph.py`), so the file stays near the
size of the packed model. int8 is ONNX Runtime's dynamic quantization of the encoder's
matrix products (weights int8, activations quantized per call from their own range); it
needs dense weights first, and it changes logits, so `compare_accuracy` measures both on a
corpus split before anyone relies on it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import onnx

from quads.runtime.graph import FRONTEND_MATMULS, build_model
from quads.runtime.quadsfile import read_quads


def export_onnx(
    model: str | os.PathLike,
    out: str | os.PathLike,
    int8: bool = False,
    per_channel: bool = False,
    frontend: bool = False,
) -> int:
    """Write the ONNX model of a .quads file to `out`; returns its size in bytes.

    int8: dynamic int8 quantization of every MatMul with a constant weight (per-tensor, or
    per output channel with `per_channel`); frontend: raw audio in (see `graph.py`)."""
    header, tensors = read_quads(model)
    weights = "dense" if int8 else "codes"
    proto = build_model(header["spec"], tensors, header["meta"], weights, frontend)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if int8:
            quantize_int8(proto, tmp, per_channel)
        else:
            onnx.save(proto, str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out.stat().st_size


def quantize_int8(proto: onnx.ModelProto, out: Path, per_channel: bool = False) -> None:
    """ONNX Runtime dynamic int8 quantization of the weight MatMuls (the log-mel frontend's
    DFT and filter products stay fp32: their inputs span too many decades for int8)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "fp32.onnx"
        onnx.save(proto, str(src))
        quantize_dynamic(
            src,
            out,
            op_types_to_quantize=["MatMul"],
            per_channel=per_channel,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(FRONTEND_MATMULS),
            extra_options={"MatMulConstBOnly": True},
        )
    quantized = onnx.load(str(out))
    if not any(p.key == "quads" for p in quantized.metadata_props):  # keep labels and settings
        onnx.helper.set_model_props(quantized, {p.key: p.value for p in proto.metadata_props})
        onnx.save(quantized, str(out))


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
