"""The .quads file: exact round trips, real b-bit sizes, and clear errors for bad files."""

import hashlib
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import tiny_slu_model
from torch import nn

from quads.config import QuantConfig
from quads.models.student import SLUModel
from quads.quant import (
    CodebookLayer,
    QuadsFormatError,
    load_quads,
    quantize_model,
    quantized_size_bits,
    save_quads,
    size_breakdown,
)
from quads.quant.packing import pack_bits, unpack_bits

LABELS = ["a", "b", "c", "d", "e"]


def tiny_model(pooling: str = "mean", seed: int = 0) -> SLUModel:
    return tiny_slu_model(LABELS, pooling=pooling, seed=seed)


def round_to_fp16_(model: nn.Module) -> None:
    """Make the in-memory model hold what the file stores: fp16 for every float but the codes
    and Whisper's sinusoidal position table (regenerated on load)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_positions" not in name:
                p.copy_(p.half().float())


@pytest.fixture
def packed(tmp_path):
    model = quantize_model(tiny_model(), QuantConfig(bits=4))
    path = tmp_path / "model.quads"
    save_quads(path, model, {"labels": LABELS})
    return path


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 7, 8, 16])
def test_round_trip_is_exact_at_every_bit_width(tmp_path, bits):
    model = quantize_model(tiny_model(), QuantConfig(bits=bits))
    mel = torch.randn(2, 80, 200)
    with torch.no_grad():
        logits_fp32 = model(mel)
    round_to_fp16_(model)
    meta = {"bits": bits, "labels": LABELS, "features": {"n_mels": 80}}
    size = save_quads(tmp_path / "m.quads", model, meta)
    loaded, loaded_meta = load_quads(tmp_path / "m.quads")

    assert size == (tmp_path / "m.quads").stat().st_size
    assert loaded_meta == meta and loaded.labels == LABELS and not loaded.training
    state = loaded.state_dict()
    for name, m in model.named_modules():
        if isinstance(m, CodebookLayer):
            assert torch.equal(state[f"{name}.weight"], m.centroids[m.codes.long()])
        elif isinstance(m, (nn.Linear, nn.Conv1d)):
            assert torch.equal(state[f"{name}.weight"], m.weight)  # bits 16: fp16 is lossless
    with torch.no_grad():
        assert torch.equal(loaded(mel), model(mel))
        # Before rounding the rest to fp16, the logits differ only by fp16 rounding.
        assert torch.allclose(loaded(mel), logits_fp32, atol=1e-2)


def test_codes_take_exactly_b_bits_little_endian():
    assert pack_bits(np.array([1, 2, 3]), 2) == bytes([0b00111001])
    rng = np.random.default_rng(0)
    for bits in range(1, 9):
        codes = rng.integers(0, 2**bits, size=1001).astype(np.uint8)
        buf = pack_bits(codes, bits)
        assert len(buf) == math.ceil(1001 * bits / 8)
        assert np.array_equal(unpack_bits(buf, bits, 1001), codes)
    with pytest.raises(ValueError):
        pack_bits(np.array([4]), 2)


def test_whisper_tiny_student_at_4_bits_is_under_3_8_mb_and_size_adds_up(tmp_path):
    labels = [f"intent{i}" for i in range(31)]
    model = tiny_slu_model(labels, d_model=384, layers=4, positions=1500)  # Whisper-tiny shape
    layers = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d))}
    params = sum(m.weight.numel() for m in layers.values())
    other = (
        sum(p.numel() for n, p in model.named_parameters() if "embed_positions" not in n) - params
    )  # biases and LayerNorms, stored fp16
    assert params == 7_624_320

    quantize_model(model, QuantConfig(bits=4, init="linear", kmeans_iters=5))
    size = save_quads(tmp_path / "tiny.quads", model, {"labels": model.labels}, codec="none")
    parts = size_breakdown(tmp_path / "tiny.quads")

    assert size < 3.8 * 2**20  # MB as in the paper: 7.64 M params x 4 / 8 = 3.65 MB
    assert parts["codes"] == params * 4 // 8
    assert size == params * 4 // 8 + parts["overhead"]
    assert parts["codebooks"] == len(layers) * 16 * 2 and parts["fp16"] == 2 * other
    assert parts["fp32"] == 0
    header_etc = parts["overhead"] - parts["codebooks"] - parts["fp16"] - parts["checksum"]
    assert parts["header"] == header_etc < 20_000
    assert parts == size_breakdown(model, {"labels": model.labels}, codec="none")
    assert quantized_size_bits(model) == 8 * (parts["codes"] + parts["codebooks"] + parts["fp16"])

    # Entropy coded (the default): the same weights in fewer bytes, each layer's codes intact.
    small = save_quads(tmp_path / "deflate.quads", model, {"labels": model.labels})
    coded = size_breakdown(tmp_path / "deflate.quads")
    assert small < size and coded["codes"] < coded["codes_packed"] == parts["codes"]
    assert small == coded["codes"] + coded["overhead"]
    a, b = load_quads(tmp_path / "tiny.quads")[0], load_quads(tmp_path / "deflate.quads")[0]
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_incompressible_codes_are_stored_raw_and_version_1_files_still_load(tmp_path):
    model = quantize_model(tiny_model(), QuantConfig(bits=1))  # 1 bit: nothing to squeeze
    save_quads(tmp_path / "m.quads", model, {"labels": LABELS})
    parts = size_breakdown(tmp_path / "m.quads")
    assert parts["codes"] <= parts["codes_packed"]

    save_quads(tmp_path / "v2.quads", model, {"labels": LABELS}, codec="none")
    data = bytearray((tmp_path / "v2.quads").read_bytes()[:-32])
    data[8:12] = (1).to_bytes(4, "little")  # what the first format wrote
    (tmp_path / "v1.quads").write_bytes(bytes(data) + hashlib.sha256(data).digest())
    old, _ = load_quads(tmp_path / "v1.quads")
    new, _ = load_quads(tmp_path / "m.quads")
    for (name, x), (_, y) in zip(old.state_dict().items(), new.state_dict().items()):
        assert torch.equal(x, y), name


def test_a_damaged_compressed_stream_is_a_format_error():
    from quads.runtime.quadsfile import decode_codes, encode_codes

    codes = np.repeat(np.arange(16, dtype=np.uint8), 200)
    stored, codec = encode_codes(codes, 4)
    assert codec == "deflate" and len(stored) < codes.size // 2
    assert np.array_equal(decode_codes(stored, 4, codes.size, codec), codes)
    with pytest.raises(ValueError, match="codes"):
        decode_codes(stored[: len(stored) // 2], 4, codes.size, codec)


def test_a_layer_left_at_32_bits_is_stored_in_fp32(tmp_path):
    model = tiny_model()
    head = model.head.weight.detach().clone()
    quantize_model(model, QuantConfig(bits=4, quantize_head=False))
    save_quads(tmp_path / "m.quads", model)
    loaded, _ = load_quads(tmp_path / "m.quads")
    assert torch.equal(loaded.head.weight, head)
    assert size_breakdown(tmp_path / "m.quads")["fp32"] == head.numel() * 4


def test_position_table_is_regenerated_unless_it_was_changed(tmp_path):
    model = quantize_model(tiny_model(pooling="attention"), QuantConfig(bits=4))
    save_quads(tmp_path / "a.quads", model)
    with torch.no_grad():
        model.encoder.embed_positions.weight.mul_(0.5)
    save_quads(tmp_path / "b.quads", model)
    table = model.encoder.embed_positions.weight
    assert (
        size_breakdown(tmp_path / "b.quads")["fp16"] - size_breakdown(tmp_path / "a.quads")["fp16"]
        == 2 * table.numel()
    )
    loaded, _ = load_quads(tmp_path / "b.quads")
    assert torch.equal(loaded.encoder.embed_positions.weight, table.half().float())
    assert loaded.pooling == "attention"


def test_save_is_atomic_and_overwrites(tmp_path, packed):
    model = quantize_model(tiny_model(seed=1), QuantConfig(bits=2))
    size = save_quads(packed, model, {"v": 2})
    assert load_quads(packed)[1] == {"v": 2} and packed.stat().st_size == size
    assert [p.name for p in tmp_path.iterdir()] == ["model.quads"]  # no temp file left over
    with pytest.raises(ValueError, match="JSON"):
        save_quads(packed, model, {"bad": object()})
    assert load_quads(packed)[1] == {"v": 2}  # a failed save leaves the old file intact


def corrupt(path, data: bytes) -> None:
    path.write_bytes(data)


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda d: d[:5], "truncated"),
        (lambda d: d[:20], "truncated"),
        (lambda d: d[: len(d) // 2], "truncated"),
        (lambda d: d[:-1], "truncated"),
        (lambda d: b"", "magic"),
        (lambda d: b"PK\x03\x04" + d[4:], "magic"),
        (lambda d: d[:8] + (7).to_bytes(4, "little") + d[12:], "version 7"),
        (
            lambda d: d[: len(d) // 2] + bytes([d[len(d) // 2] ^ 0x10]) + d[len(d) // 2 + 1 :],
            "checksum",
        ),
        (lambda d: d[:-3] + bytes([d[-3] ^ 1]) + d[-2:], "checksum"),
        (lambda d: d + b"\0", "unexpected"),
    ],
)
def test_damaged_files_raise_quads_format_error_naming_file_and_problem(packed, damage, problem):
    corrupt(packed, damage(packed.read_bytes()))
    with pytest.raises(QuadsFormatError, match=problem) as info:
        load_quads(packed)
    assert str(packed) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_loading_imports_no_training_code(packed):
    code = (
        "import sys; from quads.quant.packing import load_quads; "
        f"m, meta = load_quads({str(packed)!r}); "
        "assert meta == {'labels': ['a', 'b', 'c', 'd', 'e']}; "
        "print(sorted(x for x in sys.modules if x.startswith('quads')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = eval(out.stdout)
    assert not [m for m in loaded if m.startswith(("quads.train", "quads.config", "quads.data"))]
