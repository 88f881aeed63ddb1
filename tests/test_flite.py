"""Flite, the third family of voices: its clips, its speakers, and corpora of three engines."""

import pytest

from quads.cli import _engine_shares
from quads.data import read_corpus
from quads.synth.corpus import build_corpus, engine_of, engine_shares, plan_corpus

SPLITS = ("train", "valid", "test")


def test_three_engine_plan_shares_and_disjoint_speakers():
    shares = {"flite": 0.3, "kokoro": 0.2}
    plan = plan_corpus("fsc", utterances=1000, shares=shares, seed=3)
    assert plan == plan_corpus("fsc", utterances=1000, shares=shares, seed=3)
    speakers = {s: {c.speaker.name for c in plan if c.split == s} for s in SPLITS}
    assert not speakers["train"] & (speakers["valid"] | speakers["test"])
    assert not speakers["valid"] & speakers["test"]
    for split in SPLITS:
        engines = [engine_of(c.speaker.name) for c in plan if c.split == split]
        for engine, share in (("flite", 0.3), ("kokoro", 0.2), ("espeak", 0.5)):
            assert engines.count(engine) / len(engines) == pytest.approx(share, abs=0.01)
    # a corpus without Flite is the one planned before Flite existed
    two = plan_corpus("fsc", utterances=300, shares={"kokoro": 0.3}, seed=1)
    assert two == plan_corpus("fsc", utterances=300, shares={"kokoro": 0.3, "flite": 0.0}, seed=1)


def test_engine_left_out_of_training():
    shares = {"kokoro": {"train": 0.0, "valid": 0.2, "test": 0.5}, "flite": 0.4}
    by_split = engine_shares(shares, "small")
    assert by_split["train"] == {"kokoro": 0.0, "flite": 0.4, "espeak": pytest.approx(0.6)}
    assert by_split["test"]["espeak"] == pytest.approx(0.1)
    plan = plan_corpus("fsc", utterances=400, shares=shares)
    assert not any(c.speaker.engine == "kokoro" for c in plan if c.split == "train")


@pytest.mark.parametrize(
    "shares, problem",
    [
        ({"festival": 0.2}, "unknown engine"),
        ({"flite": 0.7, "kokoro": 0.5}, "more than 1"),
        ({"flite": 1.5}, "between 0 and 1"),
        ({"flite": {"train": 0.2}}, "one per split"),
    ],
)
def test_bad_shares_are_refused(shares, problem):
    with pytest.raises(ValueError, match=problem):
        plan_corpus("fsc", utterances=300, shares=shares)


def test_cli_engine_shares():
    assert _engine_shares(["flite=0.2", "kokoro=0.3"]) == {"flite": 0.2, "kokoro": 0.3}
    assert _engine_shares(None) is None
    with pytest.raises(ValueError, match="ENGINE=SHARE"):
        _engine_shares(["flite"])


def test_flite_engine_recorded_per_clip(tmp_path):
    summary = build_corpus(tmp_path, "fsc", utterances=93, shares={"flite": 0.1}, progress=False)
    assert {s: v["engines"]["flite"] for s, v in summary["splits"].items()} == {
        "train": 3, "valid": 3, "test": 3}  # fmt: skip
    for split in SPLITS:
        corpus = read_corpus(tmp_path, "fsc", split)
        engines = [engine_of(u.speaker) for u in corpus.utterances]
        assert engines.count("flite") == 3 and engines.count("espeak") == 28


def test_missing_flite_is_one_line_error(tmp_path, monkeypatch):
    import shutil

    from quads.synth import corpus as synth

    which = shutil.which
    monkeypatch.setattr(synth.shutil, "which", lambda n: None if n == "flite" else which(n))
    with pytest.raises(synth.SynthError, match="flite not found on PATH.*apt-get install flite"):
        build_corpus(tmp_path, "fsc", utterances=93, shares={"flite": 0.1}, progress=False)
    assert not any(tmp_path.rglob("*.wav"))  # refused before any clip was made
