"""The onnxruntime backend: a session over a `.onnx` or `.quads` file, no torch.

    model = load("model.quads")          # or an exported model.onnx
    model.predict(["clip.wav"])          # [Prediction(...)], see quads.runtime.predict

A `.onnx` file (from `quads export MODEL.quads -o OUT.onnx`) needs numpy + onnxruntime
(+ soundfile to read audio); the session folds its codes + codebooks into dense weights once,
at start. A `.quads` file is decoded in numpy and its graph built in memory (which also needs
the small `onnx` package) with the dense weights handed to the session directly, so they are
never serialized or folded: that halves the peak memory of a cold start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from quads.runtime.audio import log_mel
from quads.runtime.predict import Model


def session_options(threads: int | None = None) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return opts


def start_session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    """An ONNX Runtime session over a `.onnx` file, or over the graph of a `.quads` file with
    its weights passed from numpy."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    opts = session_options(threads)
    if path.suffix == ".onnx":
        data = path.read_bytes()
    else:
        from quads.runtime.graph import build_model
        from quads.runtime.quadsfile import read_quads

        header, tensors = read_quads(path)
        weights: dict[str, np.ndarray] = {}
        proto = build_model(header["spec"], tensors, header["meta"], "dense", outside=weights)
        del tensors
        data = proto.SerializeToString()
        opts.add_external_initializers(
            list(weights), [ort.OrtValue.ortvalue_from_numpy(w) for w in weights.values()]
        )
    try:
        return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's errors share no base class but Exception
        raise ValueError(f"{path}: not a usable ONNX model ({e})") from None


class IntentSession:
    """An onnxruntime session over a model, with the model's description (`meta`)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = start_session(self.path, threads)
        props = self.session.get_modelmeta().custom_metadata_map
        if "quads" not in props:
            raise ValueError(f"{self.path}: an ONNX model without quads metadata (labels)")
        self.meta = json.loads(props["quads"])
        self.labels: list[str] = self.meta["labels"]
        self.n_mels = int(self.meta["n_mels"])
        self.input = self.session.get_inputs()[0].name  # "mel" or "audio"
        features = self.meta.get("features", {})
        self.context_seconds = float(features.get("context_seconds", self.meta["context_seconds"]))

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """The graph's input (log-mel (B, n_mels, frames), or audio) -> logits (B, intents)."""
        return self.session.run(["logits"], {self.input: batch.astype(np.float32)})[0]

    def audio_logits(self, audio: np.ndarray) -> np.ndarray:
        """Audio (B, samples) at the model's context -> logits (B, intents)."""
        return self.logits(audio if self.input == "audio" else log_mel(audio, self.n_mels))


def load(path: str | os.PathLike, threads: int | None = None) -> Model:
    """A `.quads` or `.onnx` model on onnxruntime, ready to predict."""
    session = IntentSession(path, threads)
    meta = {**session.meta, "context_seconds": session.context_seconds}
    return Model(session.audio_logits, meta, "onnxruntime", str(path))
