"""The ONNX graph of a QUADS student, built from the arrays of a `.quads` file (no torch).

The graph computes what `SLUModel.forward` computes (Whisper encoder: two GELU convolutions,
sinusoidal positions, pre-LayerNorm attention blocks, a final LayerNorm; then mean or
attention pooling over time and the linear head), with the number of frames left free.

Weights of codebook layers can stay codes + codebook (`weights="codes"`): a 4-bit layer's
codes travel two to a byte, the graph unpacks them and gathers the centroids, and ONNX
Runtime folds that into dense weights once, when the session starts. The file is then about
as small as the `.quads` file without entropy coding. `weights="dense"` stores dense fp32
matrices (what the int8 quantizer needs). `frontend=True` puts Whisper's log-mel inside the
graph (framing, a DFT as two matrix products, mel filters, log): the input is then raw 16 kHz
audio of a fixed length, which is what the web page feeds.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from quads.runtime.audio import HOP_LENGTH, N_FFT, hann_window, mel_filters
from quads.runtime.heads import Heads
from quads.runtime.quadsfile import Codebook

OPSET = 17
LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default, which HF's WhisperEncoder uses
WEIGHTS = ("codes", "dense")
FRONTEND_MATMULS = ("frontend_dft_re", "frontend_dft_im", "frontend_mel")  # kept fp32 in int8
OUTSIDE_BYTES = 1 << 16
MATMUL_SUFFIX = ".matmul"  # a linear layer's MatMul node: f"{layer}{MATMUL_SUFFIX}"


def _placeholder(name: str, array: np.ndarray) -> onnx.TensorProto:
    """An initializer whose data lives outside the proto (supplied when the session starts)."""
    tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype))
    tensor.dims.extend(array.shape)
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="supplied-at-session-start")
    return tensor


class _Graph:
    """Collects nodes and initializers; every helper returns the name of its output.

    With `outside` (a dict), arrays of OUTSIDE_BYTES or more are not copied into the proto:
    the proto gets a placeholder with external data and `outside[name]` the array, for
    `onnxruntime.SessionOptions.add_external_initializers`."""

    def __init__(self, outside: dict[str, np.ndarray] | None = None) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.outside = outside
        self._n = 0

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, array: np.ndarray, hint: str = "c") -> str:
        name = self._name(hint)
        array = np.asarray(array)
        if self.outside is not None and array.nbytes >= OUTSIDE_BYTES:
            self.inits.append(_placeholder(name, array))
            self.outside[name] = np.ascontiguousarray(array)
        else:
            self.inits.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        out = out or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def scalar(self, value: float) -> str:
        return self.const(np.array(value, np.float32), "k")

    def ints(self, *values: int) -> str:
        return self.const(np.array(values, np.int64), "i")

    # ------------------------------------------------------------------ building blocks

    def weight(self, w: np.ndarray | Codebook, transpose: bool, mode: str, hint: str) -> str:
        """A layer's weight, transposed for MatMul if asked: dense, or codes + codebook."""
        if not isinstance(w, Codebook) or mode == "dense":
            dense = w.dense() if isinstance(w, Codebook) else w
            return self.const(np.ascontiguousarray(dense.T if transpose else dense), hint)
        codes = np.ascontiguousarray(w.codes.T if transpose else w.codes)
        book = self.const(w.centroids.astype(np.float32), hint + "_codebook")
        if w.bits <= 4 and codes.size % 2 == 0:  # two codes per byte, low nibble first
            flat = codes.ravel()
            packed = self.const(flat[0::2] | (flat[1::2] << 4), hint + "_codes4")
            hi = self.op("BitShift", packed, self.const(np.array(4, np.uint8)), direction="RIGHT")
            hi = self.op("Cast", hi, to=TensorProto.INT32)
            whole = self.op("Cast", packed, to=TensorProto.INT32)
            lo = self.op("Sub", whole, self.op("Mul", hi, self.const(np.array(16, np.int32))))
            pairs = self.op(
                "Concat",
                self.op("Unsqueeze", lo, self.ints(1)),
                self.op("Unsqueeze", hi, self.ints(1)),
                axis=1,
            )
            index = self.op("Reshape", pairs, self.ints(*codes.shape))
        else:
            index = self.op("Cast", self.const(codes, hint + "_codes8"), to=TensorProto.INT32)
        return self.op("Gather", book, index, axis=0)

    def linear(self, x: str, t: dict, name: str, mode: str) -> str:
        """x @ W.T + b; the MatMul node is named after the layer (`{name}.matmul`), which is
        how the int8 recipe names the layers it keeps fp32."""
        w = self.weight(t[f"{name}.weight"], True, mode, name)
        y = self.op("MatMul", x, w, out=f"{name}{MATMUL_SUFFIX}")
        if f"{name}.bias" in t:
            y = self.op("Add", y, self.const(t[f"{name}.bias"], name + "_bias"))
        return y

    def layer_norm(self, x: str, t: dict, name: str) -> str:
        scale, bias = (self.const(t[f"{name}.{k}"], f"{name}_{k}") for k in ("weight", "bias"))
        return self.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=LAYER_NORM_EPS)

    def gelu(self, x: str) -> str:
        """Exact (erf) GELU; ONNX Runtime fuses this pattern into one kernel."""
        erf = self.op("Erf", self.op("Div", x, self.scalar(np.sqrt(2.0))))
        return self.op(
            "Mul", self.op("Mul", x, self.scalar(0.5)), self.op("Add", erf, self.scalar(1.0))
        )

    def conv(self, x: str, t: dict, name: str, stride: int, mode: str) -> str:
        w = self.weight(t[f"{name}.weight"], False, mode, name)
        b = self.const(t[f"{name}.bias"], name + "_bias")
        return self.op("Conv", x, w, b, kernel_shape=[3], pads=[1, 1], strides=[stride])

    def attention(
        self, x: str, t: dict, name: str, heads: int, dim: int, mode: str, bias: str
    ) -> str:
        """Self-attention; `bias` (B, 1, 1, T) is 0 for speech keys, -1e9 for padding."""
        head_dim = dim // heads
        split = self.ints(0, 0, heads, head_dim)
        q, k, v = (
            self.op("Reshape", self.linear(x, t, f"{name}.{p}_proj", mode), split) for p in "qkv"
        )
        q = self.op("Transpose", q, perm=[0, 2, 1, 3])  # (B, H, T, hd)
        k = self.op("Transpose", k, perm=[0, 2, 3, 1])  # (B, H, hd, T)
        v = self.op("Transpose", v, perm=[0, 2, 1, 3])
        scores = self.op("Mul", self.op("MatMul", q, k), self.scalar(head_dim**-0.5))
        scores = self.op("Add", scores, bias)
        ctx = self.op("MatMul", self.op("Softmax", scores, axis=-1), v)
        ctx = self.op("Reshape", self.op("Transpose", ctx, perm=[0, 2, 1, 3]), self.ints(0, 0, dim))
        return self.linear(ctx, t, f"{name}.out_proj", mode)

    def speech_mask(self, mel: str, x: str) -> str:
        """(B, T) float, 1 for the encoder positions holding speech, 0 for padding: as
        `quads.models.student.encoder_mask`, the frames before the trailing run of frames
        whose every mel bin sits at the clip's floor (its minimum), two frames a position."""
        floor = self.op("ReduceMin", mel, axes=[1, 2], keepdims=1)
        speech = self.op("Cast", self.op("Greater", mel, floor), to=TensorProto.FLOAT)
        speech = self.op("ReduceMax", speech, axes=[1], keepdims=0)  # (B, frames)
        n_frames = self.op("Gather", self.op("Shape", speech), self.ints(1), axis=0)
        index = self.op(
            "Cast",
            self.op(
                "Range",
                self.ints(1),
                self.op("Add", self.op("Squeeze", n_frames), self.const(np.array(1, np.int64))),
                self.const(np.array(1, np.int64)),
            ),
            to=TensorProto.FLOAT,
        )  # 1..frames
        last = self.op("ReduceMax", self.op("Mul", speech, index), axes=[1], keepdims=1)
        valid = self.op(
            "Floor",
            self.op(
                "Div",
                self.op("Add", self.op("Max", last, self.scalar(1.0)), self.scalar(1.0)),
                self.scalar(2.0),
            ),
        )  # (B, 1)
        n_pos = self.op("Gather", self.op("Shape", x), self.ints(1), axis=0)
        pos = self.op(
            "Cast",
            self.op(
                "Range",
                self.const(np.array(0, np.int64)),
                self.op("Squeeze", n_pos),
                self.const(np.array(1, np.int64)),
            ),
            to=TensorProto.FLOAT,
        )
        return self.op(
            "Cast",
            self.op("Less", self.op("Unsqueeze", pos, self.ints(0)), valid),
            to=TensorProto.FLOAT,
        )

    def positions(self, x: str, dim: int) -> str:
        """Whisper's sinusoidal table for the frames of `x` (B, T, D), computed in the graph."""
        frames = self.op("Gather", self.op("Shape", x), self.ints(1), axis=0)
        t = self.op(
            "Cast",
            self.op("Range", self.ints(0), self.op("Squeeze", frames), self.ints(1)),
            to=TensorProto.FLOAT,
        )
        inv = np.exp(-np.log(10000.0) / (dim // 2 - 1) * np.arange(dim // 2)).astype(np.float32)
        scaled = self.op("Mul", self.op("Unsqueeze", t, self.ints(1)), self.const(inv[None, :]))
        return self.op("Concat", self.op("Sin", scaled), self.op("Cos", scaled), axis=1)

    def frontend(self, audio: str, n_samples: int, n_mels: int) -> str:
        """Raw audio (B, n_samples) -> Whisper log-mel (B, n_mels, n_samples // 160)."""
        pad = N_FFT // 2
        padded = self.op("Pad", audio, self.ints(0, pad, 0, pad), mode="reflect")
        n_frames = n_samples // HOP_LENGTH  # 1 + n // hop frames, the last one dropped

        def scalar(v: int) -> str:
            return self.const(np.array(v, np.int64))

        starts = self.op("Range", scalar(0), scalar(n_frames * HOP_LENGTH), scalar(HOP_LENGTH))
        offsets = self.op("Range", scalar(0), scalar(N_FFT), scalar(1))
        index = self.op(  # index[f, j] = f * hop + j, built in the graph (not stored)
            "Add",
            self.op("Unsqueeze", starts, self.ints(1)),
            self.op("Unsqueeze", offsets, self.ints(0)),
        )
        frames = self.op("Gather", padded, index, axis=1)
        n = np.arange(N_FFT)[:, None]
        f = np.arange(N_FFT // 2 + 1)[None, :]
        angle = 2 * np.pi * n * f / N_FFT
        window = hann_window().astype(np.float64)[:, None]
        cos, sin = (
            (window * np.cos(angle)).astype(np.float32),
            (window * np.sin(angle)).astype(np.float32),
        )
        re = self.op("MatMul", frames, self.const(cos), out=FRONTEND_MATMULS[0])
        im = self.op("MatMul", frames, self.const(sin), out=FRONTEND_MATMULS[1])
        power = self.op("Add", self.op("Mul", re, re), self.op("Mul", im, im))
        mel = self.op("MatMul", power, self.const(mel_filters(n_mels)), out=FRONTEND_MATMULS[2])
        log = self.op(
            "Mul",
            self.op("Log", self.op("Max", mel, self.scalar(1e-10))),
            self.scalar(1 / np.log(10.0)),
        )
        peak = self.op("ReduceMax", log, axes=[1, 2], keepdims=1)
        log = self.op("Max", log, self.op("Sub", peak, self.scalar(8.0)))
        scaled = self.op("Div", self.op("Add", log, self.scalar(4.0)), self.scalar(4.0))
        return self.op("Transpose", scaled, perm=[0, 2, 1])


def build_model(
    spec: dict,
    tensors: dict[str, np.ndarray | Codebook],
    meta: dict | None = None,
    weights: str = "codes",
    frontend: bool = False,
    outside: dict[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """The ONNX model of a student: input "mel" (B, n_mels, frames) or, with `frontend`,
    "audio" (B, samples at the model's context); outputs "logits" and "probs" (B, heads: the
    intents, then each slot's values + "absent"; probs is a softmax per head).

    `spec` and `tensors` are what `quadsfile.read_quads` returns (header["spec"] and the
    arrays); `meta` (labels, feature settings) rides along in the model's metadata.
    `outside` (an empty dict, with weights="dense") receives the large weights instead of
    the proto: a session built from them holds one copy of the dense weights, where folding
    codes + codebooks at session start peaks at several (see `runtime.session`)."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    cfg = spec["whisper_config"]
    if cfg.get("activation_function", "gelu") != "gelu":
        raise ValueError(f"unsupported activation {cfg['activation_function']!r} (gelu only)")
    if cfg.get("scale_embedding"):
        raise ValueError("scale_embedding=True is not supported")
    dim, heads = int(cfg["d_model"]), int(cfg["encoder_attention_heads"])
    n_mels, labels = int(spec["n_mels"]), list(spec["labels"])
    context = int(cfg["max_source_positions"]) / 50
    if outside is not None and weights != "dense":
        raise ValueError("outside weights are dense weights: pass weights='dense'")
    t = {
        k: (v.astype(np.float32, copy=False) if isinstance(v, np.ndarray) else v)
        for k, v in tensors.items()
    }
    e = "encoder"
    g = _Graph(outside)

    if frontend:
        n_samples = int(round(context * 16000))
        graph_input = helper.make_tensor_value_info(
            "audio", TensorProto.FLOAT, ["batch", n_samples]
        )
        mel = g.frontend("audio", n_samples, n_mels)
    else:
        graph_input = helper.make_tensor_value_info(
            "mel", TensorProto.FLOAT, ["batch", n_mels, "frames"]
        )
        mel = "mel"
    x = g.gelu(g.conv(mel, t, f"{e}.conv1", 1, weights))
    x = g.gelu(g.conv(x, t, f"{e}.conv2", 2, weights))
    x = g.op("Transpose", x, perm=[0, 2, 1])  # (B, T, D)
    pos = t[f"{e}.embed_positions.weight"]
    if _is_sinusoid_table(pos):
        x = g.op("Add", x, g.positions(x, dim))
    else:  # a trained table: the first T rows
        frames = g.op("Gather", g.op("Shape", x), g.ints(1), axis=0)
        table = g.op("Slice", g.const(pos, "positions"), g.ints(0), frames, g.ints(0))
        x = g.op("Add", x, table)
    mask = g.speech_mask(mel, x)  # (B, T): padding hidden from attention and pooling
    bias = g.op(
        "Unsqueeze", g.op("Mul", g.op("Sub", mask, g.scalar(1.0)), g.scalar(1e9)), g.ints(1, 2)
    )
    for i in range(int(cfg["encoder_layers"])):
        p = f"{e}.layers.{i}"
        h = g.attention(
            g.layer_norm(x, t, f"{p}.self_attn_layer_norm"),
            t,
            f"{p}.self_attn",
            heads,
            dim,
            weights,
            bias,
        )
        x = g.op("Add", x, h)
        h = g.linear(g.layer_norm(x, t, f"{p}.final_layer_norm"), t, f"{p}.fc1", weights)
        x = g.op("Add", x, g.linear(g.gelu(h), t, f"{p}.fc2", weights))
    x = g.layer_norm(x, t, f"{e}.layer_norm")
    mask3 = g.op("Unsqueeze", mask, g.ints(2))  # (B, T, 1)
    pooling = spec.get("pooling", "mean")
    heads = Heads.of(labels, spec.get("slots"))
    if pooling in ("attention", "heads"):
        score = g.linear(x, t, "pool.score", weights)  # (B, T, pools)
        score = g.op("Add", score, g.op("Mul", g.op("Sub", mask3, g.scalar(1.0)), g.scalar(1e9)))
        score = g.op("Softmax", score, axis=1)
        if pooling == "attention":
            pooled = g.op("ReduceSum", g.op("Mul", x, score), g.ints(1), keepdims=0)
        else:  # one average per head: (B, pools, T) @ (B, T, D)
            pooled = g.op("MatMul", g.op("Transpose", score, perm=[0, 2, 1]), x)
    else:  # mean over the speech positions
        total = g.op("ReduceSum", g.op("Mul", x, mask3), g.ints(1), keepdims=0)
        pooled = g.op("Div", total, g.op("ReduceSum", mask, g.ints(1), keepdims=1))
    logits = g.linear(pooled, t, "head", weights)
    if pooling == "heads":  # each output from its own head's average (SLUModel.classify)
        owner = np.repeat(np.arange(len(heads.sizes)), heads.sizes)
        one_hot = (owner[None, :] == np.arange(len(heads.sizes))[:, None]).astype(np.float32)
        logits = g.op("Mul", logits, g.const(one_hot, "head_mask"))
        g.op("ReduceSum", logits, g.ints(1), keepdims=0)
    g.nodes[-1].output[0] = "logits"
    if len(heads.sizes) == 1:
        g.op("Softmax", "logits", out="probs", axis=-1)
    else:  # a softmax per head: the intents, then each slot's values + "absent"
        parts = [g._name("head") for _ in heads.sizes]
        split = helper.make_node("Split", ["logits", g.ints(*heads.sizes)], parts, axis=-1)
        g.nodes.append(split)
        g.op("Concat", *[g.op("Softmax", part, axis=-1) for part in parts], out="probs", axis=-1)

    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", heads.width])
        for name in ("logits", "probs")
    ]
    graph = helper.make_graph(g.nodes, "quads_student", [graph_input], outputs, g.inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="quads"
    )
    model.ir_version = 8  # readable by onnxruntime >= 1.10 and onnxruntime-web
    info = dict(meta or {})
    info.update(
        labels=labels,
        slots=heads.to_spec(),
        input="audio" if frontend else "mel",
        n_mels=n_mels,
        context_seconds=context,
    )
    helper.set_model_props(model, {"quads": json.dumps(info)})
    if outside is None:  # the checker would look for the placeholders' data on disk
        onnx.checker.check_model(model)
    return model


def _is_sinusoid_table(table: np.ndarray) -> bool:
    from quads.runtime.quadsfile import sinusoids

    if table.ndim != 2 or table.shape[1] % 2:
        return False
    return bool(np.abs(table - sinusoids(*table.shape)).max() <= 1e-3)
