"""Intent and slots: grammars in (ours and Picovoice Rhino's), a corpus that covers them, slot
heads that round-trip through .quads, ONNX and both runtimes, and command acceptance."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_slu_model

import quads
from quads.cli import main
from quads.config import QuantConfig
from quads.data.corpus import read_corpus
from quads.data.types import CorpusError
from quads.evaluation.metrics import score_commands
from quads.quant.packing import load_quads, save_quads
from quads.quant.surgery import quantize_model
from quads.runtime.export import export_onnx
from quads.runtime.heads import Heads
from quads.synth.grammar import GrammarError, Sampler, parse_expression
from quads.synth.intents import build_intents_corpus, load_grammar, plan_intents
from quads.train.mct import Trainer

ENGINES = ("torch", "onnxruntime")
COFFEE = Path(__file__).parents[1] / "examples" / "coffee_maker.yaml"

RHINO = """\
context:
  expressions:
    order:
      - "[get, give] me (a) $size:cup $drink:drink"
      - "$drink:drink please"
    stop:
      - "stop"
  slots:
    size: [small, large]
    drink: [tea, coffee, hot chocolate]
"""


def test_the_rhino_parser_expands_choices_optionals_and_slots_exactly(tmp_path):
    path = tmp_path / "context.yaml"
    path.write_text(RHINO)
    g = load_grammar(path)
    assert list(g.intents) == ["order", "stop"]
    assert g.slots == {"cup": ("small", "large"), "drink": ("tea", "coffee", "hot chocolate")}
    first, second = g.intents["order"]
    assert g.count(first.tokens) == 2 * 2 * 2 * 3 and g.count(second.tokens) == 3
    wordings = list(g.expand(first.tokens))
    assert len(wordings) == len({w for w, _ in wordings}) == 24
    assert ("give me large hot chocolate", {"cup": "large", "drink": "hot chocolate"}) in wordings
    assert ("get me a small tea", {"cup": "small", "drink": "tea"}) in wordings
    assert g.size == 24 + 3 + 1


def test_the_coffee_context_parses_as_published():
    g = load_grammar(COFFEE)
    sizes = {name: len(values) for name, values in g.slots.items()}
    assert sizes == {
        "coffeeDrink": 10,
        "milkAmount": 36,
        "numberOfShots": 3,
        "roast": 3,
        "size": 7,
        "sugarAmount": 18,
    }
    expressions = g.intents["orderDrink"]
    assert len(expressions) == 80
    # 9 openers x [a, an] x the slots of the first, longest expression
    assert g.count(expressions[0].tokens) == 9 * 2 * 7 * 3 * 3 * 10 * 36 * 18
    assert min(len(e.slots) for e in expressions) == 1  # "... $coffeeDrink" alone


@pytest.mark.parametrize(
    "text, message",
    [
        ("[a, b", "'\\[' without '\\]'"),
        ("(a", "'\\(' without '\\)'"),
        ("a ]", "unexpected"),
        ("[a, ] b", "empty choice"),
        ("$ b", "slot name"),
    ],
)
def test_bad_expressions_say_where(text, message):
    with pytest.raises(GrammarError, match=message):
        parse_expression(text, "ctx.yaml: intents.x[0]")


def test_our_yaml_tells_labelled_slots_from_fillers(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "slots:\n  drink: [tea, coffee]\n  please: [please, thanks]\n"
        "intents:\n  order: ['$drink {please}', 'a (hot) $drink']\n  stop: [stop]\n"
    )
    g = load_grammar(path)
    assert g.slots == {"drink": ("tea", "coffee")}
    assert g.count(g.intents["order"][0].tokens) == 4
    path.write_text("intents:\n  order: ['$drink please']\n  stop: [stop]\n")
    with pytest.raises(GrammarError, match=r"intents\.order\[0\].*\$drink.*no values"):
        load_grammar(path)


def test_the_plan_covers_the_grammar_evenly(tmp_path):
    path = tmp_path / "context.yaml"
    path.write_text(RHINO)
    g = load_grammar(path)
    clips = plan_intents(g, 240, "small", seed=3)
    train = [c for c in clips if c.split == "train"]
    said = [dict(c.slots) for c in train if c.label == "order"]
    for name, values in g.slots.items():  # every value, evenly
        counts = [sum(s.get(name) == v for s in said) for v in values]
        assert min(counts) > 0 and max(counts) - min(counts) <= 0.3 * max(counts), counts
    # every expression shape: "cup" is said in one of the two, absent in the other
    with_cup = sum("cup" in s for s in said)
    assert 0.35 < with_cup / len(said) < 0.65
    assert all(c.slots == () for c in clips if c.label == "stop")
    speakers = {s: {c.speaker.name for c in clips if c.split == s} for s in ("train", "test")}
    assert not speakers["train"] & speakers["test"]
    engines = {c.speaker.engine for c in clips}  # the size's engine mix
    assert engines == {"espeak", "kokoro-en"}
    flite = plan_intents(g, 240, "small", 3, shares={"flite": 0.5})
    assert {c.speaker.engine for c in flite} == {"espeak", "flite"}
    assert plan_intents(g, 240, "small", seed=3) == clips  # deterministic


def test_the_sampler_says_what_it_labels():
    g = load_grammar(COFFEE)
    sampler = Sampler(g, random.Random(0))
    for _ in range(50):
        text, slots = sampler.say("orderDrink")
        assert "coffeeDrink" in slots
        for value in slots.values():
            assert value in text


# --------------------------------------------------------------------------- heads


def test_heads_lay_out_the_intent_and_each_slot():
    heads = Heads.of(["order", "stop"], {"size": ["small", "large"], "drink": ["tea"]})
    assert heads.slot_names == ["drink", "size"] and heads.sizes == [2, 2, 3]
    assert heads.targets(0, {"size": "large"}) == [0, 0, 2]
    assert heads.targets(-1, {}) == [-1, -1, -1]  # an outlier: nothing to get right
    assert heads.slot_values([1, 0]) == {"drink": "tea"}
    with pytest.raises(KeyError, match="'mocha'"):
        heads.targets(0, {"drink": "mocha"})
    logits = np.arange(7.0)[None]
    assert [p.tolist() for p in heads.split(logits)] == [[[0, 1]], [[2, 3]], [[4, 5, 6]]]


def slot_model(tmp_path: Path, absent_size: bool = False, pooling: str = "mean") -> Path:
    """A tiny 4-bit model with two slots; `absent_size` biases the size head to "absent"."""
    slots = {"size": ["small", "large"], "drink": ["tea", "coffee", "hot chocolate"]}
    model = tiny_slu_model(["order", "stop"], d_model=64, layers=2, positions=150)
    model = type(model)(model.encoder, ["order", "stop"], pooling, 80, slots).eval()
    if absent_size:
        with torch.no_grad():
            start = model.heads.sizes[0] + model.heads.sizes[1]  # intents, drink, [size]
            model.head.bias[start] = 100.0
    quantize_model(model, QuantConfig(bits=4))
    path = tmp_path / "slots.quads"
    save_quads(path, model, {"features": {"n_mels": 80, "context_seconds": 3.0}})
    return path


@pytest.mark.parametrize("pooling", ["mean", "heads"])
def test_slots_round_trip_through_quads_onnx_and_both_runtimes(tmp_path, fsc_tiny, pooling):
    path = slot_model(tmp_path, pooling=pooling)
    model, _ = load_quads(path)
    assert model.heads.slot_names == ["drink", "size"] and model.head.out_features == 2 + 4 + 3
    export_onnx(path, tmp_path / "m.onnx")
    wavs = [str(p) for p in sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))[:5]]
    answers = []
    for source, engine in [(path, "torch"), (path, "onnxruntime"), (tmp_path / "m.onnx", "auto")]:
        m = quads.load_model(source, engine)
        assert m.heads == model.heads
        preds = m.predict(wavs, reject=False)
        assert all(p.intent in ("order", "stop") and p.slots == p.heard for p in preds)
        assert all(set(p.slots) <= {"size", "drink"} for p in preds)
        answers.append([(p.intent, p.slots) for p in preds])
    assert answers[0] == answers[1] == answers[2]
    logits = [quads.load_model(path, e).backend(np.zeros((2, 48000), np.float32)) for e in ENGINES]
    assert np.abs(logits[0] - logits[1]).max() < 1e-4


def test_an_absent_slot_is_predicted_absent(tmp_path, fsc_tiny):
    path = slot_model(tmp_path, absent_size=True)
    wavs = [str(p) for p in sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))[:3]]
    for engine in ("torch", "onnxruntime"):
        preds = quads.load_model(path, engine).predict(wavs, reject=False)
        assert all("size" not in p.slots and "drink" in p.slots for p in preds)


def test_predict_jsonl_gives_intent_and_slots(tmp_path, fsc_tiny, capsys):
    path = slot_model(tmp_path)
    wav = str(sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))[0])
    silence = tmp_path / "silence.wav"
    import soundfile as sf

    sf.write(silence, np.zeros(16000, np.float32), 16000)
    assert main(["predict", str(path), wav, str(silence), "--jsonl"]) == 0
    spoken, quiet = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert list(spoken) == ["file", "intent", "slots", "confidence", "reason", "top", "error"]
    assert spoken["file"] == wav and spoken["intent"] in ("order", "stop")
    assert isinstance(spoken["slots"], dict) and spoken["reason"] is None
    assert quiet["intent"] == "unknown" and quiet["slots"] == {} and quiet["reason"] == "no speech"


# --------------------------------------------------------------------------- metrics


def test_command_acceptance_counts_a_wrong_slot_as_a_miss():
    truth = [("order", {"drink": "tea", "size": "large"})] * 3 + [("stop", {})]
    heard = [
        ("order", {"drink": "tea", "size": "large"}),  # right
        ("order", {"drink": "coffee", "size": "large"}),  # a wrong value
        ("order", {"drink": "tea"}),  # a slot said, not heard
        ("stop", {"size": "small"}),  # a slot heard, not said
    ]
    r = score_commands(truth, heard, ["order", "stop"], ["drink", "size"])
    assert r["accuracy"] == 1.0 and r["command_acceptance"] == 0.25
    assert r["slots"]["drink"]["accuracy"] == 0.75 and r["slots"]["size"]["accuracy"] == 0.5
    size = r["slots"]["size"]
    assert size["precision"] == 2 / 3 and size["recall"] == 2 / 3
    assert size["confusion"] == {"(absent)": {"small": 1}, "large": {"large": 2, "(absent)": 1}}
    plain = score_commands([("a", {}), ("b", {})], [("a", {}), ("a", {})], ["a", "b"], [])
    assert plain["command_acceptance"] == plain["accuracy"] == 0.5 and "slots" not in plain


def test_the_manifest_slots_column(tmp_path):
    from test_own_data import write_clip

    rows = ["path,label,speaker,slots"]
    for i, speaker in enumerate(["a", "b", "c"]):
        write_clip(tmp_path / f"{speaker}.wav", "x")
        slots = '"{""drink"": ""tea""}"' if i else ""
        rows.append(f"{speaker}.wav,order,{speaker},{slots}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    corpus = read_corpus(tmp_path, "manifest", "train")
    assert [u.command for u in corpus.utterances] == [
        ("order", {}),
        ("order", {"drink": "tea"}),
        ("order", {"drink": "tea"}),
    ]
    assert corpus.slots == {"drink": ["tea"]}
    (tmp_path / "train.csv").write_text("path,label,slots\na.wav,order,[1]\n")
    with pytest.raises(CorpusError, match=r"train.csv:2: slots: .*not an object"):
        read_corpus(tmp_path, "manifest", "train")


# --------------------------------------------------------------------------- end to end


def test_a_grammar_with_slots_trains_exports_and_is_scored(whispers, tmp_path, capsys):
    grammar = tmp_path / "context.yaml"
    grammar.write_text(RHINO)
    summary = build_intents_corpus(grammar, tmp_path / "c", 36, "tiny", progress=False)
    assert summary["slots"] == {"cup": 2, "drink": 3}
    train = read_corpus(tmp_path / "c", "auto", "train")
    assert train.slots == {"cup": ["large", "small"], "drink": ["coffee", "hot chocolate", "tea"]}

    from test_own_data import tiny_run

    cfg = tiny_run(whispers, tmp_path / "c", tmp_path / "run", "train.lr=2e-4")
    cfg.train = dataclasses.replace(cfg.train, strategy="quads")
    result = Trainer(cfg, progress=False).run()
    test = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert set(test["slots"]) == {"cup", "drink"}
    lines = (tmp_path / "run" / "test_predictions.jsonl").read_text().splitlines()
    right = [json.loads(line)["right"] for line in lines]
    assert test["command_acceptance"] == sum(right) / len(right)
    assert result["command_acceptance"] == test["command_acceptance"]

    metrics = quads.evaluate(result["model"], tmp_path / "c", split="test", reject=False)
    assert metrics["command_acceptance"] == test["command_acceptance"]
    assert main(["eval", result["model"], str(tmp_path / "c"), "--no-reject"]) == 0
    out = capsys.readouterr().out
    assert "commands right" in out and "slot drink" in out and "slot cup" in out


def test_heads_pooling_gives_each_head_its_own_average():
    model = tiny_slu_model(["order", "stop"], d_model=64, layers=2, positions=150)
    slots = {"drink": ["tea", "coffee"]}
    heads = type(model)(model.encoder, ["order", "stop"], "heads", 80, slots).eval()
    assert heads.pool.score.out_features == 2 and heads.head_mask.tolist() == [
        [1, 1, 0, 0, 0],
        [0, 0, 1, 1, 1],
    ]
    feats, mask = torch.randn(3, 20, 64), torch.ones(3, 20, dtype=torch.bool)
    pooled = heads.pool(feats, mask)
    want = torch.cat([heads.head(pooled[:, 0])[:, :2], heads.head(pooled[:, 1])[:, 2:]], -1)
    torch.testing.assert_close(heads.classify(feats, mask), want)


def test_the_threshold_is_capped_for_voices_validation_lacks():
    from quads.config import RejectionConfig
    from quads.evaluation.rejection import calibrate

    conf = np.linspace(0.9, 1.0, 200)  # synthetic validation: every answer near-certain
    entry = calibrate(conf, np.ones(200, bool), np.zeros(200, bool), RejectionConfig())
    assert entry["threshold"] == 0.5 and entry["max_threshold"] == 0.5
    free = calibrate(
        conf, np.ones(200, bool), np.zeros(200, bool), RejectionConfig(max_threshold=1)
    )
    assert free["threshold"] > 0.9
