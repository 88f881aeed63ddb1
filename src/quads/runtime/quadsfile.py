"""Read a `.quads` file into numpy arrays, without torch (the layout is documented in
`quads.quant.packing`), and the bit packing and entropy codec of its codes.

Codes are packed at exactly b bits each; a codebook entry with `"codec": "deflate"` stores
that packed stream compressed by zlib's DEFLATE (raw, no container: the file's sha256
already guards it; level 9, the "filtered" strategy that favours Huffman coding over string
matches). The codes of a trained 4-bit layer are far from uniform over their 16 centroids,
so the compressed stream is smaller than params x b / 8, and it decodes fast (LZMA2 made
the demo model's codes no smaller and decodes far slower: benchmarks/entropy_coding.py).
An entry without "codec" (format version 1, or a stream that did not shrink) holds the
packed codes as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import unicodedata
import zlib
from pathlib import Path

import numpy as np

MAGIC = b"QUADSMDL"
FORMAT_VERSION = 2  # 2: codes may be entropy coded ("codec" in a codebook entry)
READABLE_VERSIONS = (1, 2)
PREFIX = struct.Struct("<8sIQQ")  # magic, version, header_len, payload_len
CHECKSUM_BYTES = 32
CODECS = ("none", "deflate")
# What a layer can be stored as: a codebook of 2^b centroids (b = 1..8), fp16 or fp32.
VALID_BITS = (1, 2, 3, 4, 5, 6, 7, 8, 16, 32)
_WBITS = -15  # raw DEFLATE stream, 32 KiB window


class QuadsFormatError(ValueError):
    """A .quads file that cannot be read: truncated, corrupted, or not a .quads file."""


# --------------------------------------------------------------------------- codes


def pack_bits(codes: np.ndarray, bits: int) -> bytes:
    """Codes in [0, 2^bits) -> a little-endian bit stream of exactly bits per code."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8).ravel()
    if codes.size and int(codes.max()) >> bits:
        raise ValueError(f"codes do not fit in {bits} bits")
    planes = (codes[:, None] >> np.arange(bits, dtype=np.uint8)) & 1  # (n, bits), LSB first
    return np.packbits(planes.ravel(), bitorder="little").tobytes()


def unpack_bits(buf: bytes | memoryview, bits: int, count: int) -> np.ndarray:
    """Inverse of `pack_bits`: the first `count` codes of the stream, as uint8."""
    if bits == 8:
        return np.frombuffer(buf, np.uint8, count=count).copy()
    if bits == 4:  # the common case, without expanding to one byte per bit
        packed = np.frombuffer(buf, np.uint8, count=-(-count // 2))
        out = np.empty(2 * packed.size, np.uint8)
        out[0::2], out[1::2] = packed & 15, packed >> 4
        return out[:count]
    stream = np.unpackbits(np.frombuffer(buf, np.uint8), count=count * bits, bitorder="little")
    return np.packbits(stream.reshape(count, bits), axis=1, bitorder="little")[:, 0]


def encode_codes(codes: np.ndarray, bits: int, codec: str = "deflate") -> tuple[bytes, str]:
    """Codes -> (stored bytes, codec used): packed at b bits, then compressed by `codec`
    unless that does not make them smaller."""
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    packed = pack_bits(codes, bits)
    if codec == "deflate":
        coder = zlib.compressobj(9, zlib.DEFLATED, _WBITS, 9, zlib.Z_FILTERED)
        squeezed = coder.compress(packed) + coder.flush()
        if len(squeezed) < len(packed):
            return squeezed, "deflate"
    return packed, "none"


def decode_codes(buf: bytes | memoryview, bits: int, count: int, codec: str = "none") -> np.ndarray:
    """Stored bytes -> `count` uint8 codes; ValueError if the stream does not hold them."""
    packed_len = -(-count * bits // 8)
    if codec == "deflate":
        try:
            coder = zlib.decompressobj(_WBITS)
            buf = coder.decompress(buf, packed_len + 1) if len(buf) else b""
            if not coder.eof:
                raise zlib.error("the stream is cut short")
        except zlib.error as e:
            raise ValueError(f"compressed codes do not decode ({e})") from None
    elif codec != "none":
        raise ValueError(f"unknown codec {codec!r}")
    if len(buf) != packed_len:
        raise ValueError(f"codes hold {len(buf)} bytes, expected {packed_len}")
    return unpack_bits(buf, bits, count)


# --------------------------------------------------------------------------- file


MAX_HEADER_BYTES = 64 * 2**20  # a JSON header beyond this is refused unread


def parse(data: bytes, where: str) -> tuple[dict, memoryview]:
    """Check framing and checksum -> (header, payload); QuadsFormatError names `where`."""

    def fail(problem: str) -> QuadsFormatError:
        return QuadsFormatError(f"{where}: {problem}")

    if not data or data[: len(MAGIC)] != MAGIC[: len(data)]:  # (a cut-off magic: truncated)
        raise fail("not a .quads file (wrong magic bytes)")
    if len(data) < PREFIX.size + CHECKSUM_BYTES:
        raise fail(f"truncated file ({len(data)} bytes)")
    _, version, head_len, payload_len = PREFIX.unpack_from(data)
    if version not in READABLE_VERSIONS:
        raise fail(f"unsupported .quads format version {version} (this reader: {FORMAT_VERSION})")
    if head_len > MAX_HEADER_BYTES:
        raise fail(f"header of {head_len} bytes (at most {MAX_HEADER_BYTES})")
    expected = PREFIX.size + head_len + payload_len + CHECKSUM_BYTES
    if len(data) < expected:
        raise fail(f"truncated file: {len(data)} bytes, its header declares {expected}")
    if len(data) > expected:
        raise fail(f"corrupted file: {len(data) - expected} unexpected bytes after the checksum")
    if hashlib.sha256(data[:-CHECKSUM_BYTES]).digest() != data[-CHECKSUM_BYTES:]:
        raise fail("checksum mismatch: the file is corrupted")
    try:
        header = json.loads(data[PREFIX.size : PREFIX.size + head_len].decode("utf-8"))
        if not isinstance(header, dict) or not all(
            k in header for k in ("spec", "meta", "tensors")
        ):
            raise ValueError("missing spec, meta or tensors")
        if not isinstance(header["meta"], dict) or not isinstance(header["tensors"], list):
            raise ValueError("meta must be an object and tensors a list")
    except ValueError as e:
        raise fail(f"unreadable header: {e}") from None
    start = PREFIX.size + head_len
    return header, memoryview(data)[start : start + payload_len]


def span(payload: memoryview, where: list[int], nbytes: int | None = None) -> memoryview:
    """The bytes at [offset, length] of the payload; `nbytes`, if given, must be the length."""
    offset, length = where
    if (nbytes is not None and length != nbytes) or offset < 0 or offset + length > len(payload):
        raise ValueError(f"span {where} does not hold the {nbytes or length} bytes expected")
    return payload[offset : offset + length]


def sinusoids(length: int, channels: int, max_timescale: float = 10000) -> np.ndarray:
    """Whisper's sinusoidal position table (as in openai/whisper and transformers)."""
    if channels % 2:
        raise ValueError(f"sinusoids need an even number of channels, got {channels}")
    log_timescale_increment = np.log(max_timescale) / (channels // 2 - 1)
    inv = np.exp(-log_timescale_increment * np.arange(channels // 2, dtype=np.float32))
    scaled = np.arange(length, dtype=np.float32)[:, None] * inv[None, :]
    return np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1).astype(np.float32)


class Codebook:
    """A codebook layer as stored: uint8 codes (shape of the weight) and 2^b centroids."""

    def __init__(self, codes: np.ndarray, centroids: np.ndarray, bits: int) -> None:
        self.codes, self.centroids, self.bits = codes, centroids, bits

    def dense(self) -> np.ndarray:
        return self.centroids[self.codes]


def decode_entry(entry: dict, payload: memoryview) -> np.ndarray | Codebook:
    """One table entry -> a float32 array, or a `Codebook` for a codebook layer."""
    shape = tuple(int(s) for s in entry["shape"])
    n = int(np.prod(shape))
    kind = entry["kind"]
    if kind == "codebook":
        bits = int(entry["bits"])
        book = np.frombuffer(span(payload, entry["codebook"], 2 * 2**bits), "<f2")
        codec = entry.get("codec", "none")
        codes = decode_codes(span(payload, entry["codes"]), bits, n, codec)
        return Codebook(codes.reshape(shape), book.astype(np.float32), bits)
    if kind in ("fp16", "fp32"):
        dtype = np.dtype("<f2" if kind == "fp16" else "<f4")
        array = np.frombuffer(span(payload, entry["data"], n * dtype.itemsize), dtype)
        return array.astype(np.float32).reshape(shape)
    if kind == "sinusoid":
        return sinusoids(*shape)
    raise ValueError(f"unknown tensor kind {kind!r}")


# What a .quads architecture may declare (Whisper large's encoder is 1280 wide, 32 layers,
# 20 heads, 5120 FFN, 1500 positions, 128 mel bins); anything beyond is refused unread.
LIMITS = {
    "d_model": 4096,
    "encoder_layers": 64,
    "encoder_attention_heads": 64,
    "encoder_ffn_dim": 16384,
    "max_source_positions": 1500,
    "num_mel_bins": 256,
}
MAX_LABELS = 10_000
MAX_SLOTS = 64
MAX_LABEL_CHARS = 200


def _int_field(config: dict, key: str, limit: int) -> int:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ValueError(f"spec {key} = {value!r} is outside 1..{limit}")
    return value


def _check_names(names: object, where: str, what: str) -> None:
    """A spec's intents, or one slot's values: a list of 1..MAX_LABELS distinct labels."""
    if not isinstance(names, list) or not 1 <= len(names) <= MAX_LABELS:
        raise ValueError(f"{where} must be a list of 1..{MAX_LABELS} {what}")
    for name in names:
        if (why := _bad_label(name)) is not None:
            raise ValueError(f"{where}: {why}")
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: the {what} are not unique")


def _bad_label(label: object) -> str | None:
    """Why `label` cannot be an intent name (None if it can)."""
    if not isinstance(label, str) or not label.strip():
        return "an empty or non-string label"
    if len(label) > MAX_LABEL_CHARS:
        return f"a label longer than {MAX_LABEL_CHARS} characters"
    if any(unicodedata.category(c)[0] == "C" for c in label):
        return f"label {label.encode('unicode_escape').decode()!r} holds control characters"
    return None


def check_spec(spec: object) -> None:
    """Architecture limits and labels of a spec, checked before anything is allocated."""
    if not isinstance(spec, dict) or not isinstance(spec.get("whisper_config"), dict):
        raise ValueError("spec must be an object with a whisper_config")
    config = spec["whisper_config"]
    values = {key: _int_field(config, key, limit) for key, limit in LIMITS.items()}
    if values["d_model"] % values["encoder_attention_heads"]:
        raise ValueError("spec d_model is not a multiple of encoder_attention_heads")
    for key in ("id2label", "label2id"):
        if len(config.get(key) or {}) > MAX_LABELS:
            raise ValueError(f"spec {key} has more than {MAX_LABELS} entries")
    if "num_labels" in config:
        _int_field(config, "num_labels", MAX_LABELS)
    if spec.get("n_mels") != values["num_mel_bins"]:
        raise ValueError(f"spec n_mels {spec.get('n_mels')!r} != num_mel_bins")
    _check_names(spec.get("labels"), "spec labels", "intents")
    slots = spec.get("slots") or {}
    if not isinstance(slots, dict) or len(slots) > MAX_SLOTS:
        raise ValueError(f"spec slots must be an object of at most {MAX_SLOTS} slots")
    for name, values in slots.items():
        if (why := _bad_label(name)) is not None:
            raise ValueError(f"spec slot name: {why}")
        _check_names(values, f"spec slot {name!r}", "values")


def read_quads(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray | Codebook]]:
    """A .quads file -> (header {"spec", "meta", ...}, {state-dict name: array or Codebook}).

    Raises QuadsFormatError (a ValueError naming the file) for a bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    header, payload = parse(path.read_bytes(), str(path))
    try:
        check_spec(header["spec"])
    except (KeyError, TypeError, ValueError) as e:
        raise QuadsFormatError(f"{path}: {e}") from None
    tensors = {}
    for entry in header["tensors"]:
        try:
            tensors[entry["name"]] = decode_entry(entry, payload)
        except (KeyError, TypeError, ValueError) as e:
            raise QuadsFormatError(f"{path}: bad tensor entry {entry.get('name')!r}: {e}") from None
    return header, tensors
