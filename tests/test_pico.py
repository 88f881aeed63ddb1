"""SVOX Pico, the fourth family of voices: its clips, its speakers, a corpus share."""

import sys

import pytest

from quads.data import read_corpus
from quads.synth.corpus import (
    SynthError,
    build_corpus,
    engine_of,
    plan_corpus,
)


def test_plans_without_pico_are_unchanged():
    shares = {"kokoro-en": 0.3, "flite": 0.2}
    before = plan_corpus("fsc", utterances=300, shares=shares, seed=2)
    assert before == plan_corpus("fsc", utterances=300, shares={**shares, "pico": 0.0}, seed=2)


def test_pico_engine_recorded_per_clip(tmp_path):
    summary = build_corpus(tmp_path, "fsc", utterances=93, shares={"pico": 0.1}, progress=False)
    assert {s: v["engines"]["pico"] for s, v in summary["splits"].items()} == {
        "train": 3, "valid": 3, "test": 3}  # fmt: skip
    corpus = read_corpus(tmp_path, "fsc", "train")
    assert [engine_of(u.speaker) for u in corpus.utterances].count("pico") == 3


def test_missing_pico_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "py_nanotts", None)  # import fails as if not installed
    with pytest.raises(SynthError, match="py-nanotts"):
        build_corpus(tmp_path, "fsc", utterances=93, shares={"pico": 0.1}, progress=False)
    assert not any(tmp_path.rglob("*.wav"))
