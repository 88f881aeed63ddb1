"""The `.quads` file: a packed QUADS model that loads and runs without any training code.

Layout (integers little-endian):

    magic        8 bytes   b"QUADSMDL"
    version      uint32    FORMAT_VERSION
    header_len   uint64    bytes of the JSON header
    payload_len  uint64    bytes of the payload
    header       UTF-8 JSON {"spec": SLUModel.spec(), "meta": {...}, "tensors": [entry, ...]}
    payload      the tensors, back to back, at the [offset, nbytes] spans of the table
    checksum     32 bytes  sha256 of everything before it

Each table entry names a key of `SLUModel.state_dict()` and has a kind:

    codebook  a codebook layer's weight: its 2^b centroids in fp16 ("codebook" span), then
              its codes at exactly b bits each ("codes" span): code i occupies bits
              i*b .. i*b+b-1 of the stream, least significant bit first. With
              "codec": "deflate" (format version 2) the span holds that stream
              entropy coded by DEFLATE (see `quads.runtime.quadsfile`).
    fp16      every other float tensor: biases, LayerNorms, layers kept at 16 bits.
    fp32      a dense layer weight that fp16 cannot hold exactly (a layer left at 32 bits).
    sinusoid  Whisper's fixed sinusoidal position table, regenerated on load (0 bytes).

So a file is at most params x bits / 8 for the codes plus a small overhead (codebooks, fp16 tensors,
header, checksum); `size_breakdown` states each part in bytes.

Loading trusts nothing the checksum vouches for (anyone can re-sign a file): the
architecture is checked against `LIMITS` and every tensor's shape against the spec before
anything is allocated; then the weights must be finite, the labels must fit the head, and
the feature settings in the meta must be ones the weights can serve. Every error names the
file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from transformers.models.whisper.modeling_whisper import sinusoids

from quads.models.student import SLUModel
from quads.quant.layers import CodebookLayer
from quads.runtime.audio import Trim
from quads.runtime.quadsfile import (
    QuadsFormatError,
    check_spec,
    decode_codes,
    encode_codes,
    pack_bits,  # noqa: F401  (re-exported: the bit layout of the codes)
    parse,
    span,
    unpack_bits,  # noqa: F401
)

MAGIC = b"QUADSMDL"
FORMAT_VERSION = 2  # 2: codes may be entropy coded (quads.runtime.quadsfile)
_PREFIX = struct.Struct("<8sIQQ")  # magic, version, header_len, payload_len
_CHECKSUM_BYTES = 32
_SINUSOID_TOL = 1e-3  # a position table this close to the sinusoid (fp16-rounded) is regenerated

MAX_PARAMS = 1_000_000_000
MAX_FILE_BYTES = 4 * 2**30


# --------------------------------------------------------------------------- writing


def _is_sinusoid(key: str, t: Tensor) -> bool:
    if not key.endswith("embed_positions.weight") or t.dim() != 2 or t.shape[1] % 2:
        return False
    return bool((t.detach().cpu().float() - sinusoids(*t.shape)).abs().max() <= _SINUSOID_TOL)


def _np(t: Tensor, dtype: str) -> bytes:
    return t.detach().cpu().float().numpy().astype(dtype).tobytes()


def _serialize(model: SLUModel, meta: dict, codec: str = "deflate") -> bytes:
    """The whole .quads file as bytes."""
    if not hasattr(model, "spec"):
        raise TypeError(f"save_quads needs an SLUModel (with .spec()), got {type(model).__name__}")
    modules = dict(model.named_modules())
    payload: list[bytes] = []
    size = 0

    def put(data: bytes) -> list[int]:
        nonlocal size
        payload.append(data)
        size += len(data)
        return [size - len(data), len(data)]

    table = []
    for key, t in model.state_dict().items():
        owner, _, leaf = key.rpartition(".")
        module = modules.get(owner)
        entry: dict = {"name": key, "shape": list(t.shape)}
        if isinstance(module, CodebookLayer):
            if leaf in ("codes", "latent", "anchor"):
                continue  # codes are stored with the centroids; latent weights only train
            if leaf == "centroids":
                codes, used = encode_codes(module.codes.cpu().numpy(), module.bits, codec)
                if used != "none":
                    entry["codec"] = used
                entry.update(
                    name=f"{owner}.weight",
                    kind="codebook",
                    shape=list(module.codes.shape),
                    bits=module.bits,
                    codebook=put(_np(t, "<f2")),
                    codes=put(codes),
                )
                table.append(entry)
                continue
        if not t.dtype.is_floating_point:
            raise ValueError(f"cannot pack {key}: unsupported dtype {t.dtype}")
        dense_weight = leaf == "weight" and isinstance(module, (nn.Linear, nn.Conv1d))
        if _is_sinusoid(key, t):
            entry["kind"] = "sinusoid"
        elif dense_weight and not torch.equal(t, t.to(torch.float16).to(t.dtype)):
            entry.update(kind="fp32", data=put(_np(t, "<f4")))
        else:
            entry.update(kind="fp16", data=put(_np(t, "<f2")))
        table.append(entry)

    try:
        header = json.dumps({"spec": model.spec(), "meta": meta, "tensors": table})
    except TypeError as e:
        raise ValueError(f"meta must be JSON-serializable: {e}") from None
    head = header.encode("utf-8")
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(head), size) + head + b"".join(payload)
    return body + hashlib.sha256(body).digest()


def save_quads(
    path: str | os.PathLike, model: SLUModel, meta: dict | None = None, codec: str = "deflate"
) -> int:
    """Write `model` (codebook layers packed at b bits) and JSON-able `meta` (labels, feature
    settings, bits, training info, ...) to `path` atomically; returns the bytes on disk.

    codec: "deflate" entropy codes each layer's codes (kept raw where that does not shrink
    them); "none" stores exactly params x b / 8 bytes of codes."""
    data = _serialize(model, meta or {}, codec)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(data)


# --------------------------------------------------------------------------- reading


def _decode(entry: dict, payload: memoryview) -> Tensor:
    shape = tuple(entry["shape"])
    n = int(np.prod(shape))
    kind = entry["kind"]
    if kind == "codebook":
        bits = int(entry["bits"])
        book = np.frombuffer(span(payload, entry["codebook"], 2 * 2**bits), "<f2")
        stored = span(payload, entry["codes"], entry["codes"][1])
        codes = decode_codes(stored, bits, n, entry.get("codec", "none"))
        array = book.astype(np.float32)[codes]  # the dense weight: codebook[codes]
    elif kind in ("fp16", "fp32"):
        dtype = "<f2" if kind == "fp16" else "<f4"
        array = np.frombuffer(span(payload, entry["data"], n * np.dtype(dtype).itemsize), dtype)
        array = array.astype(np.float32)
    elif kind == "sinusoid":
        return sinusoids(*shape)
    else:
        raise ValueError(f"unknown tensor kind {kind!r}")
    return torch.from_numpy(array.reshape(shape))


def _expected_shapes(spec: dict) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of the spec's model, built on the meta device (no memory)."""
    with torch.device("meta"):
        skeleton = SLUModel.from_spec(spec)
    shapes = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    params = sum(math.prod(s) for s in shapes.values())
    if params > MAX_PARAMS:
        raise ValueError(f"the spec declares {params} parameters (at most {MAX_PARAMS})")
    return shapes


def _check_table(table: list, shapes: dict[str, tuple[int, ...]]) -> None:
    """Every tensor of the spec exactly once, each at the spec's shape."""
    names = []
    for entry in table:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError("a tensor entry without a name")
        name, shape = entry["name"], entry.get("shape")
        if name not in shapes:
            raise ValueError(f"tensor {name!r} is not part of the spec's model")
        if not isinstance(shape, list) or tuple(shape) != shapes[name]:
            raise ValueError(f"tensor {name!r} has shape {shape}, the spec needs {shapes[name]}")
        names.append(name)
    missing = sorted(set(shapes) - set(names))
    if missing or len(names) != len(set(names)):
        raise ValueError(f"tensors missing or repeated: {missing[:3] or 'repeated names'}")


def check_meta(meta: dict, model: SLUModel) -> None:
    """Feature settings the weights can serve, and a usable rejection threshold."""
    f = meta.get("features", {})
    if not isinstance(f, dict):
        raise ValueError("meta features must be an object")
    if f.get("sample_rate", 16000) != 16000:
        raise ValueError(f"meta sample_rate {f.get('sample_rate')!r}: the model needs 16000")
    if f.get("n_mels", model.n_mels) != model.n_mels:
        raise ValueError(f"meta n_mels {f.get('n_mels')!r} != the weights' {model.n_mels}")
    context = f.get("context_seconds", model.context_seconds)
    if not isinstance(context, (int, float)) or abs(context - model.context_seconds) > 1e-6:
        raise ValueError(
            f"meta context_seconds {context!r}: the weights serve {model.context_seconds:g} s"
        )
    Trim.from_meta(f.get("trim"))
    rejection = meta.get("rejection")
    if rejection is not None:
        t = rejection.get("threshold") if isinstance(rejection, dict) else None
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
            raise ValueError(f"meta rejection threshold {t!r} is not a number in [0, 1]")


def load_quads(path: str | os.PathLike) -> tuple[SLUModel, dict]:
    """Read a .quads file -> (SLUModel in eval mode with dense float32 weights, meta).

    Raises QuadsFormatError (a ValueError naming the file) for a truncated, corrupted,
    foreign or inconsistent file: architecture beyond `LIMITS`, tensors that do not fit the
    spec, non-finite weights, labels that do not fit the head, features the weights cannot
    serve."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise QuadsFormatError(f"{path}: {size} bytes, more than a .quads file may be")
    header, payload = parse(path.read_bytes(), str(path))
    try:
        check_spec(header["spec"])
        _check_table(header["tensors"], _expected_shapes(header["spec"]))
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise QuadsFormatError(f"{path}: {e}") from None
    state = {}
    for entry in header["tensors"]:
        try:
            state[entry["name"]] = t = _decode(entry, payload)
        except (KeyError, TypeError, ValueError) as e:
            raise QuadsFormatError(f"{path}: bad tensor entry {entry.get('name')!r}: {e}") from None
        if not torch.isfinite(t).all():
            raise QuadsFormatError(f"{path}: tensor {entry['name']!r} holds NaN or inf weights")
    try:
        model = SLUModel.from_spec(header["spec"])
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise QuadsFormatError(f"{path}: tensors do not fit the model spec: {e}") from None
    try:
        check_meta(header["meta"], model)
    except (TypeError, ValueError) as e:
        raise QuadsFormatError(f"{path}: {e}") from None
    return model.eval(), header["meta"]


def rewrite_meta(path: str | os.PathLike, update: dict) -> int:
    """Rewrite a .quads file with `update` merged into its meta (payload untouched, checksum
    renewed), atomically; returns the bytes on disk. The file is loaded (checked) first."""
    path = Path(path)
    load_quads(path)
    data = path.read_bytes()
    header, payload = parse(data, str(path))
    header["meta"] = {**header["meta"], **update}
    try:
        head = json.dumps(header).encode("utf-8")
    except TypeError as e:
        raise ValueError(f"meta must be JSON-serializable: {e}") from None
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(head), len(payload)) + head + bytes(payload)
    out = body + hashlib.sha256(body).digest()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(out)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(out)


def size_breakdown(
    path_or_model: str | os.PathLike | SLUModel, meta: dict | None = None, codec: str = "deflate"
) -> dict:
    """Bytes of each part of a .quads file (a path, or a model packed in memory with `meta`).

    codes:      the stored codes: params x bits / 8 (plus < 1 byte padding per layer), or
                less when entropy coded
    codes_packed: what the codes take at exactly b bits each, before entropy coding
    codebooks:  2^b fp16 centroids per codebook layer
    fp16, fp32: the other stored tensors (biases, LayerNorms, dense layers)
    header:     magic, version, lengths and the JSON header
    checksum:   the sha256 at the end
    overhead:   total - codes, i.e. the file size beyond params x bits / 8
    """
    if isinstance(path_or_model, nn.Module):
        data, where = _serialize(path_or_model, meta or {}, codec), "<in-memory model>"
    else:
        data, where = Path(path_or_model).read_bytes(), str(path_or_model)
    header, payload = parse(data, where)
    out = {"codes": 0, "codes_packed": 0, "codebooks": 0, "fp16": 0, "fp32": 0}
    weights_by_bits: dict[str, int] = {}
    for entry in header["tensors"]:
        if entry["kind"] == "codebook":
            out["codes"] += entry["codes"][1]
            out["codebooks"] += entry["codebook"][1]
            n = int(np.prod(entry["shape"]))
            out["codes_packed"] += -(-n * int(entry["bits"]) // 8)
            weights_by_bits[str(entry["bits"])] = weights_by_bits.get(str(entry["bits"]), 0) + n
        elif entry["kind"] in ("fp16", "fp32"):
            out[entry["kind"]] += entry["data"][1]
    out["header"] = len(data) - len(payload) - _CHECKSUM_BYTES
    out["checksum"] = _CHECKSUM_BYTES
    out["total"] = len(data)
    out["overhead"] = len(data) - out["codes"]
    out["quantized_weights_by_bits"] = weights_by_bits
    return out
