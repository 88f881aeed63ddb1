"""The front door: the Python API gives the CLI's answers, clips are heard without the silence
around them in every runtime, the command line is consistent, and the package has no import
circles."""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import tiny_slu_model

import quads
from quads.cli import build_parser, main
from quads.config import QuantConfig
from quads.data.corpus import detect_layout, read_corpus
from quads.data.types import label_space
from quads.quant.packing import rewrite_meta, save_quads
from quads.quant.surgery import quantize_model
from quads.synth.intents import load_grammar

SRC = Path(quads.__file__).parent
ENGINES = ("torch", "onnxruntime")


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    """A 4-bit tiny intent model (random weights, the FSC intents) with a confidence
    threshold that rejects some clips."""
    model = tiny_slu_model(label_space("fsc"), d_model=64, layers=2, positions=150)
    quantize_model(model, QuantConfig(bits=4))
    path = tmp_path_factory.mktemp("model") / "tiny.quads"
    meta = {"features": {"n_mels": 80, "context_seconds": 3.0}, "layout": "fsc"}
    save_quads(path, model, meta)
    return path


@pytest.fixture(scope="module")
def wavs(fsc_tiny) -> list[str]:
    return [str(p) for p in sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))[:8]]


def test_the_api_gives_the_cli_answers_rejection_included(packed, wavs, tmp_path, capsys):
    confidences = [p.confidence for p in quads.load_model(packed).predict(wavs, reject=False)]
    threshold = float(np.median(confidences))  # half the clips are "unknown"
    model_path = tmp_path / "m.quads"
    shutil.copyfile(packed, model_path)
    rewrite_meta(model_path, {"rejection": {"threshold": threshold}})
    for engine in ENGINES:
        preds = quads.load_model(model_path, engine).predict(wavs)
        assert main(["predict", str(model_path), *wavs, "--jsonl", "--engine", engine]) == 0
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert records == [p.to_json() for p in preds]
        unknown = [p for p in preds if p.intent is None]
        assert unknown and len(unknown) < len(preds)
        assert all(p.reason == "low confidence" and p.best for p in unknown)
        assert all(p.intent == p.best and p.confidence >= threshold for p in preds if p.intent)


def test_the_engines_agree_and_arrays_are_clips_too(packed, wavs):
    torch_preds, ort_preds = (quads.load_model(packed, e).predict(wavs) for e in ENGINES)
    assert [p.best for p in torch_preds] == [p.best for p in ort_preds]
    assert np.allclose([p.confidence for p in torch_preds], [p.confidence for p in ort_preds])
    audio, rate = sf.read(wavs[0], dtype="float32")
    assert rate == 16000
    from_array = quads.load_model(packed).predict([audio])[0]
    assert from_array.path == "<array>" and from_array.best == ort_preds[0].best
    assert abs(from_array.confidence - ort_preds[0].confidence) < 1e-6


def test_silence_around_the_speech_does_not_change_the_answer(packed, wavs, tmp_path):
    """Real recordings hold seconds of silence around a command; every runtime cuts it."""
    padded = []
    for i, wav in enumerate(wavs[:4]):
        audio, rate = sf.read(wav, dtype="float32")
        quiet = np.random.default_rng(i).normal(0, 1e-4, 5 * rate).astype(np.float32)
        path = tmp_path / f"padded-{i}.wav"
        sf.write(path, np.concatenate([quiet[: 3 * rate], audio, quiet[3 * rate :]]), rate)
        padded.append(str(path))
    for engine in ENGINES:
        model = quads.load_model(packed, engine)
        plain, longer = model.predict(wavs[:4]), model.predict(padded)
        for a, b in zip(plain, longer):
            assert a.best == b.best and abs(a.confidence - b.confidence) < 0.02, engine


def test_trimming_can_be_turned_off_in_the_model_file(packed, wavs, tmp_path):
    model_path = tmp_path / "untrimmed.quads"
    shutil.copyfile(packed, model_path)
    features = {"n_mels": 80, "context_seconds": 3.0, "trim": {"enabled": False}}
    rewrite_meta(model_path, {"features": features})
    audio, rate = sf.read(wavs[0], dtype="float32")
    late = np.concatenate([np.zeros(2 * rate, np.float32), audio])
    for engine in ENGINES:
        on = quads.load_model(packed, engine)
        off = quads.load_model(model_path, engine)
        assert not off.trim.enabled and on.trim.enabled
        # untrimmed, the speech starts 2 s into the 3 s context and is mostly cut off
        assert on.predict([late])[0].top == on.predict([audio])[0].top
        assert off.predict([late])[0].top != off.predict([audio])[0].top


def test_a_bad_trim_entry_is_refused_naming_the_file(packed, tmp_path):
    model_path = tmp_path / "bad.quads"
    shutil.copyfile(packed, model_path)
    rewrite_meta(model_path, {"features": {"context_seconds": 3.0, "trim": {"range_db": "x"}}})
    for engine in ENGINES:
        with pytest.raises(ValueError, match="trim"):
            quads.load_model(model_path, engine)


def test_load_model_refuses_what_does_not_apply(packed, tmp_path):
    with pytest.raises(ValueError, match="engine must be one of"):
        quads.load_model(packed, "tensorflow")
    with pytest.raises(ValueError, match="onnxruntime engine only"):
        quads.load_model(packed, "torch", threads=2)
    with pytest.raises(FileNotFoundError, match="nothere.quads"):
        quads.load_model(tmp_path / "nothere.quads")


def test_evaluate_reads_any_layout_with_the_model_labels(packed, fsc_tiny):
    result = quads.evaluate(packed, fsc_tiny, split="valid", engine="torch")
    assert result["n"] == len(read_corpus(fsc_tiny, "fsc", "valid"))
    assert result["engine"] == "torch" and result["bytes"] == packed.stat().st_size
    assert result["rejection"]["rejected"] == result["rejection"]["rejected_no_speech"] == 0


def test_make_config_detects_the_layout_of_another_corpus(fsc_tiny, tmp_path):
    cfg = quads.make_config("slurp-demo", data=fsc_tiny, out=tmp_path / "run")
    assert cfg.data.layout == "auto" and cfg.out_dir == str(tmp_path / "run")
    # the same rule for a Python caller who sets data.root by hand
    cfg = quads.make_config("slurp-demo", overrides=[f"data.root={fsc_tiny}"])
    assert cfg.data.layout == "auto"
    cfg = quads.make_config("slurp-demo", data=fsc_tiny, layout="fsc")
    assert cfg.data.layout == "fsc"


# --------------------------------------------------------------------------- the CLI


def commands() -> dict:
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices  # noqa: SLF001


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_shows_defaults_and_an_example(name):
    parser = commands()[name]
    text = " ".join(parser.format_help().split())
    assert f"example: quads {name}" in text
    assert "-v, --verbose" in text and "--version" in text
    for action in parser._actions:  # noqa: SLF001
        if action.option_strings and action.default not in (None, argparse.SUPPRESS):
            if action.nargs == 0:  # an on/off flag: off unless given, no "(default: False)"
                assert "(default: False)" not in text
            else:
                assert f"(default: {action.default})" in text, (name, action.dest)
    assert "(default: None)" not in text


def test_outputs_are_dash_o_everywhere():
    for name, parser in commands().items():
        flags = {f for a in parser._actions for f in a.option_strings}  # noqa: SLF001
        assert not flags & {"--json", "--onnx", "--preset"}, name
        if name in ("synth", "train", "compare", "eval", "calibrate", "export", "serve-web"):
            assert {"-o", "--out"} <= flags, name


def test_verbose_and_version_work_after_the_subcommand(capsys):
    args = build_parser().parse_args(["train", "--config", "fsc-demo", "-v"])
    assert args.verbose
    args = build_parser().parse_args(["-v", "eval", "m.quads", "data"])
    assert args.verbose
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["predict", "--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"quads {quads.__version__}"


def test_intents_corpora_refuse_the_layout_options(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "quads.cli", "synth", "--intents", "x.yaml", "-o", str(tmp_path)]
        + ["--outliers", "5", "--text", "templates"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "--text, --outliers does not apply to --intents" in done.stderr


# --------------------------------------------------------------------------- data in


def test_a_folder_holding_only_a_test_split_is_detected(fsc_tiny, tmp_path):
    only = tmp_path / "fsc-test"
    (only / "data").mkdir(parents=True)
    shutil.copy(fsc_tiny / "data" / "test_data.csv", only / "data")
    (only / "wavs").symlink_to(fsc_tiny / "wavs")
    assert detect_layout(only) == "fsc"
    assert len(read_corpus(only, "auto", "test")) == len(read_corpus(fsc_tiny, "fsc", "test"))
    slurp = tmp_path / "slurp-test" / "dataset" / "slurp"
    slurp.mkdir(parents=True)
    (slurp / "test.jsonl").write_text("")
    assert detect_layout(tmp_path / "slurp-test") == "slurp"


def test_yes_no_on_off_are_commands_not_booleans(tmp_path):
    path = tmp_path / "words.yaml"
    path.write_text("intents:\n  yes: [yes, yeah]\n  no: no\n  on: [on]\n  off: [off, Off]\n")
    grammar = load_grammar(path)
    assert {name: [e.text for e in es] for name, es in grammar.intents.items()} == {
        "yes": ["yes", "yeah"],
        "no": ["no"],
        "on": ["on"],
        "off": ["off", "Off"],
    }


# --------------------------------------------------------------------------- the house


def quads_imports(path: Path) -> set[str]:
    """The quads modules a file imports, anywhere in it but under `if TYPE_CHECKING:`."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(a.name for a in node.names if a.name.startswith("quads"))

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module and node.module.startswith("quads"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)

    Visitor().visit(ast.parse(path.read_text()))
    return found


def module_graph() -> dict[str, set[str]]:
    names = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in names.items():
        edges = set()
        for target in quads_imports(path):
            while target not in names and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in names and target != name and target != "quads":
                edges.add(target)
        graph[name] = edges
    return graph


def test_no_import_circles_in_the_package():
    graph = module_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert "quads.runtime.gate" in graph["quads.evaluation.rejection"]  # the walker sees edges


def test_the_runtime_needs_no_training_code():
    graph = module_graph()
    for name, edges in graph.items():
        if name.startswith("quads.runtime"):
            assert all(e.startswith("quads.runtime") for e in edges), (name, edges)


def test_each_concept_is_defined_once():
    homes = {"LAYOUTS": "config.py", "KMEANS_INITS": "config.py", "VALID_BITS": "quadsfile.py"}
    for constant, home in homes.items():
        defined = [
            p
            for p in SRC.rglob("*.py")
            if any(line.startswith(f"{constant} =") for line in p.read_text().splitlines())
        ]
        assert [p.name for p in defined] == [home], constant


def test_the_demo_keeps_its_preset_layout_on_its_own_corpus(tmp_path):
    from quads.demo import demo_config

    for preset, layout in (("fsc-demo", "fsc"), ("slurp-demo", "slurp")):
        cfg = demo_config(tmp_path / "data", tmp_path / "run", preset)
        assert cfg.data.layout == layout and cfg.data.root == str(tmp_path / "data")
