"""Prediction on the device: an ONNX Runtime session over a `.onnx` or `.quads` file.

    session = IntentSession("model.quads")          # or an exported model.onnx
    session.predict_files(["clip.wav"], top=3)      # [[("intent", p), ...]]

A `.onnx` file (from `quads export MODEL.quads --onnx OUT.onnx`) needs numpy + onnxruntime
(+ soundfile to read audio); the session folds its codes + codebooks into dense weights once,
at start. A `.quads` file is decoded in numpy and its graph built in memory (which also needs
the small `onnx` package) with the dense weights handed to the session directly, so they are
never serialized or folded: that halves the peak memory of a cold start. Nothing here imports
torch or transformers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from quads.runtime.audio import SAMPLE_RATE, AudioError, fit_to_context, load_audio, log_mel


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
    """Audio clips in, intents out, with numpy + onnxruntime."""

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
        self.n_samples = int(round(self.context_seconds * SAMPLE_RATE))

    def inputs(self, audio: np.ndarray) -> np.ndarray:
        """Audio (B, n_samples) at the model's context -> what the graph takes."""
        return audio if self.input == "audio" else log_mel(audio, self.n_mels)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """The graph's input (log-mel (B, n_mels, frames), or audio) -> logits (B, intents)."""
        return self.session.run(["logits"], {self.input: batch.astype(np.float32)})[0]

    def load(self, source: str | os.PathLike | np.ndarray) -> np.ndarray:
        """A file or a 16 kHz mono array, fitted to the model's context."""
        if isinstance(source, np.ndarray):
            if source.ndim != 1 or source.size == 0 or not np.isfinite(source).all():
                raise AudioError("<array>: expected non-empty finite mono audio (samples,)")
            return fit_to_context(source.astype(np.float32), self.n_samples)
        return fit_to_context(load_audio(source), self.n_samples, source)

    def predict_files(
        self, sources: list[str | os.PathLike | np.ndarray], top: int = 3
    ) -> list[list[tuple[str, float]]]:
        """For each clip, the `top` intents with their probabilities."""
        audio = np.stack([self.load(s) for s in sources])
        logits = self.logits(self.inputs(audio)).astype(np.float64)
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        order = np.argsort(-probs, axis=-1, kind="stable")[:, :top]
        return [[(self.labels[i], float(p[i])) for i in row] for p, row in zip(probs, order)]
