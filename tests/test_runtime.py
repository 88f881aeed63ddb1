"""The device path: numpy log-mel, ONNX export (fp32 and int8), and prediction with numpy +
onnxruntime alone, checked against the torch model on real (espeak-ng) clips."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from helpers import tiny_slu_model

from quads import audio
from quads.api import load_model
from quads.cli import main
from quads.config import QuantConfig
from quads.data.types import label_space
from quads.evaluation.int8 import choose_int8, corpus_accuracy
from quads.quant.packing import load_quads, save_quads
from quads.quant.surgery import quantize_model
from quads.runtime import audio as np_audio
from quads.runtime.export import (
    PLAIN_SCHEMES,
    Int8Scheme,
    dense_model,
    export_onnx,
    weight_matmuls,
)
from quads.runtime.session import IntentSession

CONTEXT = 3.0


@pytest.fixture(scope="module", params=["mean", "attention"])
def packed(request, tmp_path_factory) -> Path:
    """A 4-bit Whisper-shaped intent model (random weights, 31 FSC intents) in a .quads file."""
    model = tiny_slu_model(
        label_space("fsc"), d_model=64, layers=2, positions=150, pooling=request.param
    )
    quantize_model(model, QuantConfig(bits=4))
    path = tmp_path_factory.mktemp("model") / "tiny.quads"
    meta = {"features": {"n_mels": 80, "context_seconds": CONTEXT}, "layout": "fsc"}
    save_quads(path, model, meta)
    return path


@pytest.fixture(scope="module")
def clips(fsc_tiny) -> list[Path]:
    return sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))[:6]


def context_audio(clips: list[Path]) -> np.ndarray:
    """The clips as a batch at the model's context (B, samples)."""
    n = int(CONTEXT * np_audio.SAMPLE_RATE)
    return np.stack([np_audio.fit_to_context(np_audio.load_audio(c), n) for c in clips])


def torch_logits(packed: Path, clips: list[Path]) -> np.ndarray:
    """The torch model's logits, on the training side's log-mel of the clips."""
    model, _ = load_quads(packed)
    with torch.no_grad():
        return model(audio.log_mel(context_audio(clips))).numpy()


def test_numpy_log_mel_is_the_training_log_mel(clips):
    for n_mels in (80, 128):
        assert np.array_equal(np_audio.mel_filters(n_mels), audio.mel_filters(n_mels).numpy())
    batch = np.stack([audio.pad_or_trim(audio.load_audio(c), 48000) for c in clips])
    assert np.abs(np_audio.log_mel(batch) - audio.log_mel(batch).numpy()).max() < 1e-4
    one = np_audio.log_mel(batch[0], 128)
    assert one.shape == (128, 300)
    assert np.abs(one - audio.log_mel(batch[0], 128).numpy()).max() < 1e-4


def test_onnx_export_matches_the_torch_model_and_stays_small(packed, clips, tmp_path):
    out = tmp_path / "m.onnx"
    size = export_onnx(packed, out)
    assert size == out.stat().st_size
    dense = sum(p.numel() for p in load_quads(packed)[0].parameters()) * 4
    assert size < dense / 3  # codes + codebooks, not fp32 matrices
    want = torch_logits(packed, clips)
    for model in (out, packed):  # the .onnx file, and the .quads file's weights from numpy
        session = IntentSession(model, threads=1)
        assert np.abs(session.audio_logits(context_audio(clips)) - want).max() < 1e-4
        assert session.labels == label_space("fsc") and session.context_seconds == CONTEXT


def test_frontend_in_the_graph_matches_too(packed, clips, tmp_path):
    """Raw audio in (the web page's model): log-mel computed by the graph itself."""
    export_onnx(packed, tmp_path / "audio.onnx", frontend=True)
    session = IntentSession(tmp_path / "audio.onnx")
    assert session.input == "audio"
    got = session.audio_logits(context_audio(clips))
    assert np.abs(got - torch_logits(packed, clips)).max() < 1e-4


def test_int8_export_quantizes_the_matrix_products(packed, clips, fsc_tiny, tmp_path):
    fp32 = tmp_path / "fp32.onnx"
    export_onnx(packed, fp32)
    size = export_onnx(packed, tmp_path / "int8.onnx", int8=True)
    model = onnx.load(str(tmp_path / "int8.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops and "MatMul" in ops  # attention
    assert size == (tmp_path / "int8.onnx").stat().st_size
    ref = torch_logits(packed, clips)
    session = IntentSession(tmp_path / "int8.onnx")
    got = session.audio_logits(context_audio(clips))
    assert session.labels == label_space("fsc")
    scale = np.abs(ref).max()
    assert (
        np.abs(got - ref).max() < 0.2 * scale and np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.95
    )
    acc = corpus_accuracy(tmp_path / "int8.onnx", fsc_tiny, "valid")
    assert acc["n"] == 31


def test_mixed_int8_keeps_the_named_matmuls_fp32(packed, clips, tmp_path):
    nodes = weight_matmuls(dense_model(packed))
    pooling = 1 if "pool.score.matmul" in nodes else 0
    assert len(nodes) == 2 * 6 + 1 + pooling  # q, k, v, out, fc1, fc2 per layer; head
    keep = (nodes[2], "head.matmul")
    scheme = Int8Scheme(per_channel=True, fp32=keep)
    export_onnx(packed, tmp_path / "mixed.onnx", scheme)
    model = onnx.load(str(tmp_path / "mixed.onnx"))
    fp32 = {n.name for n in model.graph.node if n.op_type == "MatMul"}
    assert set(keep) <= fp32 and not (set(nodes) - set(keep)) & fp32
    integer = [n for n in model.graph.node if n.op_type == "MatMulInteger"]
    assert len(integer) == len(nodes) - len(keep)
    info = json.loads({p.key: p.value for p in model.metadata_props}["quads"])
    assert info["int8"] == scheme.to_json() and info["labels"] == label_space("fsc")
    session = IntentSession(tmp_path / "mixed.onnx")
    got = session.audio_logits(context_audio(clips))
    ref = torch_logits(packed, clips)
    assert np.abs(got - ref).max() < 0.2 * np.abs(ref).max()
    with pytest.raises(ValueError, match="no weight MatMul"):
        export_onnx(packed, tmp_path / "x.onnx", Int8Scheme(fp32=("encoder.nope.matmul",)))


def test_int8_choice_on_valid_keeps_fp32_predictions(fsc_tiny, tmp_path):
    """A head whose rows nearly coincide: int8 weights blur the small differences that
    decide between intents, so the plain schemes change predictions. The choice then
    keeps the most sensitive MatMuls fp32, one more at a time, until none changes."""
    model = tiny_slu_model(label_space("fsc"), d_model=64, layers=2, positions=150)
    with torch.no_grad():
        w = model.head.weight
        noise = torch.randn(w.shape, generator=torch.Generator().manual_seed(1))
        w.copy_(w[:1] + 0.02 * w.std() * noise)
        model.head.bias.zero_()
    quantize_model(model, QuantConfig(bits=4))
    packed = tmp_path / "fragile.quads"
    save_quads(packed, model, {"features": {"n_mels": 80, "context_seconds": CONTEXT}})

    lines: list[str] = []
    chosen, rows = choose_int8(packed, fsc_tiny, "valid", probe_clips=8, log=lines.append)
    assert [r["scheme"] for r in rows[:3]] == list(PLAIN_SCHEMES)
    assert min(r["changed"] for r in rows[:3]) > 0
    mixed = rows[3:]
    assert mixed and mixed[-1]["changed"] == 0
    for k, row in enumerate(mixed, 1):  # each adds the next most sensitive MatMul
        assert row["scheme"].fp32 == mixed[-1]["scheme"].fp32[:k]
        sens = list(row["sensitivity"].values())
        assert sens == sorted(sens, reverse=True)
    assert mixed[0]["scheme"].fp32 == ("head.matmul",)  # where the near-ties are decided
    assert chosen == mixed[-1]["scheme"] and lines[-1].endswith(chosen.name)

    # The export ships that scheme: its valid predictions are fp32's.
    export_onnx(packed, tmp_path / "chosen.onnx", chosen)
    fp32, int8 = (corpus_accuracy(m, fsc_tiny, "valid") for m in (packed, tmp_path / "chosen.onnx"))
    assert fp32 == int8


BLOCK_TORCH = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "scipy"):
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
"""


def test_runtime_predicts_without_torch_or_transformers(packed, clips, tmp_path):
    export_onnx(packed, tmp_path / "m.onnx")
    expected = [p.top for p in load_model(packed, "torch").predict(clips, top=2)]
    code = BLOCK_TORCH + textwrap.dedent(f"""
        import json
        import quads
        clips = {[str(c) for c in clips]!r}
        models = {[str(packed), str(tmp_path / "m.onnx")]!r}
        out = [[p.top for p in quads.load_model(m).predict(clips, top=2)] for m in models]
        heavy = [m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "scipy")]
        print(json.dumps({{"out": out, "heavy": heavy}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["heavy"] == []
    for got in result["out"]:  # from the .quads file, then from the .onnx file
        for want_top, got_top in zip(expected, got):
            assert [label for label, _ in got_top] == [label for label, _ in want_top]
            assert np.allclose([p for _, p in got_top], [p for _, p in want_top], atol=1e-4)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_and_predict_with_each_engine(packed, clips, fsc_tiny, capsys, caplog, tmp_path):
    caplog.set_level(logging.INFO)
    onnx_path = tmp_path / "m.onnx"
    code, out, _ = run(capsys, "export", str(packed), "-o", str(onnx_path))
    assert code == 0 and onnx_path.is_file() and "fp32" in out

    paths = [str(c) for c in clips[:2]]
    outputs = {}
    for model, engine in [(packed, "torch"), (packed, "onnxruntime"), (onnx_path, "auto")]:
        code, out, _ = run(capsys, "predict", str(model), *paths, "--engine", engine)
        assert code == 0
        outputs[engine] = [line for line in out.splitlines() if line.startswith(paths[0])]
    assert outputs["torch"] == outputs["onnxruntime"] == outputs["auto"]
    assert "onnxruntime" in out

    code, out, _ = run(
        capsys,
        "export",
        str(packed),
        "-o",
        str(tmp_path / "q.onnx"),
        "--int8",
        "--data",
        str(fsc_tiny),
    )
    assert code == 0 and "fp32: valid accuracy" in out and "int8: valid accuracy" in out
    assert "int8 scheme chosen on valid" in out
    quantizer = [r for r in caplog.records if "onnxruntime" in r.pathname]
    assert not quantizer, quantizer[0].getMessage()  # its INFO lines and advice, dropped

    code, _, err = run(capsys, "export", str(packed), "-o", str(tmp_path / "x.onnx"), "--int8")
    assert code == 1 and "--data" in err

    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    code, out, err = run(capsys, "predict", str(onnx_path), str(junk), paths[0])
    assert code == 1 and "junk.wav" in err and len(err.strip().splitlines()) == 1
    assert paths[0] in out  # the good clip is still predicted

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    code, _, err = run(capsys, "predict", str(bad), paths[0])
    assert code == 1 and "bad.onnx" in err and len(err.strip().splitlines()) == 1
