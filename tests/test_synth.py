import json
import shutil
import string

import pytest
import soundfile as sf

from quads.data import label_space, read_corpus
from quads.synth import corpus as synth
from quads.synth.corpus import SynthError, build_corpus, plan_corpus, plan_outliers
from quads.synth.phrases import SLOTS, SLURP_TEMPLATES, fsc_phrasings
from quads.synth.wordings import SLURP_DEVEL, read_sentences


def test_every_fsc_intent_has_many_phrasings():
    for label in label_space("fsc"):
        assert len(fsc_phrasings(*label.split("|"))) >= 15, label


def test_slurp_templates_cover_the_label_space():
    assert set(SLURP_TEMPLATES) == set(label_space("slurp"))
    for templates in SLURP_TEMPLATES.values():
        assert len(templates) >= 4
        for template in templates:
            for _, slot, _, _ in string.Formatter().parse(template):
                assert slot is None or slot in SLOTS, (template, slot)


@pytest.mark.parametrize("layout", ["fsc", "slurp"])
def test_plan_is_deterministic_and_speaker_disjoint(layout):
    plan = plan_corpus(layout, preset="small", seed=3)
    assert plan == plan_corpus(layout, preset="small", seed=3)
    assert plan != plan_corpus(layout, preset="small", seed=4)
    assert len({c.id for c in plan}) == len(plan)
    speakers = {s: {c.speaker for c in plan if c.split == s} for s in ("train", "valid", "test")}
    voices = {  # espeak-ng: accent + variant; Kokoro: mix + speed + accent
        s: {(p.accent, p.variant) if p.engine == "espeak" else p.name for p in v}
        for s, v in speakers.items()
    }
    assert {p.engine for v in speakers.values() for p in v} == {"espeak", "kokoro-en"}
    assert not (voices["train"] & voices["valid"] or voices["train"] & voices["test"])
    assert not voices["valid"] & voices["test"]
    n = len(label_space(layout))
    for split in ("train", "valid", "test"):
        assert len({c.label for c in plan if c.split == split}) == n


def test_plan_sizes():
    assert len(plan_corpus("fsc", preset="tiny")) == 155
    assert len(plan_corpus("fsc", utterances=500)) == 500
    assert 1500 <= len(plan_corpus("fsc", preset="small")) <= 2500
    with pytest.raises(ValueError, match="at least 93"):
        plan_corpus("fsc", utterances=50)
    with pytest.raises(ValueError, match="preset"):
        plan_corpus("fsc", preset="huge")


def test_tiny_fsc_corpus_on_disk(fsc_tiny):
    summary = json.loads((fsc_tiny / "synth.json").read_text())
    assert summary["utterances"] == 155 and summary["intents"] == 31
    header = (fsc_tiny / "data" / "train_data.csv").read_text().splitlines()[0]
    assert header == ",path,speakerId,transcription,action,object,location"
    u = read_corpus(fsc_tiny, "fsc", "train").utterances[0]
    assert u.path.parent.parent.name == "speakers" and u.path.parent.name == u.speaker
    info = sf.info(str(u.path))
    assert (info.samplerate, info.channels, info.format) == (16000, 1, "WAV")
    assert 0.3 < info.duration < 6.0


def test_tiny_slurp_corpus_on_disk(slurp_tiny):
    lines = (slurp_tiny / "dataset" / "slurp" / "devel.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    assert {"slurp_id", "sentence", "intent", "scenario", "action", "recordings"} <= set(record)
    assert record["intent"] == f"{record['scenario']}_{record['action']}"
    clip = slurp_tiny / "audio" / "slurp_real" / record["recordings"][0]["file"]
    info = sf.info(str(clip))
    assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")


def test_same_seed_same_corpus(tmp_path):
    a = build_corpus(tmp_path / "a", "fsc", utterances=93, seed=7, progress=False)
    b = build_corpus(tmp_path / "b", "fsc", utterances=93, seed=7, progress=False)
    assert a["made"] == b["made"] == 93
    for split in ("train", "valid", "test"):
        name = f"data/{split}_data.csv"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    first = (
        read_corpus(tmp_path / "a", "fsc", "test").utterances[0].path.relative_to(tmp_path / "a")
    )
    assert (tmp_path / "a" / first).read_bytes() == (tmp_path / "b" / first).read_bytes()


def test_resume_only_makes_missing_clips(fsc_tiny, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(fsc_tiny, root)
    csv_before = (root / "data" / "train_data.csv").read_bytes()
    victim = read_corpus(root, "fsc", "valid").utterances[5].path
    victim.unlink()
    summary = build_corpus(root, "fsc", preset="tiny", seed=0, progress=False)
    assert (summary["made"], summary["reused"]) == (1, 154)
    assert victim.is_file()
    assert (root / "data" / "train_data.csv").read_bytes() == csv_before


def test_missing_espeak_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "ESPEAK", "espeak-ng-not-installed")
    with pytest.raises(SynthError, match="espeak-ng-not-installed not found.*install"):
        build_corpus(tmp_path, "fsc", preset="tiny", progress=False)


def test_refuses_to_overwrite_a_foreign_corpus(tmp_path, fsc_tiny):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train_data.csv").write_text("real data\n")
    with pytest.raises(SynthError, match="not made by quads synth"):
        build_corpus(tmp_path, "fsc", preset="tiny", progress=False)
    with pytest.raises(SynthError, match="synthetic fsc corpus, not slurp"):
        build_corpus(fsc_tiny, "slurp", preset="tiny", progress=False)


def test_no_fsc_phrasing_means_two_intents():
    owner: dict[str, str] = {}
    for label in label_space("fsc"):
        for text in fsc_phrasings(*label.split("|")):
            assert owner.setdefault(text.lower(), label) == label, (text, owner[text.lower()])


def test_outliers_are_other_domains_said_by_training_voices():
    clips = plan_corpus("fsc", preset="tiny", seed=3)
    outliers = plan_outliers(clips, 40, seed=3)
    assert outliers == plan_outliers(clips, 40, seed=3) and len(outliers) == 40
    assert {c.speaker for c in outliers} <= {c.speaker for c in clips if c.split == "train"}
    assert all(c.split == "outliers" and c.path.startswith("outliers/") for c in outliers)
    scenario = {
        s.text: s.label.split("_")[0] for s in read_sentences(SLURP_DEVEL, label_space("slurp"))
    }
    assert not {scenario[c.text] for c in outliers} & {"iot", "audio", "music", "play"}
    assert len({c.text for c in outliers}) == 40 and len({c.id for c in outliers}) == 40
    with pytest.raises(ValueError, match="FSC"):
        plan_outliers(plan_corpus("slurp", preset="tiny"), 5, seed=0)
