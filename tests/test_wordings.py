"""Real SLURP sentences as the text of synthetic SLURP corpora."""

import json
from collections import Counter

import pytest

from quads.data import label_space, read_corpus
from quads.synth.corpus import plan_corpus
from quads.synth.wordings import (
    SLURP_DEVEL,
    TextSourceError,
    read_sentences,
    sentence_stream,
    split_sentences,
)


def source_labels() -> dict[str, str]:
    lines = SLURP_DEVEL.read_text().splitlines()
    out = {}
    for line in lines:
        rec = json.loads(line)
        out.setdefault(" ".join(rec["sentence"].split()), f"{rec['scenario']}_{rec['action']}")
    return out


def test_builtin_slurp_sentences():
    sentences = read_sentences(SLURP_DEVEL, label_space("slurp"))
    assert len(sentences) == 2032  # 2,033 requests, one said twice
    assert len({s.label for s in sentences}) == 59
    assert any("[" in s.annotation for s in sentences)


def test_split_is_sentence_disjoint_and_covers_intents():
    sentences = read_sentences(SLURP_DEVEL, label_space("slurp"))
    pools = split_sentences(sentences, seed=0)
    texts = {split: {s.text for s in pool} for split, pool in pools.items()}
    assert not texts["train"] & texts["valid"] and not texts["train"] & texts["test"]
    assert not texts["valid"] & texts["test"]
    assert sum(map(len, texts.values())) == len(sentences)
    assert len(pools["test"]) == pytest.approx(0.15 * len(sentences), rel=0.1)
    counts = Counter(s.label for s in sentences)
    for split in ("valid", "test"):  # every intent with 3+ sentences is tested
        assert {s.label for s in pools[split]} == {lab for lab, n in counts.items() if n >= 3}
    # round-robin: the first sentences cover every intent of the split once
    first = pools["train"][: len({s.label for s in pools["train"]})]
    assert len({s.label for s in first}) == len(first)


def test_sentence_stream_voices_each_sentence_several_times():
    pool = read_sentences(SLURP_DEVEL, label_space("slurp"))[:100]
    stream = sentence_stream(pool, 90, 3)
    assert len(stream) == 90 and set(Counter(s.text for s in stream).values()) == {3}
    assert len(sentence_stream(pool, 500, 3)) == 500  # a small pool: more voices each


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_slurp_plan_keeps_labels_and_is_sentence_disjoint(preset):
    plan = plan_corpus("slurp", preset=preset, shares={"kokoro": 0.0}, seed=1)
    truth = source_labels()
    texts = {s: {c.text for c in plan if c.split == s} for s in ("train", "valid", "test")}
    assert not texts["train"] & texts["valid"] and not texts["train"] & texts["test"]
    assert not texts["valid"] & texts["test"]
    real = [c for c in plan if c.text in truth]
    assert len(real) >= 0.95 * len(plan)  # template fills only for intents the text lacks
    assert all(truth[c.text] == c.label for c in real)
    for split in ("train", "valid", "test"):
        assert len({c.label for c in plan if c.split == split}) == 60
    said = Counter((c.speaker.name, c.text) for c in plan)
    assert max(said.values()) == 1  # a voice says a sentence once
    if preset == "small":
        voices = Counter(c.text for c in plan)
        assert Counter(voices.values()).most_common(1)[0][0] == 3


def test_templates_still_available():
    plan = plan_corpus("slurp", preset="tiny", text=None)
    texts = {c.text for c in plan}
    assert len(texts & set(source_labels())) < 0.2 * len(texts)  # a template can be real


def test_slurp_corpus_on_disk_groups_voices_of_a_sentence(slurp_tiny):
    corpus = read_corpus(slurp_tiny, "slurp", "train")
    truth = source_labels()
    assert sum(u.transcript in truth for u in corpus.utterances) >= 0.9 * len(corpus)
    lines = (slurp_tiny / "dataset" / "slurp" / "train.jsonl").read_text().splitlines()
    recs = [json.loads(line)["recordings"] for line in lines]
    assert max(map(len, recs)) >= 2
    assert all(len({r["speaker"] for r in rs}) == len(rs) for rs in recs)


def test_bad_text_source_is_one_line_error(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"sentence": "wake me up", "scenario": "alarm", "action": "set"}\n{oops\n')
    with pytest.raises(TextSourceError, match=r"t.jsonl:2: not valid JSON"):
        read_sentences(path, label_space("slurp"))
    path.write_text('{"sentence": "x", "scenario": "alarm", "action": "explode"}\n')
    with pytest.raises(TextSourceError, match=r"t.jsonl:1: unknown intent 'alarm_explode'"):
        read_sentences(path, label_space("slurp"))
    with pytest.raises(TextSourceError, match="not found"):
        read_sentences(tmp_path / "none.jsonl", label_space("slurp"))
    with pytest.raises(ValueError, match="layout slurp"):
        plan_corpus("fsc", text=SLURP_DEVEL)


def test_slurp_demo_preset_fits_its_corpus():
    from quads.config import load_config
    from quads.demo import DEMO_CORPUS

    cfg = load_config("slurp-demo")
    assert cfg.data.layout == "slurp" and cfg.quant.bits == 4
    plan = plan_corpus("slurp", **DEMO_CORPUS["slurp"])
    train = [c for c in plan if c.split == "train"]
    assert cfg.train.max_train_utterances is None  # all of them
    assert len({c.text for c in train}) == len(train) >= 1000  # each sentence said once
    assert {c.speaker.engine for c in plan} == {"espeak", "kokoro-en"}
