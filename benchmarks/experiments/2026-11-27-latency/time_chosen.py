"""p50 of the final demo model's int8 variants, 1 thread, interleaved rounds (CPU time of the
call). Run from the repository root: the model path is relative to it."""

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from quads.runtime.export import Int8Scheme, export_onnx
from quads.runtime.session import session_options

m = "runs/demo/quads-4bit/model.quads"
tmp = Path(tempfile.mkdtemp())
mixed = Int8Scheme(
    per_channel=True,
    fp32=(
        "encoder.layers.3.fc1.matmul",
        "head.matmul",
        "encoder.layers.3.fc2.matmul",
        "encoder.layers.2.fc2.matmul",
    ),
)
files = {
    "fp32": (tmp / "fp32.onnx", False),
    "int8-channel": (tmp / "ch.onnx", Int8Scheme(per_channel=True)),
    "int8-channel+fp32x4": (tmp / "mix.onnx", mixed),
}
sess = {}
for k, (f, s) in files.items():
    export_onnx(m, f, s)
    sess[k] = ort.InferenceSession(str(f), session_options(1), providers=["CPUExecutionProvider"])
mel = np.random.default_rng(0).standard_normal((1, 80, 300)).astype(np.float32)
t = {k: [] for k in sess}
for _ in range(3):
    for s in sess.values():
        s.run(None, {"mel": mel})
for _ in range(60):
    for k, s in sess.items():
        s.run(None, {"mel": mel})
        a = time.thread_time()
        s.run(None, {"mel": mel})
        t[k].append(1000 * (time.thread_time() - a))
for k, v in t.items():
    print(f"{k:22s} cpu p50 {statistics.median(v):.1f} ms  p90 {np.percentile(v, 90):.1f} ms")
