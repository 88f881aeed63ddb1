"""Smoke tests of the maintained benchmark scripts (benchmarks/*.py): each parses its
arguments and prints its usage without running anything (their `quads` imports happen after
parsing), and the provenance their results record."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# script -> options its usage must name
SCRIPTS = {
    "entropy_coding.py": ["--model"],
    "fsc_slots.py": ["--seeds"],
    "method_table.py": ["--shard", "--gather", "--rows"],
    "latency.py": ["--model", "--data", "--runs", "--timing-only", "--accuracy-only", "--out"],
    "own_commands.py": ["--intents", "--data", "--out", "--budget"],
    "ptq_sensitivity.py": ["--run", "--bits", "--checkpoint"],
    "paper_tables.py": ["--layout", "--rows", "--shard", "--trained-only"],
    "quantize_whisper.py": ["--bits", "--iters"],
    "real_speech.py": ["--set", "--real", "--out", "--against"],
    "rejection.py": ["--model", "--data", "--work", "--max-drop"],
    "robustness.py": ["--only", "--model", "--extra", "--set", "--name"],
    "web_page.py": ["--model", "--data", "--clips"],
}


def test_every_maintained_script_is_listed():
    scripts = {p.name for p in (ROOT / "benchmarks").glob("*.py")}
    assert scripts - {"provenance.py", "headless.py"} == set(SCRIPTS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help(script):
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:")
    assert script in done.stdout
    for option in SCRIPTS[script]:
        assert option in done.stdout, f"{script} --help does not name {option}"


def load_provenance():
    """benchmarks/provenance.py, imported from its file (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "benchmarks_provenance", ROOT / "benchmarks" / "provenance.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_provenance(tmp_path):
    module = load_provenance()
    model = tmp_path / "model.quads"
    model.write_bytes(b"QUADS" + bytes(range(256)) * 4099)
    prov = module.provenance(model)
    assert prov["model"] == str(model)
    assert prov["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{40}", prov["commit"])  # this checkout is a git repository
    assert isinstance(prov["dirty"], bool)
    assert prov["machine"]["cpus"] >= 1
    assert prov["machine"]["platform"] and prov["machine"]["python"]
    assert prov["machine"]["processor"]
    assert prov["date"].endswith("+00:00")
    line = module.provenance_line(prov)
    assert prov["commit"][:12] in line and prov["model_sha256"] in line


def test_provenance_without_model():
    prov = load_provenance().provenance()
    assert "model" not in prov and "model_sha256" not in prov
    assert set(prov) == {"commit", "dirty", "machine", "date"}


def test_real_speech_scores_every_clip_of_a_set(tmp_path, fsc_tiny, monkeypatch):
    """benchmarks/real_speech.py on a set laid out like ../shared/data/real-speech."""
    import real_speech
    from helpers import tiny_slu_model

    from quads.config import QuantConfig
    from quads.data.corpus import read_corpus
    from quads.quant.packing import save_quads
    from quads.quant.surgery import quantize_model

    corpus = read_corpus(fsc_tiny, "fsc", "test")
    rows = ["path,label,speaker,transcript"]
    rows += [f"{u.path},{u.label},{u.speaker},x" for u in corpus.utterances]
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "clips.csv").write_text("\n".join(rows) + "\n")
    model = tiny_slu_model(corpus.labels, d_model=32, layers=1, positions=150)
    quantize_model(model, QuantConfig(bits=4))
    path = tmp_path / "m.quads"
    save_quads(path, model, {"features": {"n_mels": 80, "context_seconds": 3.0}})

    clips = real_speech.read_set(tmp_path / "set")
    result = real_speech.score(path, clips)
    assert result["n"] == len(corpus) and result["errors"] == 0
    assert result["answered_right"] <= result["top1_accuracy"]
    assert set(result["per_word"]) == {u.label for u in corpus.utterances}
    assert sum(result["top1_right"]) == round(result["top1_accuracy"] * len(corpus))
    # Paired with another model's answers on the same clips: a model against itself ties.
    monkeypatch.setattr(real_speech, "RESULTS", tmp_path)
    (tmp_path / "same.json").write_text(json.dumps({"set": "x", "real": result}))
    pair = real_speech.against({"set": "x", "real": result}, "same")
    assert pair["difference"] == 0 and pair["mcnemar"]["a_only"] == pair["mcnemar"]["b_only"] == 0
    assert pair["verdict"] == "tie" and pair["mcnemar"]["p"] == 1.0
    flipped = {**result, "top1_right": [1 - r for r in result["top1_right"]]}
    pair = real_speech.against({"set": "x", "real": flipped}, "same")
    assert pair["mcnemar"]["a_only"] + pair["mcnemar"]["b_only"] == len(corpus)
    with pytest.raises(SystemExit, match="same.json"):
        real_speech.against({"set": "other", "real": result}, "same")
    # The table of synthetic against real lists results that record their training engines.
    (tmp_path / "real-a.json").write_text(json.dumps({
        "set": "x", "real": result, "synthetic_test_accuracy": 1.0,
        "training_engines": {"espeak": 10, "kokoro-en": 5}}))  # fmt: skip
    (tmp_path / "real-b.json").write_text(json.dumps({"set": "x", "real": result}))
    rows = [line for line in real_speech.table().splitlines() if line.startswith("| [")]
    assert len(rows) == 1 and "espeak 10, kokoro-en 5" in rows[0] and "| 100.0 % |" in rows[0]
    # The same clips as speech of none of its commands: every clip is counted once.
    ood = real_speech.score_ood(path, clips)
    assert ood["n"] == len(corpus)
    assert abs(ood["false_accepts"] + ood["unknown_class"] + ood["rejected"] - 1) < 1e-9
    assert sum(ood["accepted_as"].values()) <= round(ood["false_accepts"] * len(corpus))


def test_the_readme_tables_are_the_results_files():
    """README.md's results tables are generated from benchmarks/results (docs/results_table.py)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "results_table.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_method_table_gathers_seeds_and_tests_quads_against_the_best_baseline(
    tmp_path, monkeypatch
):
    """Fake finished runs: the table has each row's seeds, mean and spread, and tests each
    QUADS row against the best baseline at its bits on the same clips, seed by seed."""
    import json

    import method_table
    import numpy as np

    monkeypatch.setattr(method_table, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(method_table, "OUT", tmp_path / "out")
    rng = np.random.default_rng(0)
    accuracy = {"quads-4bit": 0.97, "quads-paper-4bit": 0.90, "distill_ptq-4bit": 0.80,
                "distill_qat-4bit": 0.89, "distill": 0.98, "quads-mixed-2.5MB": 0.90}  # fmt: skip
    for seed in (0, 1, 2):
        for name, acc in accuracy.items():
            run = tmp_path / "runs" / f"seed{seed}" / name
            run.mkdir(parents=True)
            right = rng.random(300) < acc
            lines = [
                json.dumps({"file": f"c{i}.wav", "right": bool(r)}) for i, r in enumerate(right)
            ]
            (run / "test_predictions.jsonl").write_text("\n".join(lines) + "\n")
            result = {"f1": acc, "best_val_acc": acc, "size_bytes": 3_000_000, "mean_bits": 2.6}
            (run / "run.json").write_text(json.dumps(result))
            (run / "model.quads").write_bytes(name.encode())
    rows = method_table.gather()
    assert set(rows) == set(accuracy)
    q = rows["quads-4bit"]
    assert q["seeds"] == [0, 1, 2] and len(q["accuracy"]) == 3 and q["std"] > 0
    assert q["against"]["row"] == "distill_qat-4bit"  # the best baseline, not PTQ
    assert q["against"]["verdict"] == "better" and q["against"]["mcnemar"]["p"] < 0.01
    assert set(q["against_each"]) == {"distill_qat-4bit", "distill_ptq-4bit"}
    paper = rows["quads-paper-4bit"]["against"]
    assert paper["row"] == "distill_qat-4bit" and paper["verdict"] == "tie"
    assert "against" not in rows["distill"] and "against" not in rows["distill_ptq-4bit"]
    mixed = rows["quads-mixed-2.5MB"]  # no 3-bit baseline ran: tested against uniform QUADS
    assert "against" not in mixed and mixed["against_each"]["quads-4bit"]["verdict"] == "worse"
    method_table.write(rows)
    table = (tmp_path / "out" / "method_table.md").read_text()
    assert "| quads-4bit | 4 | 3 |" in table and "| better |" in table and "| tie |" in table
    assert "| quads-mixed-2.5MB | 2.60 mean | 3 |" in table
    assert "- quads-4bit: -" in table
