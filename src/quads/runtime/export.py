"""`quads export MODEL.quads -o OUT.onnx`: a .quads file as an ONNX model, fp32 or int8.

fp32 keeps codebook layers as codes + codebook (see `graph.py`), so the file stays near the
size of the packed model. int8 is ONNX Runtime's dynamic quantization of the encoder's
matrix products (weights int8, activations quantized per call from their own range); it
needs dense weights first, and it changes logits. This module holds the one int8 recipe
(`Int8Scheme`, `quantize_int8`); which scheme a model gets is chosen on validation data at
build time (`quads.evaluation.int8.choose_int8`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from quads.runtime.graph import FRONTEND_MATMULS, MATMUL_SUFFIX, build_model
from quads.runtime.quadsfile import Codebook, read_quads


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
