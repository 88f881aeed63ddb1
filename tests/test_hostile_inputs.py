"""Hostile and clumsy input (issue 13): each numbered case of the issue keeps a test here.

Cases 1 (pickle in a run folder, loaded by training) and 3 (two runs into one --out) live
with the training code; the checkpoint loader that refuses a crafted pickle is tested here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import tiny_slu_model

from quads.api import load_model
from quads.audio import AudioError, FeatureSettings, featurize, load_audio
from quads.cli import main
from quads.config import ConfigError, QuantConfig, RejectionConfig, load_config
from quads.data.corpus import read_corpus
from quads.data.types import CorpusError, label_space
from quads.evaluation.rejection import calibrate
from quads.quant.packing import QuadsFormatError, load_quads, rewrite_meta, save_quads
from quads.quant.surgery import quantize_model
from quads.runtime.gate import has_speech
from quads.safe_io import CheckpointError, load_checkpoint, printable

SR = 16000


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    """A 4-bit tiny Whisper-shaped FSC intent model (random weights), 3 s context."""
    model = tiny_slu_model(label_space("fsc"), d_model=32, layers=1, positions=150)
    quantize_model(model, QuantConfig(bits=4))
    path = tmp_path_factory.mktemp("model") / "tiny.quads"
    save_quads(path, model, {"features": {"n_mels": 80, "context_seconds": 3.0}, "layout": "fsc"})
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_wav(path: Path, audio: np.ndarray, rate: int = SR, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), np.asarray(audio, np.float32), rate, subtype=subtype)
    return path


def resign(src: Path, dst: Path, edit_header=None, edit_payload=None) -> Path:
    """A copy of a .quads file with its header/payload edited and a valid checksum: what
    anyone can make, since the checksum guards against damage, not against intent."""
    data = src.read_bytes()
    magic, version, head_len, payload_len = struct.unpack_from("<8sIQQ", data)
    start = struct.calcsize("<8sIQQ")
    header = json.loads(data[start : start + head_len])
    payload = bytearray(data[start + head_len : start + head_len + payload_len])
    if edit_header:
        edit_header(header)
    if edit_payload:
        edit_payload(header, payload)
    head = json.dumps(header).encode()
    body = struct.pack("<8sIQQ", magic, version, len(head), len(payload)) + head + bytes(payload)
    dst.write_bytes(body + hashlib.sha256(body).digest())
    return dst


def copy_fsc(src: Path, dst: Path) -> Path:
    """A copy of a corpus whose csv files can be edited (the audio is linked, not copied)."""
    (dst / "data").mkdir(parents=True)
    for f in (src / "data").glob("*.csv"):
        shutil.copy(f, dst / "data" / f.name)
    (dst / "wavs").symlink_to(src / "wavs")
    return dst


def add_clip(root: Path, split: str, name: str, audio: np.ndarray, subtype="PCM_16") -> int:
    """Append a row with a new clip (label activate|lights|none) to a split; its line."""
    (root / "extra").mkdir(exist_ok=True)
    write_wav(root / "extra" / f"{name}.wav", audio, subtype=subtype)
    csv = root / "data" / f"{split}_data.csv"
    lines = csv.read_text().splitlines()
    lines.append(f"999,extra/{name}.wav,spk-x,turn on the lights,activate,lights,none")
    csv.write_text("\n".join(lines) + "\n")
    return len(lines)


# --------------------------------------------------------------------------- case 1 (loader)


def test_crafted_pickle_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "best.pt"
    torch.save({"state": Payload()}, evil)
    with pytest.raises(CheckpointError, match="refused") as info:
        load_checkpoint(evil)
    assert str(evil) in str(info.value) and not marker.exists()
    good = tmp_path / "good.pt"
    torch.save({"state": {"w": torch.ones(2)}, "rng": torch.get_rng_state(), "rows": [{}]}, good)
    assert torch.equal(load_checkpoint(good)["state"]["w"], torch.ones(2))


def test_export_and_resume_refuse_a_crafted_pickle_before_training_code_loads_it(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    for name in ("best.pt", "checkpoint.pt"):
        torch.save({"state": Payload()}, run_dir / name)
    code, _, err = run(capsys, "export", str(run_dir))
    assert code == 1 and "refused" in err and "best.pt" in err
    code, _, err = run(capsys, "train", "--out", str(run_dir), "--resume")
    assert code == 1 and "refused" in err and "checkpoint.pt" in err
    assert not marker.exists()


# --------------------------------------------------------------------------- case 2


def test_a_1_hz_header_is_refused_before_decoding(packed, tmp_path, capsys):
    rng = np.random.default_rng(0)
    one_hz = write_wav(tmp_path / "one-hz.wav", rng.standard_normal(40_000) * 0.1, rate=1)
    assert one_hz.stat().st_size < 100_000  # an 80 KB file declaring 11 hours
    with pytest.raises(AudioError, match="sample rate 1 Hz"):
        load_audio(one_hz)
    code, _, err = run(capsys, "predict", str(packed), str(one_hz))
    assert code == 1 and str(one_hz) in err and "1 Hz" in err


def test_a_long_clip_is_cut_to_the_context_before_resampling(tmp_path, monkeypatch):
    long = write_wav(tmp_path / "long.wav", np.zeros(44100 * 20) + 0.01, rate=44100)
    seen = []
    import scipy.signal

    real = scipy.signal.resample_poly
    monkeypatch.setattr(
        scipy.signal, "resample_poly", lambda x, *a: seen.append(x.size) or real(x, *a)
    )
    mel = featurize(long, FeatureSettings(context_seconds=1.0))
    assert mel.shape == (80, 100)
    assert seen and max(seen) <= 44100 + 1  # one second resampled, not twenty


def test_a_resigned_header_declaring_a_huge_architecture_is_refused_unallocated(packed, tmp_path):
    def huge(header):
        header["spec"]["whisper_config"].update(d_model=1024, encoder_layers=24)

    big = resign(packed, tmp_path / "big.quads", huge)
    code = (
        "import re; from pathlib import Path; from quads.quant.packing import load_quads\n"
        f"try:\n    load_quads({str(big)!r})\nexcept ValueError as e:\n    print(e)\n"
        # the peak of this process alone (ru_maxrss would count the forking pytest's memory)
        "status = Path('/proc/self/status').read_text()\n"
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', status)[1]) // 1024)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    message, peak_mb = done.stdout.strip().splitlines()
    assert str(big) in message and "shape" in message
    assert int(peak_mb) < 900, peak_mb  # the declared model alone would take 1.2 GB

    def absurd(header):
        header["spec"]["whisper_config"]["d_model"] = 10**6

    with pytest.raises(QuadsFormatError, match="d_model"):
        load_quads(resign(packed, tmp_path / "absurd.quads", absurd))


# --------------------------------------------------------------------------- case 4


@pytest.mark.parametrize("bits", [9, 0, 33])
def test_invalid_bits_are_refused_when_the_config_is_built(bits, tmp_path, capsys):
    with pytest.raises(ConfigError, match="quant.bits"):
        load_config("fsc-demo", [f"quant.bits={bits}"])
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", "--set", f"quant.bits={bits}", "--out", str(out))
    assert code == 1 and "quant.bits" in err and str(bits) in err
    assert not out.exists()  # nothing left that would block a corrected rerun


@pytest.mark.parametrize(
    "override",
    ["train.alpha=1.5", "train.lr=-1", "train.batch_size=0", "train.strategy=magic",
     "audio.context_seconds=45", "data.layout=atis", "train.precision=fp8",
     "rejection.max_flatness=2"],
)  # fmt: skip
def test_out_of_range_values_are_refused_up_front(override):
    with pytest.raises(ConfigError, match=override.split("=")[0].split(".")[-1]):
        load_config("fsc-demo", [override])


# --------------------------------------------------------------------------- case 5


@pytest.mark.parametrize(
    "name, audio, subtype",
    [("empty", np.zeros(0), "PCM_16"), ("nan", np.full(8000, np.nan), "FLOAT")],
)
def test_bad_audio_in_a_split_is_found_at_start_up_or_skipped(
    fsc_tiny, tmp_path, capsys, name, audio, subtype, packed
):
    root = copy_fsc(fsc_tiny, tmp_path / "corpus")
    line = add_clip(root, "test", name, audio, subtype)
    with pytest.raises(CorpusError, match=f"test_data.csv:{line}") as info:
        read_corpus(root, "fsc", "test")
    assert f"{name}.wav" in str(info.value)
    corpus = read_corpus(root, "fsc", "test", skip_bad_rows=True)
    assert len(corpus.skipped) == 1 and corpus.skipped[0][1] == line

    code, out, _ = run(capsys, "eval", str(packed), str(root), "--skip-bad-rows")
    assert code == 0 and "skipped 1 bad rows" in out

    add_clip(root, "train", name, audio, subtype)
    code, _, err = run(capsys, "train", "--data", str(root), "--out", str(tmp_path / "run"))
    assert code == 1 and f"{name}.wav" in err and "train_data.csv" in err  # before training


# --------------------------------------------------------------------------- case 6


def test_nan_weights_are_refused_naming_the_file(packed, tmp_path):
    def nan_bias(header, payload):
        entry = next(e for e in header["tensors"] if e["name"] == "head.bias")
        offset = entry["data"][0]
        payload[offset : offset + 2] = np.float16(np.nan).tobytes()

    bad = resign(packed, tmp_path / "nan.quads", edit_payload=nan_bias)
    with pytest.raises(QuadsFormatError, match="NaN") as info:
        load_quads(bad)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda h: h["spec"]["labels"].pop(), "head"),  # 30 labels for a 31-row head
        (lambda h: h["spec"].update(labels=["a"] * 31), "unique"),
        (lambda h: h["meta"]["features"].update(context_seconds=4.0), "context_seconds"),
        (lambda h: h["meta"]["features"].update(n_mels=128), "n_mels"),
        (lambda h: h["meta"].update(rejection={"threshold": "high"}), "threshold"),
    ],
)
def test_content_that_does_not_fit_is_refused_naming_the_file(packed, tmp_path, edit, problem):
    bad = resign(packed, tmp_path / "bad.quads", edit)
    with pytest.raises(QuadsFormatError, match=problem) as info:
        load_quads(bad)
    assert str(bad) in str(info.value)


# --------------------------------------------------------------------------- case 7


def test_empty_and_truncated_checkpoints_name_the_file(tmp_path):
    empty = tmp_path / "checkpoint.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty") as info:
        load_checkpoint(empty)
    assert str(empty) in str(info.value)
    whole = tmp_path / "whole.pt"
    torch.save({"w": torch.zeros(1000)}, whole)
    cut = tmp_path / "best.pt"
    cut.write_bytes(whole.read_bytes()[:700])
    with pytest.raises(CheckpointError, match="truncated") as info:
        load_checkpoint(cut)
    assert str(cut) in str(info.value) and "\n" not in str(info.value)


def test_a_latin1_csv_names_the_file_and_line(fsc_tiny, tmp_path):
    root = copy_fsc(fsc_tiny, tmp_path / "corpus")
    csv = root / "data" / "valid_data.csv"
    lines = csv.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b",", b",caf\xe9 ", 1)
    csv.write_bytes(b"\n".join(lines))
    with pytest.raises(CorpusError, match="valid_data.csv:3: not UTF-8") as info:
        read_corpus(root, "fsc", "valid")
    assert "0xe9" in str(info.value)


def test_an_unknown_set_key_is_blamed_on_the_override_not_the_preset():
    with pytest.raises(ConfigError) as info:
        load_config("fsc-demo", ["train.nokey=1"])
    assert "train.nokey=1" in str(info.value) and "fsc-demo.yaml" not in str(info.value)


def test_eval_json_into_a_missing_folder_fails_before_evaluating(
    packed, fsc_tiny, tmp_path, capsys, monkeypatch
):
    import quads.api as api

    def no_evaluation(*args, **kwargs):
        raise AssertionError("evaluated before checking the -o path")

    monkeypatch.setattr(api, "load_model", no_evaluation)
    target = tmp_path / "nodir" / "x.json"
    code, _, err = run(capsys, "eval", str(packed), str(fsc_tiny), "-o", str(target))
    assert code == 1 and "nodir" in err and "does not exist" in err


def test_labels_and_paths_are_printed_without_terminal_escapes(packed, tmp_path, capsys):
    def escape(header):
        header["spec"]["labels"][0] = "\x1b[2J\x1b[31mowned"

    bad = resign(packed, tmp_path / "esc.quads", escape)
    code, _, err = run(capsys, "predict", str(bad), "x.wav")
    assert code == 1 and "\x1b" not in err and "control characters" in err
    weird = tmp_path / "clip\x1b[31m.wav"
    code, out, err = run(capsys, "predict", str(packed), str(weird))
    assert code == 1 and "\x1b" not in out + err and "\\x1b" in err
    assert printable("a\x07b\rc") == "a\\x07b\\rc"


# --------------------------------------------------------------------------- case 8


def test_predict_goes_on_past_a_bad_file_and_writes_json_lines(packed, fsc_tiny, capsys):
    wavs = [str(p) for p in sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))[:2]]
    files = [wavs[0], "missing.wav", wavs[1]]
    code, out, err = run(capsys, "predict", str(packed), *files)
    assert code == 1
    assert wavs[0] in out and wavs[1] in out and out.index(wavs[0]) < out.index(wavs[1])
    assert "missing.wav" in err and "not found" in err and "2 of 3" in out

    code, out, err = run(capsys, "predict", str(packed), *files, "--jsonl")
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 1 and [r["file"] for r in records] == files
    assert records[1]["error"] and records[1]["intent"] is None
    assert all(r["top"] and r["error"] is None for r in (records[0], records[2]))


def test_predict_runs_in_batches_of_bounded_size(packed, fsc_tiny):
    wavs = sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))[:7]
    for engine in ("torch", "onnxruntime"):
        model, sizes = load_model(packed, engine), []
        backend = model.backend
        model.backend = lambda audio, b=backend, s=sizes: s.append(len(audio)) or b(audio)
        preds = model.predict(wavs, batch_size=3, reject=False)
        assert len(preds) == 7 and sizes == [3, 3, 1] and all(p.intent for p in preds)


# --------------------------------------------------------------------------- case 9


def test_no_speech_gets_no_intent(packed, tmp_path, capsys):
    rng = np.random.default_rng(0)
    clips = {
        "silence": np.zeros(3 * SR),
        "one-sample": np.zeros(1),
        "ten-ms": np.full(SR // 100, 0.01),
        "white-noise": rng.standard_normal(3 * SR) * 0.1,
        "quiet-noise": rng.standard_normal(3 * SR) * 0.001,
    }
    paths = [str(write_wav(tmp_path / f"{k}.wav", v)) for k, v in clips.items()]
    code, out, _ = run(capsys, "predict", str(packed), *paths, "--jsonl")
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 0 and len(records) == len(clips)
    assert all(r["intent"] == "unknown" and r["reason"] == "no speech" for r in records)
    code, out, _ = run(capsys, "predict", str(packed), paths[0])
    assert "unknown (no speech)" in out


def test_the_speech_gate_lets_speech_through(fsc_tiny):
    wavs = sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))
    assert all(has_speech(load_audio(p)) for p in wavs)


def test_the_threshold_rejects_at_most_the_allowed_share_of_right_answers():
    conf = np.linspace(0.1, 1.0, 100)
    right = np.ones(100, bool)
    right[:10] = False  # the ten least confident answers are wrong
    entry = calibrate(conf, right, np.zeros(100, bool), RejectionConfig(max_accuracy_drop=0.05))
    assert entry["valid"]["accuracy"] == 0.9
    assert entry["valid"]["accuracy_with_rejection"] == pytest.approx(0.85)
    assert conf[14] < entry["threshold"] < conf[15]  # 10 wrong + 5 right rejected
    assert conf[15] - entry["threshold"] >= 1e-6  # float noise on the kept clip keeps it


def test_calibrate_stores_the_threshold_and_eval_reports_rejections(
    packed, fsc_tiny, tmp_path, capsys
):
    model = tmp_path / "calibrated.quads"
    code, out, _ = run(
        capsys, "calibrate", str(packed), str(fsc_tiny), "--out", str(model), "--max-drop", "0.1"
    )
    assert code == 0
    meta = load_model(model).meta["rejection"]
    assert 0 < meta["threshold"] <= 1 and meta["chosen_on"] == "valid"
    assert meta["valid"]["accuracy"] - meta["valid"]["accuracy_with_rejection"] <= 0.1 + 1e-9
    assert model.stat().st_size < packed.stat().st_size + 2000  # only the header grew

    code, out, _ = run(capsys, "eval", str(model), str(fsc_tiny), "-o", str(tmp_path / "r"))
    result = json.loads((tmp_path / "r").read_text())
    assert code == 0 and "rejected" in out
    assert 0 < result["rejection"]["rejected"] < 1
    wavs = [str(p) for p in sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))]
    code, out, _ = run(capsys, "predict", str(model), *wavs, "--jsonl")
    records = [json.loads(line) for line in out.strip().splitlines()]
    low = [r for r in records if r["reason"] == "low confidence"]
    t = meta["threshold"]  # (confidences are printed to 4 decimals)
    assert low and all(r["confidence"] <= t + 1e-4 for r in low)
    assert all(r["confidence"] >= t - 1e-4 for r in records if not r["reason"])


def test_rewrite_meta_keeps_the_weights(packed, tmp_path):
    copy = tmp_path / "copy.quads"
    shutil.copy(packed, copy)
    rewrite_meta(copy, {"rejection": {"threshold": 0.5}})
    a, _ = load_quads(packed)
    b, meta = load_quads(copy)
    assert meta["rejection"] == {"threshold": 0.5} and meta["layout"] == "fsc"
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
