"""The `quads` command line: commands listed, one-line errors, eval and predict on a
packed model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import tiny_slu_model

from quads.api import load_model
from quads.cli import main
from quads.config import QuantConfig
from quads.data.corpus import read_corpus
from quads.data.types import label_space
from quads.quant.packing import save_quads
from quads.quant.surgery import quantize_model


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    """A 4-bit tiny Whisper-shaped intent model (random weights) in a .quads file."""
    model = tiny_slu_model(label_space("fsc"), d_model=32, layers=1, positions=150)
    quantize_model(model, QuantConfig(bits=4))
    path = tmp_path_factory.mktemp("model") / "tiny.quads"
    meta = {"features": {"n_mels": 80, "context_seconds": 3.0}, "layout": "fsc"}
    save_quads(path, model, meta)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command():
    done = subprocess.run(
        [sys.executable, "-m", "quads.cli", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    for command in ("synth", "train", "compare", "eval", "predict", "export", "cost", "report"):
        assert command in done.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["bogus"],
        ["train", "--set", "nokey"],
        ["eval"],
        ["synth", "--layout", "atis", "--out", "x"],
        ["predict", "--top", "many", "m.quads", "a.wav"],
    ],
)
def test_bad_command_lines_get_one_line(argv):
    done = subprocess.run(
        [sys.executable, "-m", "quads.cli", *argv], capture_output=True, text=True
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], done.stderr


def test_predict_and_eval_on_a_packed_model(packed, fsc_tiny, capsys, tmp_path):
    wavs = sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))[:2]
    code, out, _ = run(capsys, "predict", str(packed), *map(str, wavs), "--top", "2")
    assert code == 0
    assert out.count("(0.") + out.count("(1.") >= 4 and str(wavs[0]) in out

    code, out, _ = run(capsys, "eval", str(packed), str(fsc_tiny), "-o", str(tmp_path / "r.json"))
    assert code == 0 and "accuracy" in out.lower()
    result = json.loads((tmp_path / "r.json").read_text())
    test = read_corpus(fsc_tiny, "fsc", "test").utterances
    preds = load_model(packed).predict([u.path for u in test], reject=False)
    assert result["n"] == 31
    assert result["accuracy"] == sum(p.best == u.label for p, u in zip(preds, test)) / 31
    assert result["bytes"] == packed.stat().st_size


def test_bad_inputs_name_the_file(packed, fsc_tiny, capsys, tmp_path):
    cut = tmp_path / "cut.quads"
    cut.write_bytes(packed.read_bytes()[:1000])
    code, _, err = run(capsys, "predict", str(cut), "x.wav")
    assert code == 1 and str(cut) in err and len(err.strip().splitlines()) == 1

    code, _, err = run(capsys, "predict", str(tmp_path / "none.quads"), "x.wav")
    assert code == 1 and "none.quads" in err and "not found" in err

    junk = tmp_path / "junk.wav"
    junk.write_text("this is not audio")
    code, _, err = run(capsys, "predict", str(packed), str(junk))
    assert code == 1 and "junk.wav" in err and len(err.strip().splitlines()) == 1

    code, _, err = run(capsys, "eval", str(packed), str(tmp_path / "no-corpus"))
    assert code == 1 and "no-corpus" in err

    code, _, err = run(capsys, "train", "--config", str(tmp_path / "missing.yaml"))
    assert code == 1 and "missing.yaml" in err


def test_cost_prints_paper_gmacs(capsys):
    code, out, _ = run(capsys, "cost", "--context", "3")
    assert code == 0
    assert "18.4" in out or "18.5" in out  # Whisper-tiny encoder at 30 s
    assert "1136" in out  # Whisper large
